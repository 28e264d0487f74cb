// Bad input, crashes and corruption: every case gives the same clear error on every rank, and
// nothing committed is lost.
#include <sys/stat.h>

#include <fstream>

#include "mpi_tests/test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

class ErrorsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    comm_ = World();
    ckpt_ = std::make_unique<Checkpointer>(std::move(*Checkpointer::Create(comm_)));
    rank_ = comm_->rank();
    size_ = comm_->size();
    box_ = RowBlock(shape_, rank_, size_);
    buf_ = MakeBuffer(DType::kFloat32, shape_, box_);
    tree_["model"]["w"] = DistributedArray{DType::kFloat32, shape_, {{box_, buf_.data()}}};
  }
  SaveOptions Opts() const { return SaveOptions{.backend = GetParam(), .array = {.use_compression = false}}; }
  Tree Target(std::vector<unsigned char>& out) {
    out = MakeBuffer(DType::kFloat32, shape_, box_, false);
    Tree t;
    t["model"]["w"] = DistributedArray{DType::kFloat32, shape_, {{box_, out.data()}}};
    return t;
  }
  // Flips one byte of the stored array data in every data file under `item` (rank 0 only).
  void CorruptData(const fs::path& item) {
    if (rank_ != 0) return;
    // The pattern's first 16 bytes of row `box_` on rank 0 locate the data in the file.
    std::string needle(buf_.begin(), buf_.begin() + 16);
    // Recursive: the ocdbt backend keeps its data files in ocdbt.process_<rank>/d/.
    for (const auto& e : fs::recursive_directory_iterator(item)) {
      if (e.path().filename().string()[0] == '_' || !e.is_regular_file()) continue;
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(f)), {});
      auto pos = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
      if (pos == bytes.end()) continue;
      f.clear();  // reading to the end set eofbit
      f.seekp(pos - bytes.begin() + 5);
      char c = static_cast<char>(bytes[pos - bytes.begin() + 5] ^ 0x40);
      f.write(&c, 1);
    }
  }
  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<Checkpointer> ckpt_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
  Shape shape_ = {16, 8};
  Box box_;
  std::vector<unsigned char> buf_;
  Tree tree_;
};

TEST_P(ErrorsTest, InvalidTreesAreRejectedOnEveryRankNamingKeyAndRank) {
  Tree bad_key;
  bad_key["a.b"] = tree_["model"]["w"];
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "k", bad_key, Opts()),
                                 StatusCode::kInvalidArgument, "'a.b'");

  // A piece outside the global shape on the last rank only.
  Tree out_of_bounds = tree_;
  auto& a = std::get<DistributedArray>(out_of_bounds["model"]["w"].leaf());
  if (rank_ == size_ - 1) a.pieces[0].box.origin[0] = 15;
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "oob", out_of_bounds, Opts()),
                                 StatusCode::kInvalidArgument, "model.w");
  if (size_ > 1) {
    Status s = ckpt_->Save(dir_.path() / "oob", out_of_bounds, Opts());
    EXPECT_NE(s.message().find("rank " + std::to_string(size_ - 1)), std::string::npos) << s.ToString();
    // Ranks disagreeing on the global shape.
    Tree shapes = tree_;
    auto& s2 = std::get<DistributedArray>(shapes["model"]["w"].leaf());
    if (rank_ == 1) s2.global_shape = {17, 8};
    EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "shape", shapes, Opts()),
                                   StatusCode::kInvalidArgument, "global shape");
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "oob"));
  Tree bad_text = tree_;
  bad_text["note"] = std::string("\xff\xfe not UTF-8");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(dir_.path() / "utf", bad_text, Opts()),
                                 StatusCode::kInvalidArgument, "UTF-8");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(
      ckpt_->Save(dir_.path() / "u", tree_, SaveOptions{.backend = "nosuch"}),
      StatusCode::kNotFound, "unknown storage backend 'nosuch'");
}

TEST_P(ErrorsTest, ExistingCheckpointIsNotOverwritten) {
  const fs::path path = dir_.path() / "1";
  ASSERT_TRUE(ckpt_->Save(path, tree_, Opts()).ok());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Save(path, tree_, Opts()), StatusCode::kAlreadyExists,
                                 path.string());
  std::vector<unsigned char> out;
  Tree t = Target(out);
  ASSERT_TRUE(ckpt_->Restore(path, t).ok());
  EXPECT_EQ(out, buf_);
}

TEST_P(ErrorsTest, MissingAndUncommittedDirectoriesAreNotRestored) {
  std::vector<unsigned char> out;
  Tree t = Target(out);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(dir_.path() / "nope", t).status(),
                                 StatusCode::kNotFound, "does not exist");
  // A save killed half-way leaves a temporary directory: ignored, and it does not block.
  const fs::path tmp = dir_.path() / "5.cairn-tmp-123-4-5";
  if (rank_ == 0) {
    fs::create_directories(tmp / "default");
    std::ofstream(tmp / "default" / "_METADATA") << "{ half written";
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_FALSE(IsCommittedCheckpoint(tmp));
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(tmp, t).status(),
                                 StatusCode::kFailedPrecondition, "temporary");
  ASSERT_TRUE(ckpt_->Save(dir_.path() / "5", tree_, Opts()).ok());
  EXPECT_TRUE(IsCommittedCheckpoint(dir_.path() / "5"));
  EXPECT_FALSE(fs::exists(tmp)) << "leftover of the killed save is cleaned up after commit";
  ASSERT_TRUE(ckpt_->Restore(dir_.path() / "5", t).ok());
  EXPECT_EQ(out, buf_);
  // A directory without commit marker (e.g. copied half-way) is not a checkpoint.
  if (rank_ == 0) fs::remove(dir_.path() / "5" / "commit_success.txt");
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(dir_.path() / "5", t).status(),
                                 StatusCode::kFailedPrecondition, "not a committed checkpoint");
}

