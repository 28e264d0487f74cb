// Checkpoint handlers at 1, 2 and 4 ranks: the built-in ones (Json, RandomEngine, RandomKey,
// Proto), Composite steps, user-defined handlers, per-checkpointer registries and the errors of
// the handler machinery (unregistered types, restore arguments of another handler).
#include <fstream>
#include <random>

#include "cairn/args.h"
#include "cairn_config.h"
#include "mpi_tests/test_util.h"

#if CAIRN_HAVE_PROTOBUF
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "cairn/proto.h"
#endif

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// --- A user-defined handler: one int64 counter in `<item>/counter.txt`. ---------------------

struct MyCounterSave {
  int64_t value = 0;
};
struct MyCounterRestore {
  int64_t* value = nullptr;
};

class MyCounterHandler : public CheckpointHandler {
 public:
  explicit MyCounterHandler(std::string name = "test.MyCounterHandler") : name_(std::move(name)) {}
  std::string TypeName() const override { return name_; }

  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<MyCounterSave>();
    Status st = a ? OkStatus() : InvalidArgumentError("not a MyCounterSave");
    if (st.ok() && ctx.comm->rank() == ctx.primary_host) {
      std::ofstream out(directory / "counter.txt");
      out << a->value;
      if (!out.flush()) st = InternalError("cannot write counter");
    }
    return AgreeOnStatus(*ctx.comm, st);
  }
  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<MyCounterRestore>();
    Status st = (a && a->value) ? OkStatus() : InvalidArgumentError("not a MyCounterRestore");
    std::string text;
    if (st.ok() && ctx.comm->rank() == ctx.primary_host) {
      std::ifstream in(directory / "counter.txt");
      if (!std::getline(in, text)) st = DataLossError("cannot read counter");
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, ctx.comm->Broadcast(text, ctx.primary_host)));
    *a->value = std::stoll(text);
    return OkStatus();
  }
  Result<Tree> Metadata(const fs::path& directory) const override {
    std::ifstream in(directory / "counter.txt");
    int64_t v = 0;
    if (!(in >> v)) return DataLossError("cannot read counter");
    Tree t;
    t["value"] = Scalar(v);
    return t;
  }

 private:
  std::string name_;
};

// The one instance registered globally (registering the same instance again is a no-op, so the
// suite can run with --gtest_repeat).
std::shared_ptr<MyCounterHandler> GlobalCounterHandler() {
  static auto h = std::make_shared<MyCounterHandler>();
  return h;
}

// Types known only to a per-checkpointer registry.
struct LocalCounterSave {
  int64_t value = 0;
};
struct LocalCounterRestore {
  int64_t* value = nullptr;
};
// Adapts the counter handler to the local types.
class LocalCounterHandler : public MyCounterHandler {
 public:
  LocalCounterHandler() : MyCounterHandler("test.LocalCounterHandler") {}
  Status Save(const HandlerContext& ctx, const fs::path& d, const CheckpointArgs& args) override {
    const auto* a = args.As<LocalCounterSave>();
    if (a == nullptr) {
      return AgreeOnStatus(*ctx.comm,
                           InvalidArgumentError(TypeName() + " cannot take " + args.TypeName()));
    }
    return MyCounterHandler::Save(ctx, d, MyCounterSave{a->value});
  }
  Status Restore(const HandlerContext& ctx, const fs::path& d,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<LocalCounterRestore>();
    return MyCounterHandler::Restore(ctx, d, MyCounterRestore{a ? a->value : nullptr});
  }
};

// A type no registry knows.
struct UnregisteredThing {
  int x = 0;
};

