// Handlers of generator states and messages at 1, 2 and 4 ranks: RandomEngine (per rank and
// replicated), RandomKey, Proto (when built with protobuf), and their errors.
#include "cairn_config.h"
#include "mpi_tests/handlers_test_util.h"

#if CAIRN_HAVE_PROTOBUF
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "cairn/proto.h"
#endif

namespace cairn::testing {
namespace {

// --- RandomEngine. ---------------------------------------------------------------------------

TEST_F(HandlersTest, RandomEnginePerRankRestoresEveryRanksSequence) {
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "rng";
  Status st = ckpt_->Save(path, RandomEngineSave::Of(engine));
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::vector<uint64_t> want = Draws(engine);

  std::mt19937_64 fresh;  // default seed: a different sequence until restored
  ASSERT_NE(Draws(fresh), want);
  st = ckpt_->Restore(path, RandomEngineRestore::Into(&fresh));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Draws(fresh), want) << "rank " << rank_;

  // Ranks hold different states: rank r's sequence is not rank 0's.
  if (rank_ != 0) {
    std::mt19937_64 zero = RankEngine(0);
    EXPECT_NE(Draws(zero), want);
  }
  const MetaMap meta = AllMeta(*ckpt_, path);
  // The standard name, the same with every standard library.
  EXPECT_EQ(LeafAt<std::string>(meta, "default", {"engine"}), "std::mt19937_64");
  EXPECT_EQ(ScalarAt<bool>(meta, "default", {"per_rank"}), true);
  EXPECT_EQ(ScalarAt<int64_t>(meta, "default", {"num_ranks"}), size_);
}

TEST_F(HandlersTest, RandomEngineReplicatedGivesEveryRankThePrimarysState) {
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "rng";
  ASSERT_TRUE(ckpt_->Save(path, RandomEngineSave::Of(engine, /*per_rank=*/false)).ok());
  std::mt19937_64 primary = RankEngine(0);
  const std::vector<uint64_t> want = Draws(primary);

  std::mt19937_64 fresh;
  Status st = ckpt_->Restore(path, RandomEngineRestore::Into(&fresh));
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Draws(fresh), want) << "rank " << rank_;

  // The stored file holds a single state.
  json doc = json::parse(ReadAll(path / "default" / "random_state.json"));
  EXPECT_EQ(doc["per_rank"], false);
  EXPECT_EQ(doc["states"].size(), 1u);
}

TEST_F(HandlersTest, RandomEngineOfAnotherTypeIsFailedPrecondition) {
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "rng";
  ASSERT_TRUE(ckpt_->Save(path, RandomEngineSave::Of(engine)).ok());
  std::mt19937 other(5);
  const std::mt19937 before = other;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, RandomEngineRestore::Into(&other)),
                                 StatusCode::kFailedPrecondition, "into a std::mt19937");
  Status st = ckpt_->Restore(path, RandomEngineRestore::Into(&other));
  EXPECT_NE(st.message().find("std::mt19937_64"), std::string::npos) << st.ToString();
  EXPECT_TRUE(other == before) << "the target must be left alone";
}

TEST_F(HandlersTest, RandomEngineBadStateIsDataLossNamingTheFile) {
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "rng";
  ASSERT_TRUE(ckpt_->Save(path, RandomEngineSave::Of(engine)).ok());
  const fs::path file = path / "default" / "random_state.json";
  json doc = json::parse(ReadAll(file));
  MPI_Barrier(MPI_COMM_WORLD);
  // A state that is not the engine's textual representation.
  doc["states"][size_ - 1] = "not numbers";
  RewriteFile(file, doc.dump());
  std::mt19937_64 fresh;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, RandomEngineRestore::Into(&fresh)),
                                 StatusCode::kDataLoss, file.string());
  // Not JSON at all.
  RewriteFile(file, "{\"engine\": ");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, RandomEngineRestore::Into(&fresh)),
                                 StatusCode::kDataLoss, file.string());
}