TEST_P(ErrorsTest, CorruptDataIsDataLossNamingKeyAndPiece) {
  const fs::path path = dir_.path() / "c";
  ASSERT_TRUE(ckpt_->Save(path, tree_, Opts()).ok());
  CorruptData(path / "default");
  MPI_Barrier(MPI_COMM_WORLD);
  std::vector<unsigned char> out;
  Tree t = Target(out);
  // ocdbt: values this small sit inline in the B+tree nodes, whose own CRC-32C catches the flip
  // (naming the key and the node file) before cairn's checksum would.
  const bool in_node = GetParam() == std::string("ocdbt");
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path, t).status(), StatusCode::kDataLoss,
                                 in_node ? "key 'model.w'" : "key path 'model.w': checksum mismatch");
  if (in_node) return;
  // With verification off the (corrupt) bytes are returned: the check is what caught it.
  ASSERT_TRUE(ckpt_->Restore(path, t, {.verify_checksums = false}).ok());
  if (rank_ == 0) {
    EXPECT_NE(out, buf_);
  }
}

TEST_P(ErrorsTest, TruncatedAndCorruptFilesGiveErrorsNotCrashes) {
  const fs::path path = dir_.path() / "t";
  ASSERT_TRUE(ckpt_->Save(path, tree_, Opts()).ok());
  std::vector<unsigned char> out;
  Tree t = Target(out);
  if (rank_ == 0) {
    for (const auto& e : fs::directory_iterator(path / "default")) {
      if (e.path().filename().string()[0] != '_' && e.is_regular_file()) {
        fs::resize_file(e.path(), fs::file_size(e.path()) / 2);
      }
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  Status s = ckpt_->Restore(path, t).status();
  EXPECT_FALSE(s.ok());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(s, StatusCode::kDataLoss, path.string());

  // Corrupt and future-version metadata (the ocdbt backend keeps cairn's in _CAIRN_METADATA,
  // beside Orbax's _METADATA).
  const fs::path path2 = dir_.path() / "m";
  const std::string meta = GetParam() == std::string("ocdbt") ? "_CAIRN_METADATA" : "_METADATA";
  ASSERT_TRUE(ckpt_->Save(path2, tree_, Opts()).ok());
  if (rank_ == 0) std::ofstream(path2 / "default" / meta) << "{\"format\": \"cairn\", \"format_";
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path2, t).status(), StatusCode::kDataLoss, meta);
  if (rank_ == 0) {
    std::ofstream(path2 / "default" / meta)
        << R"({"format": "cairn", "format_version": 99, "backend": "hdf5", "leaves": []})";
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt_->Restore(path2, t).status(),
                                 StatusCode::kFailedPrecondition, "format version 99");
}

TEST_P(ErrorsTest, PathPermissionModeIsHonoured) {
  auto c = Checkpointer::Create(comm_, {.file = {.path_permission_mode = 0750}});
  ASSERT_TRUE(c.ok());
  const fs::path path = dir_.path() / "perm";
  ASSERT_TRUE(c->Save(path, tree_, Opts()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(::stat((path / "default").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(::stat((path / "_CHECKPOINT_METADATA").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
}

TEST_P(ErrorsTest, UnwritableDirectoryFailsOnEveryRankAndLeavesNothing) {
  if (geteuid() == 0) {
    // root ignores permission bits: use a path under a regular file instead.
    if (rank_ == 0) std::ofstream(dir_.path() / "file") << "x";
    MPI_Barrier(MPI_COMM_WORLD);
    Status s = ckpt_->Save(dir_.path() / "file" / "1", tree_, Opts());
    EXPECT_FALSE(s.ok());
    auto all = AllStatuses(s);
    for (const auto& x : all) EXPECT_EQ(x, all[0]);
  }
  Status s = ckpt_->Save("/proc/cairn-cannot-write/1", tree_, Opts());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/cairn-cannot-write"), std::string::npos) << s.ToString();
}

TEST(BackendRegistryTest, UnknownAndUserBackends) {
  auto b = MakeBackend("zarr9");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("known: "), std::string::npos);
  EXPECT_TRUE(MakeBackend("reference").ok());
  EXPECT_EQ(RegisterBackend("reference", nullptr).code(), StatusCode::kAlreadyExists);
}

INSTANTIATE_TEST_SUITE_P(Backends, ErrorsTest, ::testing::Values("reference", "hdf5", "ocdbt"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::testing