// --- Fixture and helpers. -------------------------------------------------------------------

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = World();
    auto c = Checkpointer::Create(comm_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ckpt_ = std::make_unique<Checkpointer>(std::move(*c));
    rank_ = comm_->rank();
    size_ = comm_->size();
  }
  // Once every rank is done with it, rank 0 rewrites a file; then every rank proceeds.
  void RewriteFile(const fs::path& path, const std::string& text) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0) {
      std::ofstream out(path, std::ios::trunc);
      out << text;
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  std::string ReadAll(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Every entry of the shared directory (read on rank 0, broadcast).
  std::vector<std::string> Entries(const fs::path& dir) {
    std::string all;
    if (rank_ == 0) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec))
        all += e.path().filename().string() + "\n";
    }
    EXPECT_TRUE(comm_->Broadcast(all, 0).ok());
    std::vector<std::string> out;
    std::istringstream in(all);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<Checkpointer> ckpt_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
};

const Tree* FindPath(const Tree& t, std::initializer_list<const char*> keys) {
  KeyPath path;
  for (const char* k : keys) path.push_back({k, false});
  return t.Find(path);
}

// Checks of what one rank reads alone never use fatal assertions: the other ranks would go on
// into the next collective and hang.
using MetaMap = std::map<std::string, Tree>;
MetaMap AllMeta(const Checkpointer& c, const fs::path& path) {
  auto m = c.ItemMetadata(path);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : MetaMap{};
}
// The leaf of kind T at `keys` inside item `item`, or nullopt (and a failure).
template <typename T>
std::optional<T> LeafAt(const MetaMap& meta, const std::string& item,
                        std::initializer_list<const char*> keys) {
  auto it = meta.find(item);
  const Tree* t = it == meta.end() ? nullptr : FindPath(it->second, keys);
  if (t == nullptr || !t->is_leaf() || !std::holds_alternative<T>(t->leaf())) {
    ADD_FAILURE() << "item '" << item << "' has no such leaf";
    return std::nullopt;
  }
  return std::get<T>(t->leaf());
}
template <typename T>
std::optional<T> ScalarAt(const MetaMap& meta, const std::string& item,
                          std::initializer_list<const char*> keys) {
  auto s = LeafAt<Scalar>(meta, item, keys);
  if (!s) return std::nullopt;
  if (s->dtype() != DTypeOf<T>()) {
    ADD_FAILURE() << "item '" << item << "': scalar of dtype " << DTypeName(s->dtype());
    return std::nullopt;
  }
  return s->as<T>();
}

// A std::mt19937_64 seeded by rank and advanced a rank-dependent number of draws.
std::mt19937_64 RankEngine(int rank) {
  std::mt19937_64 e(1000 + rank);
  e.discard(17 + 3 * rank);
  return e;
}
std::vector<uint64_t> Draws(std::mt19937_64& e, int n = 8) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(e());
  return out;
}

// --- Json. -----------------------------------------------------------------------------------

TEST_F(HandlersTest, JsonRoundTripsAndCorruptionIsDataLossOnEveryRank) {
  const json value = {{"lr", 0.25}, {"layers", {1, 2, 3}}, {"name", "run-7"}, {"ok", true}};
  const fs::path path = dir_.path() / "json";
  // Only the primary's value is saved: the others pass something else.
  ASSERT_TRUE(ckpt_->Save(path, JsonSave{rank_ == 0 ? value : json("other")}).ok());
  json back = "untouched";
  Status st = ckpt_->Restore(path, JsonRestore{&back});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back, value);

  EXPECT_EQ(LeafAt<json>(AllMeta(*ckpt_, path), "default", {}), value);

  RewriteFile(path / "default" / "metadata", "{\"lr\": 0.25, \"layers\": [1, 2");
  json again = "untouched";
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, JsonRestore{&again}), StatusCode::kDataLoss,
                                 (path / "default" / "metadata").string());
  EXPECT_EQ(again, json("untouched"));
}

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

// --- Composite. ------------------------------------------------------------------------------