TEST_F(HandlersTest, RandomEnginePerRankNeedsTheSameNumberOfRanks) {
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "rng";
  ASSERT_TRUE(ckpt_->Save(path, RandomEngineSave::Of(engine)).ok());
  ASSERT_TRUE(ckpt_->Save(dir_.path() / "shared", RandomEngineSave::Of(engine, false)).ok());

  // A file claiming one rank more than there are (works at every rank count).
  const fs::path file = path / "default" / "random_state.json";
  json doc = json::parse(ReadAll(file));
  doc["num_ranks"] = size_ + 1;
  doc["states"].push_back(doc["states"][0]);
  if (rank_ == 0) fs::copy(path, dir_.path() / "more", fs::copy_options::recursive);
  MPI_Barrier(MPI_COMM_WORLD);
  RewriteFile(dir_.path() / "more" / "default" / "random_state.json", doc.dump());
  std::mt19937_64 fresh;
  Status st = ckpt_->Restore(dir_.path() / "more", RandomEngineRestore::Into(&fresh));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kFailedPrecondition,
                                 "saved on " + std::to_string(size_ + 1) + " ranks");
  EXPECT_NE(st.message().find(std::to_string(size_) + " ranks are restoring"), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.message().find((dir_.path() / "more" / "default").string()), std::string::npos)
      << st.ToString();

  if (size_ == 1) return;  // no smaller communicator to restore on
  // Split the world in two halves (by parity); each half restores on its own communicator.
  MPI_Comm half_comm;
  ASSERT_EQ(MPI_Comm_split(MPI_COMM_WORLD, rank_ % 2, rank_, &half_comm), MPI_SUCCESS);
  {
    auto half = MpiCommunicator(half_comm);
    ASSERT_TRUE(half.ok()) << half.status().ToString();
    const int half_size = (*half)->size();
    auto c = Checkpointer::Create(*half);
    ASSERT_TRUE(c.ok());
    std::mt19937_64 target;
    st = c->Restore(path, RandomEngineRestore::Into(&target));
    // Both halves get the same message (same counts, same directory, same rank prefix).
    EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kFailedPrecondition,
                                   "saved on " + std::to_string(size_) + " ranks, but " +
                                       std::to_string(half_size) + " ranks are restoring");
    EXPECT_NE(st.message().find((path / "default").string()), std::string::npos);
    // A replicated state restores on any number of ranks.
    std::mt19937_64 primary = RankEngine(0);
    st = c->Restore(dir_.path() / "shared", RandomEngineRestore::Into(&target));
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(Draws(target), Draws(primary));
  }
  MPI_Comm_free(&half_comm);
}

// --- RandomKey. ------------------------------------------------------------------------------

TEST_F(HandlersTest, RandomKeyRoundTripsSharedAndPerRank) {
  const std::vector<uint32_t> mine = {0xdeadbeefu + static_cast<uint32_t>(rank_), 42u, 0xffffffffu};
  ASSERT_TRUE(ckpt_->Save(dir_.path() / "shared", RandomKeySave{.key_data = mine}).ok());
  ASSERT_TRUE(ckpt_
                  ->Save(dir_.path() / "per_rank",
                         RandomKeySave{.key_data = mine, .impl = "rbg", .per_rank = true})
                  .ok());

  std::vector<uint32_t> key;
  std::string impl;
  Status st = ckpt_->Restore(dir_.path() / "shared", RandomKeyRestore{&key, &impl});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(key, (std::vector<uint32_t>{0xdeadbeefu, 42u, 0xffffffffu}));  // the primary's
  EXPECT_EQ(impl, "threefry2x32");

  st = ckpt_->Restore(dir_.path() / "per_rank", RandomKeyRestore{&key, &impl});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(key, mine);
  EXPECT_EQ(impl, "rbg");

  const MetaMap meta = AllMeta(*ckpt_, dir_.path() / "per_rank");
  EXPECT_EQ(LeafAt<std::string>(meta, "default", {"impl"}), "rbg");
  EXPECT_EQ(ScalarAt<int64_t>(meta, "default", {"num_ranks"}), size_);

  // A key word out of uint32 range is DataLoss.
  const fs::path file = dir_.path() / "shared" / "default" / "random_state.json";
  json doc = json::parse(ReadAll(file));
  doc["states"][0][1] = 1ull << 40;
  RewriteFile(file, doc.dump());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(dir_.path() / "shared", RandomKeyRestore{&key}),
                                 StatusCode::kDataLoss, file.string());
}