TEST_F(HandlersTest, CompositeSavesRestoresPartiallyAndDescribesEveryItem) {
  const Shape shape = {9, 4};
  std::vector<unsigned char> buf =
      MakeBuffer(DType::kFloat32, shape, RowBlock(shape, rank_, size_));
  Tree state;
  state["params"]["w"] =
      DistributedArray{DType::kFloat32, shape, {{RowBlock(shape, rank_, size_), buf.data()}}};
  state["step"] = Scalar(int64_t{12});
  const json meta_value = {{"epoch", 3}, {"tag", "c"}};
  std::mt19937_64 engine = RankEngine(rank_);
  const std::vector<uint32_t> key = {1, 2};
  const fs::path path = dir_.path() / "composite";
  Status st = ckpt_->Save(path, Composite{{"state", StandardSave{state}},
                                          {"meta", JsonSave{meta_value}},
                                          {"rng", RandomEngineSave::Of(engine)},
                                          {"key", RandomKeySave{.key_data = key}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::vector<uint64_t> want_draws = Draws(engine);

  // Everything back, into a different decomposition of the array.
  const Box col = ColBlock(shape, rank_, size_);
  std::vector<unsigned char> out(buf.size() + 64, 0);
  Tree target;
  target["params"]["w"] = DistributedArray{DType::kFloat32, shape, {{col, out.data()}}};
  target["step"] = Scalar(int64_t{0});
  json meta_back;
  std::mt19937_64 engine_back;
  std::vector<uint32_t> key_back;
  st = ckpt_->Restore(path, Composite{{"state", StandardRestore{&target}},
                                      {"meta", JsonRestore{&meta_back}},
                                      {"rng", RandomEngineRestore::Into(&engine_back)},
                                      {"key", RandomKeyRestore{&key_back}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto want = MakeBuffer(DType::kFloat32, shape, col);
  EXPECT_EQ(0, std::memcmp(want.data(), out.data(), static_cast<size_t>(col.NumElements()) * 4));
  EXPECT_EQ(std::get<Scalar>(FindPath(target, {"step"})->leaf()).as<int64_t>(), 12);
  EXPECT_EQ(meta_back, meta_value);
  EXPECT_EQ(Draws(engine_back), want_draws);
  EXPECT_EQ(key_back, key);

  // Just one item.
  json only;
  st = ckpt_->Restore(path, Composite{{"meta", JsonRestore{&only}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(only, meta_value);
  // An item the checkpoint does not have: NotFound listing those it has.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"nope", JsonRestore{&only}}}),
                                 StatusCode::kNotFound, "'key', 'meta', 'rng', 'state'");

  const MetaMap meta = AllMeta(*ckpt_, path);
  std::vector<std::string> names;
  for (const auto& [name, tree] : meta) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"key", "meta", "rng", "state"}));
  if (auto arr = LeafAt<DistributedArray>(meta, "state", {"params", "w"})) {
    EXPECT_EQ(arr->dtype, DType::kFloat32);
    EXPECT_EQ(arr->global_shape, shape);
    EXPECT_TRUE(arr->pieces.empty());
  }
  EXPECT_TRUE(LeafAt<Scalar>(meta, "state", {"step"}).has_value());
  EXPECT_EQ(LeafAt<json>(meta, "meta", {}), meta_value);
  EXPECT_EQ(LeafAt<std::string>(meta, "key", {"impl"}), "threefry2x32");
  EXPECT_EQ(ScalarAt<bool>(meta, "rng", {"per_rank"}), true);
  EXPECT_EQ(ScalarAt<int64_t>(meta, "rng", {"num_ranks"}), size_);
}

// --- User-defined handlers and registries. -----------------------------------------------------

TEST_F(HandlersTest, UserDefinedHandlerSavesInsideACompositeAndIsFoundByItsArgs) {
  auto handler = GlobalCounterHandler();
  ASSERT_TRUE(RegisterWithHandler<MyCounterSave>(handler, {.for_save = true}).ok());
  ASSERT_TRUE(RegisterWithHandler<MyCounterRestore>(handler, {.for_restore = true}).ok());
  Status both_false = RegisterWithHandler<UnregisteredThing>(handler, {});
  EXPECT_EQ(both_false.code(), StatusCode::kInvalidArgument) << both_false.ToString();
  // ...and that failed registration registered nothing.
  EXPECT_EQ(GetRegisteredHandler(UnregisteredThing{}).status().code(), StatusCode::kNotFound);

  auto found = GetRegisteredHandler(MyCounterSave{});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->get(), handler.get());
  found = GetRegisteredHandler(MyCounterRestore{});
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->get(), handler.get());
  auto builtin = GetRegisteredHandler(JsonRestore{});
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ((*builtin)->TypeName(), "cairn.JsonCheckpointHandler");
  auto args = GetRegisteredArgs(*handler);
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(args->first, DemangledTypeName(typeid(MyCounterSave)));
  EXPECT_EQ(args->second, DemangledTypeName(typeid(MyCounterRestore)));
  EXPECT_NE(args->first.find("MyCounterSave"), std::string::npos) << args->first;
  auto json_args = GetRegisteredArgs(**builtin);
  ASSERT_TRUE(json_args.ok());
  EXPECT_EQ(json_args->first, "cairn::JsonSave");
  EXPECT_EQ(json_args->second, "cairn::JsonRestore");

  std::vector<int32_t> data = {1, 2, 3, 4, 5, 6};
  Tree state;
  state["v"] = DistributedArray::Of(std::span(data), {6});
  const fs::path path = dir_.path() / "user";
  Status st = ckpt_->Save(path, Composite{{"state", StandardSave{state}},
                                          {"counter", MyCounterSave{41 + (rank_ == 0)}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  int64_t counter = 0;
  std::vector<int32_t> back(6, 0);
  Tree target;
  target["v"] = DistributedArray::Of(std::span(back), {6});
  st = ckpt_->Restore(path, Composite{{"state", StandardRestore{&target}},
                                      {"counter", MyCounterRestore{&counter}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(counter, 42);
  EXPECT_EQ(back, data);
  EXPECT_EQ(ScalarAt<int64_t>(AllMeta(*ckpt_, path), "counter", {"value"}), 42);
}

TEST_F(HandlersTest, UnregisteredArgumentTypeIsNotFoundAndLeavesNoDirectory) {
  const std::string type = DemangledTypeName(typeid(UnregisteredThing));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "a", UnregisteredThing{}),
                                 StatusCode::kNotFound, type);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      ckpt_->Save(dir_.path() / "b", Composite{{"ok", JsonSave{1}}, {"bad", UnregisteredThing{}}}),
      StatusCode::kNotFound, "item 'bad'");
  EXPECT_TRUE(Entries(dir_.path()).empty());
  // Restoring with it: NotFound too, before anything is read.
  ASSERT_TRUE(ckpt_->Save(dir_.path() / "c", JsonSave{1}).ok());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(dir_.path() / "c", UnregisteredThing{}),
                                 StatusCode::kNotFound, type);
}

TEST_F(HandlersTest, HandlerBoundToAnItemNameByCreateWithHandlers) {
  // LocalCounter's argument types are registered nowhere: only the item binding finds them.
  auto local = std::make_shared<LocalCounterHandler>();
  auto opts = CheckpointablesOptions::CreateWithHandlers({{"counter", local}});
  ASSERT_TRUE(opts.ok()) << opts.status().ToString();
  auto c = Checkpointer::Create(comm_, {.checkpointables = *opts});
  ASSERT_TRUE(c.ok());
  const fs::path path = dir_.path() / "bound";
  Status st = c->Save(path, Composite{{"counter", LocalCounterSave{11}}, {"j", JsonSave{"x"}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  int64_t n = 0;
  st = c->Restore(path, Composite{{"counter", LocalCounterRestore{&n}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(n, 11);
  // The same argument type under another item name is not bound: NotFound naming the type.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      c->Save(dir_.path() / "unbound", Composite{{"other", LocalCounterSave{1}}}),
      StatusCode::kNotFound, DemangledTypeName(typeid(LocalCounterSave)));
  // The bound handler refuses arguments it does not take, on every rank.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      c->Save(dir_.path() / "wrong", Composite{{"counter", JsonSave{"x"}}}),
      StatusCode::kInvalidArgument, "JsonSave");
  // Binding an item twice to different handlers is refused.
  auto again = opts->registry->RegisterForItem("counter", std::make_shared<LocalCounterHandler>());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
}

TEST_F(HandlersTest, PerCheckpointerRegistryKnowsTypesTheGlobalOneDoesNot) {
  auto registry = HandlerRegistry::WithBuiltins();
  auto local = std::make_shared<LocalCounterHandler>();
  ASSERT_TRUE(
      registry->Register(typeid(LocalCounterSave), "LocalCounterSave", local, {.for_save = true})
          .ok());
  ASSERT_TRUE(registry
                  ->Register(typeid(LocalCounterRestore), "LocalCounterRestore", local,
                             {.for_restore = true})
                  .ok());
  auto c = Checkpointer::Create(comm_, {.checkpointables = {.registry = registry}});
  ASSERT_TRUE(c.ok());
  const fs::path path = dir_.path() / "local";
  Status st = c->Save(path, Composite{{"n", LocalCounterSave{7}}, {"j", JsonSave{"x"}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  int64_t n = 0;
  st = c->Restore(path, Composite{{"n", LocalCounterRestore{&n}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(n, 7);
  const MetaMap meta = AllMeta(*c, path);
  EXPECT_EQ(meta.size(), 2u);
  EXPECT_EQ(ScalarAt<int64_t>(meta, "n", {"value"}), 7);

  // The default checkpointer (global registry) knows neither the types nor the handler name.
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "global", LocalCounterSave{7}),
                                 StatusCode::kNotFound,
                                 DemangledTypeName(typeid(LocalCounterSave)));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, Composite{{"n", LocalCounterRestore{&n}}}),
                                 StatusCode::kNotFound,
                                 DemangledTypeName(typeid(LocalCounterRestore)));
  // Its metadata names the unknown handler instead of failing the whole step.
  auto global_meta = ckpt_->ItemMetadata(path);
  ASSERT_TRUE(global_meta.ok()) << global_meta.status().ToString();
  const nlohmann::json& unknown = std::get<nlohmann::json>(global_meta->at("n").leaf());
  EXPECT_EQ(unknown.value("handler", ""), "test.LocalCounterHandler");
  EXPECT_EQ(unknown.value("unknown_handler", false), true);
  EXPECT_EQ(GetRegisteredHandler(LocalCounterSave{}).status().code(), StatusCode::kNotFound);
}

TEST_F(HandlersTest, RestoreArgsOfAnotherHandlerAreFailedPrecondition) {
  std::vector<double> data = {1.5, 2.5};
  Tree state;
  state["x"] = DistributedArray::Of(std::span(data), {2});
  std::mt19937_64 engine = RankEngine(rank_);
  const fs::path path = dir_.path() / "mixed";
  ASSERT_TRUE(ckpt_
                  ->Save(path, Composite{{"state", StandardSave{state}},
                                         {"rng", RandomEngineSave::Of(engine)}})
                  .ok());
  json j;
  Status st = ckpt_->Restore(path, Composite{{"state", JsonRestore{&j}}});
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kFailedPrecondition,
                                 "cairn.StandardCheckpointHandler");
  EXPECT_NE(st.message().find("cairn.JsonCheckpointHandler"), std::string::npos) << st.ToString();
  std::vector<uint32_t> key;
  st = ckpt_->Restore(path, Composite{{"rng", RandomKeyRestore{&key}}});
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kFailedPrecondition, "cairn.RandomEngineHandler");
  EXPECT_NE(st.message().find("cairn.RandomKeyHandler"), std::string::npos) << st.ToString();
  // Tree handlers restore each other's items.
  std::vector<double> back(2, 0);
  Tree target;
  target["x"] = DistributedArray::Of(std::span(back), {2});
  st = ckpt_->Restore(path, Composite{{"state", PyTreeRestore{&target}}});
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back, data);
}

}  // namespace
}  // namespace cairn::testing