TEST_F(HandlersTest, RanksDisagreeingOnPerRankIsInvalidArgumentNotAHang) {
  std::mt19937_64 engine = RankEngine(rank_);
  // Rank 0 alone says per_rank: with collectives chosen by the flag this would hang.
  Status st = ckpt_->Save(dir_.path() / "x", RandomEngineSave::Of(engine, rank_ == 0));
  if (size_ == 1) {
    EXPECT_TRUE(st.ok()) << st.ToString();
    return;
  }
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kInvalidArgument, "per_rank");
  // The last rank saves another engine type.
  std::mt19937 small(3);
  st = ckpt_->Save(dir_.path() / "y",
                   rank_ == size_ - 1 ? RandomEngineSave::Of(small) : RandomEngineSave::Of(engine));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kInvalidArgument,
                                 "rank " + std::to_string(size_ - 1) + " saves engine");
  EXPECT_TRUE(Entries(dir_.path()).empty());
}

// --- Proto. ----------------------------------------------------------------------------------

#if CAIRN_HAVE_PROTOBUF
TEST_F(HandlersTest, ProtoRoundTripsAndChecksTheMessageType) {
  google::protobuf::Struct config;
  auto& fields = *config.mutable_fields();
  fields["optimizer"].set_string_value("adam");
  fields["lr"].set_number_value(rank_ == 0 ? 3e-4 : 1.0);  // only the primary's is saved
  fields["layers"].mutable_list_value()->add_values()->set_number_value(128);
  const fs::path path = dir_.path() / "proto";
  Status st = ckpt_->Save(path, Composite{{"config", ProtoSave{&config}}});
  ASSERT_TRUE(st.ok()) << st.ToString();

  google::protobuf::Struct back;
  st = ckpt_->Restore(path, Composite{{"config", ProtoRestore{&back}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back.fields().at("optimizer").string_value(), "adam");
  EXPECT_EQ(back.fields().at("lr").number_value(), 3e-4);
  EXPECT_EQ(back.fields().at("layers").list_value().values(0).number_value(), 128);

  EXPECT_EQ(LeafAt<std::string>(AllMeta(*ckpt_, path), "config", {"message_type"}),
            "google.protobuf.Struct");

  google::protobuf::Timestamp ts;
  ts.set_seconds(7);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"config", ProtoRestore{&ts}}}),
                                 StatusCode::kFailedPrecondition, "google.protobuf.Struct");
  st = ckpt_->Restore(path, Composite{{"config", ProtoRestore{&ts}}});
  EXPECT_NE(st.message().find("google.protobuf.Timestamp"), std::string::npos) << st.ToString();
  EXPECT_EQ(ts.seconds(), 7);

  // A body that does not parse: DataLoss naming the file, target unchanged.
  const fs::path file = path / "config" / "proto.pbtxt";
  const std::string text = ReadAll(file);
  RewriteFile(file, text + "\nno_such_field: 3\n");
  google::protobuf::Struct keep;
  keep.mutable_fields()->operator[]("k").set_bool_value(true);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"config", ProtoRestore{&keep}}}),
                                 StatusCode::kDataLoss, file.string());
  EXPECT_EQ(keep.fields().size(), 1u);
  // No header line.
  RewriteFile(file, "fields { key: \"a\" value { bool_value: true } }\n");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"config", ProtoRestore{&keep}}}),
                                 StatusCode::kDataLoss, file.string());
}
#endif

}  // namespace
}  // namespace cairn::testing
