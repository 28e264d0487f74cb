// Asynchronous checkpointing (AsyncCheckpointer) at 1, 2 and 4 ranks: the caller may overwrite
// its buffers once Save returns (with and without memory limits, compression, both backends);
// background failures (an injected write error, an unwritable path, a full disk) reach every
// rank through WaitUntilFinished, CheckForErrors and the next Save; timeouts name the rank that
// did not arrive; memory limits bound the staging buffers; prioritized keys, the user barrier and
// the post-finalization callback. Built twice: with the shared main (MPI_THREAD_MULTIPLE, saves
// written on a background thread) and with async_funneled_main.cc (MPI_THREAD_FUNNELED, saves
// written at the next collective call).
#include "cairn_config.h"
#if CAIRN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cairn/args.h"
#include "cairn/async_checkpointer.h"
#include "mpi_tests/test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Every rank failed with the very same status, whose message contains `needle` (the code is
// whatever the file system or backend gave).
#define EXPECT_SAME_FAILURE_ON_ALL_RANKS(status, needle)                                       \
  do {                                                                                         \
    ::cairn::Status f_ = (status);                                                             \
    EXPECT_FALSE(f_.ok());                                                                     \
    EXPECT_NE(f_.message().find(needle), std::string::npos) << f_.ToString();                  \
    auto all_ = ::cairn::testing::AllStatuses(f_);                                             \
    for (size_t r_ = 1; r_ < all_.size(); ++r_) EXPECT_EQ(all_[r_], all_[0]) << "rank " << r_; \
  } while (0)

// True on every rank iff `mine` is true on every rank.
bool AllTrue(bool mine) {
  int v = mine ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return v != 0;
}

const Tree* FindPath(const Tree& t, std::initializer_list<const char*> keys) {
  KeyPath path;
  for (const char* k : keys) path.push_back({k, false});
  return t.Find(path);
}

// --- A user handler whose write can fail or stall on one rank. ---------------------------------

struct FlakySave {
  std::string text;     // the primary writes it into `<item>/text.txt`
  int fail_rank = -1;   // this rank's write fails (DataLoss)
  int sleep_rank = -1;  // this rank sleeps `sleep_ms` in its write; nobody does a collective then
  int sleep_ms = 0;
  // If set, every rank's write waits (at most 10 s) until it becomes true.
  std::atomic<bool>* gate = nullptr;
};
struct FlakyRestore {
  std::string* text = nullptr;
};

class FlakyHandler final : public CheckpointHandler {
 public:
  std::string TypeName() const override { return "test.FlakyHandler"; }

  // The default StageSave keeps a copy of FlakySave and calls this from the background.
  Status Save(const HandlerContext& ctx, const fs::path& directory,
              const CheckpointArgs& args) override {
    const auto* a = args.As<FlakySave>();
    if (a == nullptr) return AgreeInContext(ctx, InvalidArgumentError("not a FlakySave"), "flaky");
    const int me = ctx.comm->rank();
    Status st;
    if (a->gate != nullptr) {
      const auto start = Clock::now();
      while (!a->gate->load() && SecondsSince(start) < 10) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!a->gate->load()) st = InternalError("the gate was not opened: Save did not return");
    }
    if (me == a->sleep_rank) {
      std::this_thread::sleep_for(std::chrono::milliseconds(a->sleep_ms));
      return OkStatus();
    }
    if (st.ok() && me == a->fail_rank) {
      st = DataLossError("injected write error on rank " + std::to_string(me));
    }
    if (st.ok() && me == ctx.primary_host) {
      std::ofstream out(directory / "text.txt");
      out << a->text;
      if (!out.flush()) st = InternalError("cannot write " + (directory / "text.txt").string());
    }
    // With a sleeping rank nobody does a collective here: the saver's own agreement times out.
    if (a->sleep_rank >= 0) return st;
    return AgreeInContext(ctx, st, "flaky write");
  }
  Status Restore(const HandlerContext& ctx, const fs::path& directory,
                 const CheckpointArgs& args) override {
    const auto* a = args.As<FlakyRestore>();
    Status st = (a && a->text) ? OkStatus() : InvalidArgumentError("not a FlakyRestore");
    std::string text;
    if (st.ok() && ctx.comm->rank() == ctx.primary_host) {
      std::ifstream in(directory / "text.txt");
      std::stringstream ss;
      ss << in.rdbuf();
      if (!in) st = DataLossError("cannot read " + (directory / "text.txt").string());
      text = ss.str();
    }
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, st));
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*ctx.comm, ctx.comm->Broadcast(text, ctx.primary_host)));
    *a->text = text;
    return OkStatus();
  }
  Result<Tree> Metadata(const fs::path& directory) const override {
    std::ifstream in(directory / "text.txt");
    std::string text;
    std::getline(in, text);
    Tree t;
    t["text"] = text;
    return t;
  }
};

// A copy of the global registry that also knows FlakySave / FlakyRestore (the global one is
// left alone, so the suite runs with --gtest_repeat).
std::shared_ptr<HandlerRegistry> TestRegistry() {
  static const std::shared_ptr<HandlerRegistry> registry = [] {
    auto r = HandlerRegistry::CopyOfGlobal();
    auto h = std::make_shared<FlakyHandler>();
    Status a = r->Register(typeid(FlakySave), "FlakySave", h, {.for_save = true});
    Status b = r->Register(typeid(FlakyRestore), "FlakyRestore", h, {.for_restore = true});
    if (!a.ok() || !b.ok()) std::abort();
    return r;
  }();
  return registry;
}

// --- States. ----------------------------------------------------------------------------------

// One leaf of each kind: a distributed 2-D float32 array (row blocks), a distributed 1-D float64
// array, a replicated int64 array, a scalar, a string and a JSON value. Values depend on `seed`
// (0: zeros and empty values, the restore target).
struct SampleState {
  SampleState(int rank, int size, int seed)
      : w_shape{16 * size + 3, 128},
        w_box(RowBlock(w_shape, rank, size)),
        w(static_cast<size_t>(w_box.NumElements())),
        v_shape{4096 * size},
        v_box(RowBlock(v_shape, rank, size)),
        v(static_cast<size_t>(v_box.NumElements())),
        r_shape{512},
        r(512) {
    Fill(seed);
  }
  void Fill(int seed) {
    const int64_t cols = w_shape[1];
    for (size_t i = 0; i < w.size(); ++i) {
      const int64_t flat = w_box.origin[0] * cols + static_cast<int64_t>(i);
      w[i] = seed == 0 ? 0.0f : static_cast<float>(seed * 100000 + flat);
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const int64_t flat = v_box.origin[0] + static_cast<int64_t>(i);
      v[i] = seed == 0 ? 0.0 : seed * 1e7 + 0.5 * static_cast<double>(flat);
    }
    for (size_t i = 0; i < r.size(); ++i) {
      r[i] = seed == 0 ? 0 : seed * 1000003 + 7 * static_cast<int64_t>(i);
    }
    step = seed == 0 ? 0 : 100 + seed;
    name = seed == 0 ? "" : "state-" + std::to_string(seed);
    config = seed == 0 ? json(nullptr) : json{{"seed", seed}, {"lr", 0.5 * seed}};
  }
  Tree ToTree() {
    Tree t;
    t["params"]["w"] = DistributedArray{DType::kFloat32, w_shape, {{w_box, w.data()}}};
    t["params"]["v"] = DistributedArray{DType::kFloat64, v_shape, {{v_box, v.data()}}};
    t["replicated"] = DistributedArray::Replicated(DType::kInt64, r_shape, r.data());
    t["step"] = Scalar(step);
    t["name"] = name;
    t["config"] = Tree::Json(config);
    return t;
  }
  // Bytes of the arrays this rank holds.
  int64_t Bytes() const { return static_cast<int64_t>(w.size() * 4 + v.size() * 8 + r.size() * 8); }

  Shape w_shape;
  Box w_box;
  std::vector<float> w;
  Shape v_shape;
  Box v_box;
  std::vector<double> v;
  Shape r_shape;
  std::vector<int64_t> r;
  int64_t step = 0;
  std::string name;
  json config;
};

// Expects `restored` (a tree made by got.ToTree() and restored into) to hold the values of
// `want`.
void ExpectSameState(const SampleState& want, const SampleState& got, const Tree& restored) {
  EXPECT_EQ(got.w, want.w);
  EXPECT_EQ(got.v, want.v);
  EXPECT_EQ(got.r, want.r);
  const Tree* step = FindPath(restored, {"step"});
  const Tree* name = FindPath(restored, {"name"});
  const Tree* config = FindPath(restored, {"config"});
  ASSERT_TRUE(step && name && config);
  EXPECT_EQ(std::get<Scalar>(step->leaf()).as<int64_t>(), want.step);
  EXPECT_EQ(std::get<std::string>(name->leaf()), want.name);
  EXPECT_EQ(std::get<json>(config->leaf()), want.config);
}

// Arrays described by key path, dtype, global shape and whether every rank holds all of it
// (replicated) or a row block; filled with test_util's byte pattern, or zeros.
struct ArraySpec {
  std::vector<std::string> path;
  DType dtype;
  Shape shape;
  bool replicated = false;
};
struct ArraySet {
  ArraySet(std::vector<ArraySpec> s, int rank, int size, bool fill) : specs(std::move(s)) {
    for (const ArraySpec& a : specs) {
      boxes.push_back(a.replicated ? Box{std::vector<int64_t>(a.shape.size(), 0), a.shape}
                                   : RowBlock(a.shape, rank, size));
      bufs.push_back(MakeBuffer(a.dtype, a.shape, boxes.back(), fill));
    }
  }
  Tree ToTree() {
    Tree t;
    for (size_t i = 0; i < specs.size(); ++i) {
      Tree* node = &t;
      for (const std::string& seg : specs[i].path) node = &(*node)[seg];
      *node = DistributedArray{specs[i].dtype, specs[i].shape, {{boxes[i], bufs[i].data()}}};
    }
    return t;
  }
  size_t Bytes(size_t i) const {
    return static_cast<size_t>(boxes[i].NumElements()) * DTypeSize(specs[i].dtype);
  }
  // Bytes of the boxes rank 0 writes (its row blocks, and every replicated array: a region held
  // by several ranks is written by the lowest of them).
  int64_t PrimaryBytes(int size) const {
    int64_t total = 0;
    for (const ArraySpec& a : specs) {
      const Box b = a.replicated ? Box{std::vector<int64_t>(a.shape.size(), 0), a.shape}
                                 : RowBlock(a.shape, 0, size);
      total += b.NumElements() * static_cast<int64_t>(DTypeSize(a.dtype));
    }
    return total;
  }
  void Overwrite(size_t i) { std::memset(bufs[i].data(), 0xAB, Bytes(i)); }
  bool Same(const ArraySet& other, size_t i) const {
    return std::memcmp(bufs[i].data(), other.bufs[i].data(), Bytes(i)) == 0;
  }

  std::vector<ArraySpec> specs;
  std::vector<Box> boxes;
  std::vector<std::vector<unsigned char>> bufs;
};

// --- Fixture. ---------------------------------------------------------------------------------

class AsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = World();
    rank_ = comm_->rank();
    size_ = comm_->size();
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    threaded_ = provided == MPI_THREAD_MULTIPLE;
  }
  // An AsyncCheckpointer over the world, knowing the test handler. Create agrees on its outcome,
  // so a null result is the same on every rank.
  std::unique_ptr<AsyncCheckpointer> MakeAsync(CheckpointerOptions options = {}) {
    options.checkpointables.registry = TestRegistry();
    auto c = AsyncCheckpointer::Create(comm_, std::move(options));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // The entries of a shared directory, listed on rank 0 once every rank got here.
  std::vector<std::string> Entries(const fs::path& dir) {
    MPI_Barrier(MPI_COMM_WORLD);
    std::string all;
    if (rank_ == 0) {
      std::error_code ec;
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        names.push_back(e.path().filename().string());
      }
      std::sort(names.begin(), names.end());
      for (const auto& n : names) all += n + "\n";
    }
    EXPECT_TRUE(comm_->Broadcast(all, 0).ok());
    std::vector<std::string> out;
    std::istringstream in(all);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // Restores item "state" (and "flaky" when `text` is set) of `dir` and compares with `want`.
  void ExpectRestores(AsyncCheckpointer& ckpt, const fs::path& dir, const SampleState& want,
                      const std::string& item = "default", std::string* text = nullptr) {
    SampleState got(rank_, size_, 0);
    Tree target = got.ToTree();
    Composite args{{item, StandardRestore{&target}}};
    if (text != nullptr) args.items["flaky"] = FlakyRestore{text};
    Status st = ckpt.Restore(dir, args);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ExpectSameState(want, got, target);
  }

  std::shared_ptr<Communicator> comm_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
  bool threaded_ = true;
};

// --- 1. The caller's buffers are free once Save returns. --------------------------------------

struct OverwriteCase {
  std::string backend;
  bool transfer_limit;
  bool compression;
};

class AsyncOverwriteTest : public AsyncTest, public ::testing::WithParamInterface<OverwriteCase> {};

TEST_P(AsyncOverwriteTest, BuffersOverwrittenAfterSaveRestoreTheOldValues) {
  const OverwriteCase& c = GetParam();
  SampleState state(rank_, size_, 1);
  const SampleState want(rank_, size_, 1);
  CheckpointerOptions options;
  if (c.transfer_limit) {
    // Well below this rank's state: most of it is copied only while writing, so Save blocks
    // until then.
    options.memory_options.transfer_concurrent_bytes = 16 << 10;
    ASSERT_GT(state.Bytes(), 2 * (16 << 10));
  }
  auto ckpt = MakeAsync(options);
  ASSERT_TRUE(ckpt);
  const fs::path dir = dir_.path() / "step_1";
  Tree tree = state.ToTree();
  Status st =
      ckpt->Save(dir, StandardSave{tree},
                 SaveOptions{.backend = c.backend, .array = {.use_compression = c.compression}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Every buffer (and the tree's own leaves) changes at once.
  state.Fill(2);
  tree["step"] = Scalar(int64_t{-1});
  tree["name"] = std::string("changed");
  ASSERT_NE(state.w, want.w);

  st = ckpt->WaitUntilFinished();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(ckpt->CheckForErrors().ok());
  EXPECT_TRUE(IsCommittedCheckpoint(dir));
  ExpectRestores(*ckpt, dir, want);

  // A second save through the same checkpointer (its staging buffers are reused) holds the new
  // values, even though they are overwritten again right away.
  const SampleState want2(rank_, size_, 2);
  st = ckpt->Save(dir_.path() / "step_2", StandardSave{state.ToTree()},
                  SaveOptions{.backend = c.backend, .array = {.use_compression = c.compression}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  state.Fill(3);
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
  ExpectRestores(*ckpt, dir_.path() / "step_2", want2);
  ExpectRestores(*ckpt, dir, want);
  EXPECT_TRUE(ckpt->Close().ok());
}

INSTANTIATE_TEST_SUITE_P(Cases, AsyncOverwriteTest,
                         ::testing::Values(OverwriteCase{"hdf5", false, true},
                                           OverwriteCase{"hdf5", false, false},
                                           OverwriteCase{"hdf5", true, true},
                                           OverwriteCase{"hdf5", true, false},
                                           OverwriteCase{"reference", false, true},
                                           OverwriteCase{"reference", true, false}),
                         [](const ::testing::TestParamInfo<OverwriteCase>& info) {
                           return info.param.backend +
                                  (info.param.transfer_limit ? "_limit" : "_nolimit") +
                                  (info.param.compression ? "_zstd" : "_raw");
                         });

// Save returns while the write is still going on (background thread only): the handler's write
// waits until the caller, past Save, opens a gate; the step appears only after its commit.
TEST_F(AsyncTest, SaveReturnsBeforeTheBackgroundWriteAndTheStepAppearsAtCommit) {
  if (!threaded_) GTEST_SKIP() << "no background thread below MPI_THREAD_MULTIPLE";
  auto ckpt = MakeAsync();
  ASSERT_TRUE(ckpt);
  SampleState state(rank_, size_, 1);
  std::atomic<bool> gate{false};
  const fs::path dir = dir_.path() / "gated";
  Status st = ckpt->Save(dir, Composite{{"state", StandardSave{state.ToTree()}},
                                        {"flaky", FlakySave{.text = "gated", .gate = &gate}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(IsCommittedCheckpoint(dir));
  EXPECT_TRUE(ckpt->CheckForErrors().ok());
  gate = true;
  st = ckpt->WaitUntilFinished();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(IsCommittedCheckpoint(dir));
  std::string text;
  ExpectRestores(*ckpt, dir, SampleState(rank_, size_, 1), "state", &text);
  EXPECT_EQ(text, "gated");
}

// Without a background thread nothing is written until the next collective call.
TEST_F(AsyncTest, DeferredModeWritesAtTheNextCollectiveCall) {
  if (threaded_) GTEST_SKIP() << "MPI_THREAD_MULTIPLE: saves run on a background thread";
  auto ckpt = MakeAsync();
  ASSERT_TRUE(ckpt);
  SampleState state(rank_, size_, 1);
  const fs::path dir = dir_.path() / "steps" / "deferred";
  Status st = ckpt->Save(dir, StandardSave{state.ToTree()});
  ASSERT_TRUE(st.ok()) << st.ToString();
  state.Fill(2);
  EXPECT_TRUE(Entries(dir_.path()).empty());
  st = ckpt->WaitUntilFinished();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(IsCommittedCheckpoint(dir));
  ExpectRestores(*ckpt, dir, SampleState(rank_, size_, 1));
}

// --- 2. Background failures reach every rank. -------------------------------------------------

TEST_F(AsyncTest, InjectedWriteErrorIsReportedOnEveryRankAndLeavesTheCommittedStepIntact) {
  auto ckpt = MakeAsync();
  ASSERT_TRUE(ckpt);
  const int bad = size_ - 1;
  SampleState state(rank_, size_, 1);
  const SampleState want(rank_, size_, 1);
  const fs::path one = dir_.path() / "1", two = dir_.path() / "2", three = dir_.path() / "3";
  Status st = ckpt->Save(one, Composite{{"state", StandardSave{state.ToTree()}},
                                        {"flaky", FlakySave{.text = "first"}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());

  // The write fails on one rank only, in the background: Save itself succeeds.
  state.Fill(2);
  st = ckpt->Save(two, Composite{{"state", StandardSave{state.ToTree()}},
                                 {"flaky", FlakySave{.text = "second", .fail_rank = bad}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  state.Fill(3);
  const std::string needle = "injected write error on rank " + std::to_string(bad);
  const Status failure = ckpt->WaitUntilFinished();
  EXPECT_SAME_ERROR_ON_ALL_RANKS(failure, StatusCode::kDataLoss, needle);
  EXPECT_NE(failure.message().find("item 'flaky'"), std::string::npos) << failure.ToString();
  EXPECT_NE(failure.message().find("rank " + std::to_string(bad)), std::string::npos)
      << failure.ToString();
  EXPECT_NE(failure.message().find(two.string()), std::string::npos) << failure.ToString();
  // Reported again, not dropped: by CheckForErrors, a second WaitUntilFinished, the next Save.
  EXPECT_EQ(ckpt->CheckForErrors().ToString(), failure.ToString());
  EXPECT_EQ(ckpt->WaitUntilFinished().ToString(), failure.ToString());
  EXPECT_FALSE(IsCommittedCheckpoint(two));
  EXPECT_EQ(Entries(dir_.path()), std::vector<std::string>{"1"});

  st = ckpt->Save(three, Composite{{"state", StandardSave{state.ToTree()}},
                                   {"flaky", FlakySave{.text = "third"}}});
  EXPECT_EQ(st.ToString(), failure.ToString());
  EXPECT_TRUE(AllTrue(st.ToString() == failure.ToString()));
  // ...once: then the failure is gone and the following save commits.
  EXPECT_TRUE(ckpt->CheckForErrors().ok());
  EXPECT_TRUE(ckpt->WaitUntilFinished().ok());
  EXPECT_EQ(Entries(dir_.path()), std::vector<std::string>{"1"});
  st = ckpt->Save(three, Composite{{"state", StandardSave{state.ToTree()}},
                                   {"flaky", FlakySave{.text = "third"}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
  EXPECT_EQ(Entries(dir_.path()), (std::vector<std::string>{"1", "3"}));

  // The step committed before the failure is intact.
  std::string text;
  ExpectRestores(*ckpt, one, want, "state", &text);
  EXPECT_EQ(text, "first");
  text.clear();
  ExpectRestores(*ckpt, three, SampleState(rank_, size_, 3), "state", &text);
  EXPECT_EQ(text, "third");
}

// A path under a regular file cannot be created (ENOTDIR, even for root).
TEST_F(AsyncTest, UnwritableDirectoryFailsInTheBackgroundOrInSave) {
  const fs::path file = dir_.path() / "afile";
  if (rank_ == 0) std::ofstream(file) << "not a directory";
  MPI_Barrier(MPI_COMM_WORLD);
  SampleState state(rank_, size_, 1);
  const fs::path dir = file / "ckpt";
  {
    // Created in the background (the default): Save succeeds, the failure comes later.
    auto ckpt = MakeAsync(
        CheckpointerOptions{.async_options = {.create_directories_asynchronously = true}});
    ASSERT_TRUE(ckpt);
    Status st = ckpt->Save(dir, StandardSave{state.ToTree()});
    ASSERT_TRUE(st.ok()) << st.ToString();
    const Status failure = ckpt->WaitUntilFinished();
    EXPECT_SAME_FAILURE_ON_ALL_RANKS(failure, file.string());
    EXPECT_EQ(ckpt->CheckForErrors().ToString(), failure.ToString());
    // The next Save returns it instead of saving.
    st = ckpt->Save(dir_.path() / "good", StandardSave{state.ToTree()});
    EXPECT_EQ(st.ToString(), failure.ToString());
    st = ckpt->Save(dir_.path() / "good", StandardSave{state.ToTree()});
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
    ExpectRestores(*ckpt, dir_.path() / "good", SampleState(rank_, size_, 1));
  }
  {
    // Created inside Save: Save returns the failure and nothing is in flight.
    auto ckpt = MakeAsync(
        CheckpointerOptions{.async_options = {.create_directories_asynchronously = false}});
    ASSERT_TRUE(ckpt);
    const Status failure = ckpt->Save(dir, StandardSave{state.ToTree()});
    EXPECT_SAME_FAILURE_ON_ALL_RANKS(failure, file.string());
    EXPECT_TRUE(ckpt->WaitUntilFinished().ok());
    EXPECT_TRUE(ckpt->CheckForErrors().ok());
  }
  EXPECT_EQ(Entries(dir_.path()), (std::vector<std::string>{"afile", "good"}));
}

// Registered by async_full_disk.sh, which mounts a 512 KiB tmpfs and names it in
// CAIRN_TEST_FULL_DISK_DIR; skipped otherwise.
TEST_F(AsyncTest, FullDiskIsReportedOnEveryRankAndLeavesTheCommittedStepIntact) {
  const char* env = std::getenv("CAIRN_TEST_FULL_DISK_DIR");
  if (env == nullptr || *env == '\0') {
    GTEST_SKIP() << "needs a small file system in CAIRN_TEST_FULL_DISK_DIR (async_full_disk.sh)";
  }
  for (const std::string backend : {"reference", "hdf5", "ocdbt"}) {
    SCOPED_TRACE(backend);
    const fs::path root = fs::path(env) / backend;
    const SaveOptions opts{.backend = backend, .array = {.use_compression = false}};
    auto ckpt = MakeAsync();
    ASSERT_TRUE(ckpt);
    ArraySet small({{{"x"}, DType::kInt32, {64 * size_}}}, rank_, size_, true);
    Status st = ckpt->Save(root / "1", StandardSave{small.ToTree()}, opts);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_TRUE(ckpt->WaitUntilFinished().ok());

    // 1 MiB per rank does not fit; the copy succeeds, the background write does not.
    ArraySet big({{{"y"}, DType::kFloat64, {(int64_t{1} << 17) * size_}}}, rank_, size_, true);
    st = ckpt->Save(root / "2", StandardSave{big.ToTree()}, opts);
    ASSERT_TRUE(st.ok()) << st.ToString();
    big.Overwrite(0);
    const Status failure = ckpt->WaitUntilFinished();
    EXPECT_SAME_FAILURE_ON_ALL_RANKS(failure, root.string());
    EXPECT_EQ(ckpt->CheckForErrors().ToString(), failure.ToString());
    EXPECT_EQ(Entries(root), std::vector<std::string>{"1"});

    // Restore first reports the failure, then restores the step committed before.
    ArraySet back({{{"x"}, DType::kInt32, {64 * size_}}}, rank_, size_, false);
    Tree target = back.ToTree();
    EXPECT_EQ(ckpt->Restore(root / "1", StandardRestore{&target}).ToString(), failure.ToString());
    st = ckpt->Restore(root / "1", StandardRestore{&target});
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(back.Same(small, 0));
    ASSERT_TRUE(ckpt->Close().ok());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank_ == 0) {
    for (const std::string backend : {"reference", "hdf5", "ocdbt"}) {
      fs::remove_all(fs::path(env) / backend);
    }
  }
}

// --- 3. Timeouts. -----------------------------------------------------------------------------

// One rank stalls inside the background write (no collective): the others give up after
// timeout_secs with DeadlineExceeded naming it, the late rank gets the same verdict.
TEST_F(AsyncTest, RankStallingInTheBackgroundWriteIsNamedAfterTheTimeout) {
  if (size_ == 1) GTEST_SKIP() << "needs a second rank";
  constexpr int kTimeout = 2;
  const int sleeper = size_ - 1;
  auto ckpt = MakeAsync(CheckpointerOptions{.async_options = {.timeout_secs = kTimeout}});
  ASSERT_TRUE(ckpt);
  SampleState state(rank_, size_, 1);
  const fs::path dir = dir_.path() / "stalled";
  Status st = ckpt->Save(
      dir,
      Composite{{"state", StandardSave{state.ToTree()}},
                {"sleepy", FlakySave{.text = "zzz", .sleep_rank = sleeper, .sleep_ms = 5000}}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  const auto saved = Clock::now();
  const Status failure = ckpt->WaitUntilFinished();
  const double waited = SecondsSince(saved);
  if (rank_ != sleeper) {
    EXPECT_LT(waited, kTimeout + 3) << "WaitUntilFinished took " << waited;
  }
  EXPECT_SAME_ERROR_ON_ALL_RANKS(failure, StatusCode::kDeadlineExceeded,
                                 "rank " + std::to_string(sleeper) + " did not arrive");
  EXPECT_FALSE(IsCommittedCheckpoint(dir));
  EXPECT_TRUE(Entries(dir_.path()).empty());

  // The checkpointer recovers: the failure is reported once more, then saves commit.
  st = ckpt->Save(dir_.path() / "after", StandardSave{state.ToTree()});
  EXPECT_EQ(st.ToString(), failure.ToString());
  st = ckpt->Save(dir_.path() / "after", StandardSave{state.ToTree()});
  ASSERT_TRUE(st.ok()) << st.ToString();
  st = ckpt->WaitUntilFinished();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ExpectRestores(*ckpt, dir_.path() / "after", SampleState(rank_, size_, 1));
}

// One rank calls Save late: the others get DeadlineExceeded naming it from Save itself.
TEST_F(AsyncTest, RankLateToSaveIsNamedBySaveAfterTheTimeout) {
  if (size_ == 1) GTEST_SKIP() << "needs a second rank";
  constexpr int kTimeout = 1;
  const int late = size_ - 1;
  auto ckpt = MakeAsync(CheckpointerOptions{.async_options = {.timeout_secs = kTimeout}});
  ASSERT_TRUE(ckpt);
  SampleState state(rank_, size_, 1);
  const fs::path dir = dir_.path() / "late";
  if (rank_ == late) std::this_thread::sleep_for(std::chrono::seconds(4));
  const auto start = Clock::now();
  const Status st = ckpt->Save(dir, StandardSave{state.ToTree()});
  const double took = SecondsSince(start);
  if (rank_ != late) {
    EXPECT_LT(took, kTimeout + 2) << "Save took " << took;
  }
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kDeadlineExceeded,
                                 "rank " + std::to_string(late) + " did not arrive");
  // Whatever Save returned, let a save that was started finish before looking.
  const Status wait = ckpt->WaitUntilFinished();
  EXPECT_TRUE(wait.ok()) << wait.ToString();
  EXPECT_FALSE(IsCommittedCheckpoint(dir));
  EXPECT_TRUE(Entries(dir_.path()).empty());

  Status again = ckpt->Save(dir_.path() / "after", StandardSave{state.ToTree()});
  ASSERT_TRUE(again.ok()) << again.ToString();
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
  ExpectRestores(*ckpt, dir_.path() / "after", SampleState(rank_, size_, 1));
}

// --- 4. Memory limits. ------------------------------------------------------------------------

constexpr int64_t kLimit = 64 << 10;

// Several arrays (one rank's piece of "big" is 1 MiB, far above the limit) and a replicated one.
std::vector<ArraySpec> LargeSpecs(int size) {
  return {{{"big"}, DType::kFloat32, {256 * size, 1024}},
          {{"m1"}, DType::kFloat64, {16384 * size}},
          {{"m2"}, DType::kInt32, {256 * size + 1, 128}},
          {{"rep"}, DType::kFloat32, {64, 64}, true}};
}

json PerformanceMetrics(const fs::path& dir) {
  auto cm = ReadCheckpointMetadata(dir);
  EXPECT_TRUE(cm.ok()) << cm.status().ToString();
  return cm.ok() ? cm->performance_metrics : json::object();
}

int64_t Metric(const json& pm, const char* name) {
  EXPECT_TRUE(pm.contains(name)) << name << " missing in " << pm.dump();
  return pm.contains(name) ? pm.at(name).get<int64_t>() : -1;
}

TEST_F(AsyncTest, MemoryLimitsBoundTheStagingBuffers) {
  struct Limit {
    const char* name;
    MemoryOptions memory;
  };
  const std::vector<Limit> limits = {
      {"write_concurrent_bytes", {.write_concurrent_bytes = kLimit}},
      {"transfer_concurrent_bytes", {.transfer_concurrent_bytes = kLimit}},
  };
  for (const Limit& limit : limits) {
    SCOPED_TRACE(limit.name);
    auto ckpt = MakeAsync(CheckpointerOptions{.memory_options = limit.memory});
    ASSERT_TRUE(ckpt);
    ArraySet state(LargeSpecs(size_), rank_, size_, true);
    const ArraySet want(LargeSpecs(size_), rank_, size_, true);
    ASSERT_GT(state.Bytes(0), static_cast<size_t>(kLimit));
    const fs::path dir = dir_.path() / limit.name;
    Status st = ckpt->Save(dir, StandardSave{state.ToTree()},
                           SaveOptions{.array = {.use_compression = false}});
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (size_t i = 0; i < state.specs.size(); ++i) state.Overwrite(i);
    st = ckpt->WaitUntilFinished();
    ASSERT_TRUE(st.ok()) << st.ToString();

    const json pm = PerformanceMetrics(dir);
    EXPECT_LE(Metric(pm, "staging_peak_counted_bytes"), kLimit) << pm.dump();
    EXPECT_LE(Metric(pm, "staging_peak_bytes"), kLimit) << pm.dump();
    EXPECT_GT(Metric(pm, "staging_peak_bytes"), 0) << pm.dump();

    ArraySet back(LargeSpecs(size_), rank_, size_, false);
    Tree target = back.ToTree();
    st = ckpt->Restore(dir, StandardRestore{&target});
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (size_t i = 0; i < want.specs.size(); ++i) {
      EXPECT_TRUE(back.Same(want, i)) << want.specs[i].path[0];
    }
  }
}

// Restore with read_concurrent_bytes: every rank restores whole arrays as two pieces each, so
// every stored piece is read through a buffer (verified, then scattered); pieces far larger than
// the limit are streamed through one slab buffer.
TEST_F(AsyncTest, ReadLimitBoundsTheRestoreBuffers) {
  std::vector<ArraySpec> whole = LargeSpecs(size_);
  for (ArraySpec& a : whole) a.replicated = true;
  const ArraySet want(whole, rank_, size_, true);
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress ? "zstd" : "raw");
    const fs::path dir = dir_.path() / (compress ? "read_zstd" : "read_raw");
    {
      auto sync = Checkpointer::Create(comm_);
      ASSERT_TRUE(sync.ok());
      ArraySet state(LargeSpecs(size_), rank_, size_, true);
      Status st = sync->Save(dir, StandardSave{state.ToTree()},
                             SaveOptions{.array = {.use_compression = compress}});
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    for (std::optional<int64_t> limit : {std::optional<int64_t>(kLimit), std::optional<int64_t>()}) {
      SCOPED_TRACE(limit ? "limit" : "no limit");
      auto ckpt = Checkpointer::Create(
          comm_, CheckpointerOptions{.memory_options = {.read_concurrent_bytes = limit}});
      ASSERT_TRUE(ckpt.ok());
      ArraySet back(whole, rank_, size_, false);
      Tree target;
      for (size_t i = 0; i < whole.size(); ++i) {
        const Shape& shape = whole[i].shape;
        const int64_t half = shape[0] / 2;
        const size_t row = back.Bytes(i) / static_cast<size_t>(shape[0]);
        Box top{std::vector<int64_t>(shape.size(), 0), shape}, bottom = top;
        top.shape[0] = half;
        bottom.origin[0] = half;
        bottom.shape[0] = shape[0] - half;
        target[whole[i].path[0]] = DistributedArray{
            whole[i].dtype, shape,
            {{top, back.bufs[i].data()}, {bottom, back.bufs[i].data() + half * row}}};
      }
      auto report = ckpt->Restore(dir, target);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      for (size_t i = 0; i < whole.size(); ++i) {
        EXPECT_TRUE(back.Same(want, i)) << whole[i].path[0];
      }
      EXPECT_GT(report->peak_buffer_bytes, 0);
      if (limit) {
        EXPECT_LE(report->peak_buffer_bytes, *limit);
      } else {
        EXPECT_GT(report->peak_buffer_bytes, kLimit);  // the limit above did something
      }
    }
  }
}

// CUDA device pieces go to host through the pinned staging pool (D2H); the device buffer is
// overwritten right after Save and the checkpoint still holds the old values.
TEST_F(AsyncTest, DeviceArraysAreStagedThroughPinnedBuffers) {
#if !CAIRN_HAVE_CUDA
  GTEST_SKIP() << "cairn was built without CUDA";
#else
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    GTEST_SKIP() << "no CUDA device on this machine";
  }
  cudaSetDevice(rank_ % devices);
  const int64_t n = 1 << 18;  // floats per rank
  std::vector<float> host(n);
  for (int64_t i = 0; i < n; ++i) host[i] = static_cast<float>(rank_ * n + i) * 0.5f;
  float* dev = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&dev), n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  for (bool pinned : {true, false}) {
    SCOPED_TRACE(pinned ? "pinned" : "pageable");
    auto ckpt = MakeAsync();
    ASSERT_TRUE(ckpt);
    Tree t;
    t["w"] = DistributedArray{DType::kFloat32, {n * size_}, {{Box{{rank_ * n}, {n}}, dev}}};
    const fs::path dir = dir_.path() / (pinned ? "device_pinned" : "device_pageable");
    Status st = ckpt->Save(dir, StandardSave{t},
                           SaveOptions{.array = {.use_compression = false,
                                                 .enable_pinned_host_transfer = pinned}});
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaMemset(dev, 0, n * sizeof(float)), cudaSuccess);
    ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
    std::vector<float> back(n, -1.0f);
    Tree target;
    target["w"] = DistributedArray{DType::kFloat32, {n * size_}, {{Box{{rank_ * n}, {n}}, back.data()}}};
    st = ckpt->Restore(dir, StandardRestore{&target});
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(back, host);
    ASSERT_EQ(cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  }
  cudaFree(dev);
#endif
}

TEST_F(AsyncTest, WithoutLimitsTheWholeStateIsStagedBeforeSaveReturns) {
  auto ckpt = MakeAsync();
  ASSERT_TRUE(ckpt);
  ArraySet state(LargeSpecs(size_), rank_, size_, true);
  const ArraySet want(LargeSpecs(size_), rank_, size_, true);
  const fs::path dir = dir_.path() / "unlimited";
  // Replicated arrays written by the lowest rank, as PrimaryBytes counts them.
  Status st = ckpt->Save(
      dir, StandardSave{state.ToTree()},
      SaveOptions{.array = {.use_compression = false, .use_replica_parallel = false}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (size_t i = 0; i < state.specs.size(); ++i) state.Overwrite(i);
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
  // The figures are the primary's (rank 0 writes `_CHECKPOINT_METADATA`).
  const json pm = PerformanceMetrics(dir);
  EXPECT_GE(Metric(pm, "staging_peak_bytes"), state.PrimaryBytes(size_)) << pm.dump();
  EXPECT_FALSE(pm.contains("staging_limit_bytes")) << pm.dump();
  ArraySet back(LargeSpecs(size_), rank_, size_, false);
  Tree target = back.ToTree();
  st = ckpt->Restore(dir, StandardRestore{&target});
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (size_t i = 0; i < want.specs.size(); ++i) EXPECT_TRUE(back.Same(want, i));
}

// A synchronous save that casts (int32 stored as int64) needs conversion buffers: they too stay
// within write_concurrent_bytes.
TEST_F(AsyncTest, SyncSaveWithACastKeepsItsConversionBuffersWithinTheWriteLimit) {
  CheckpointerOptions options{.memory_options = {.write_concurrent_bytes = kLimit}};
  auto c = Checkpointer::Create(comm_, options);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::vector<ArraySpec> specs = {{{"a"}, DType::kInt32, {256 * size_, 512}},
                                        {{"b"}, DType::kInt32, {4096 * size_ + 5}},
                                        {{"r"}, DType::kInt32, {3000}, true}};
  ArraySet state(specs, rank_, size_, true);
  ASSERT_GT(state.Bytes(0) * 2, static_cast<size_t>(kLimit));
  const fs::path dir = dir_.path() / "cast";
  const SaveOptions opts{
      .array = {.storage_options = {.dtype = DType::kInt64}, .use_compression = false}};
  Status st = c->Save(dir, state.ToTree(), opts);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const json pm = PerformanceMetrics(dir);
  EXPECT_LE(Metric(pm, "staging_peak_counted_bytes"), kLimit) << pm.dump();
  EXPECT_LE(Metric(pm, "staging_peak_bytes"), kLimit) << pm.dump();
  EXPECT_GT(Metric(pm, "staging_peak_bytes"), 0) << pm.dump();

  // Stored as int64: restore into int64 buffers and compare with the widened values.
  std::vector<ArraySpec> wide = specs;
  for (ArraySpec& a : wide) a.dtype = DType::kInt64;
  ArraySet back(wide, rank_, size_, false);
  Tree target = back.ToTree();
  auto r = c->Restore(dir, target);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto* src = reinterpret_cast<const int32_t*>(state.bufs[i].data());
    const auto* got = reinterpret_cast<const int64_t*>(back.bufs[i].data());
    const int64_t n = state.boxes[i].NumElements();
    int64_t wrong = 0;
    for (int64_t k = 0; k < n; ++k) wrong += got[k] != static_cast<int64_t>(src[k]);
    EXPECT_EQ(wrong, 0) << specs[i].path[0];
  }
}

// --- 5. Prioritized keys. ---------------------------------------------------------------------

// With a transfer limit and is_prioritized_key_fn, Save returns once the prioritized keys are
// copied (whatever their size): overwriting them right away is fine.
TEST_F(AsyncTest, PrioritizedKeysAreCopiedBeforeSaveReturns) {
  constexpr int64_t kSmall = 16 << 10;
  CheckpointerOptions options{.memory_options = {.transfer_concurrent_bytes = kSmall,
                                                 .is_prioritized_key_fn = [](const KeyPath& k) {
                                                   return !k.empty() && k[0].key == "params";
                                                 }}};
  auto ckpt = MakeAsync(options);
  ASSERT_TRUE(ckpt);
  // Sorted key order puts the large non-prioritized arrays first: they fill the limit, so
  // without prioritization the params would be copied only while writing.
  const std::vector<ArraySpec> specs = {{{"opt", "m"}, DType::kFloat32, {256 * size_, 256}},
                                        {{"opt", "v"}, DType::kFloat32, {256 * size_, 256}},
                                        {{"params", "b"}, DType::kFloat32, {1024}, true},
                                        {{"params", "w"}, DType::kFloat32, {32 * size_, 256}}};
  ArraySet state(specs, rank_, size_, true);
  const ArraySet want(specs, rank_, size_, true);
  ASSERT_GT(state.Bytes(3), static_cast<size_t>(kSmall));  // larger than the limit itself
  const fs::path dir = dir_.path() / "prioritized";
  Status st = ckpt->Save(dir, StandardSave{state.ToTree()},
                         SaveOptions{.array = {.use_compression = false}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  state.Overwrite(2);
  state.Overwrite(3);
  st = ckpt->WaitUntilFinished();
  ASSERT_TRUE(st.ok()) << st.ToString();
  const json pm = PerformanceMetrics(dir);
  EXPECT_LE(Metric(pm, "staging_peak_counted_bytes"), kSmall) << pm.dump();

  ArraySet back(specs, rank_, size_, false);
  Tree target = back.ToTree();
  st = ckpt->Restore(dir, StandardRestore{&target});
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_TRUE(back.Same(want, i)) << specs[i].path[0] << "." << specs[i].path[1];
  }
}

// --- 6. The user barrier. ---------------------------------------------------------------------

TEST_F(AsyncTest, BarrierSyncFnIsCalledWithStepKeysAndTheSaveCommits) {
  MPI_Comm barrier_comm = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &barrier_comm);
  std::mutex mu;
  std::vector<std::string> keys;
  std::vector<int> timeouts;
  bool off_main_thread = false;
  const std::thread::id main_thread = std::this_thread::get_id();
  CheckpointerOptions options;
  options.async_options.timeout_secs = 60;
  options.async_options.barrier_sync_fn = [&](std::string_view key, int timeout_ms) {
    {
      std::lock_guard<std::mutex> lock(mu);
      keys.emplace_back(key);
      timeouts.push_back(timeout_ms);
      if (std::this_thread::get_id() != main_thread) off_main_thread = true;
    }
    return MPI_Barrier(barrier_comm) == MPI_SUCCESS ? OkStatus()
                                                    : InternalError("MPI_Barrier failed");
  };
  {
    auto ckpt = MakeAsync(options);
    ASSERT_TRUE(ckpt);
    SampleState state(rank_, size_, 1);
    const fs::path dir = dir_.path() / "step_42";
    Status st = ckpt->Save(dir, Composite{{"state", StandardSave{state.ToTree()}},
                                          {"flaky", FlakySave{.text = "barrier"}}});
    ASSERT_TRUE(st.ok()) << st.ToString();
    state.Fill(2);
    st = ckpt->WaitUntilFinished();
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(IsCommittedCheckpoint(dir));
    ExpectRestores(*ckpt, dir, SampleState(rank_, size_, 1), "state");
  }
  std::string joined;
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(keys.empty());
    for (const std::string& k : keys) {
      EXPECT_EQ(k.rfind("cairn.", 0), 0u) << k;
      EXPECT_NE(k.find("step_42"), std::string::npos) << k;
      joined += k + "\n";
    }
    for (int t : timeouts) EXPECT_EQ(t, 60 * 1000);
    // The background part of the save went through it too, on the background thread.
    if (threaded_) {
      EXPECT_TRUE(off_main_thread);
    }
  }
  // Every rank called the same barriers in the same order.
  auto all = AllStatuses(InternalError(joined));
  for (size_t r = 1; r < all.size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r;
  MPI_Comm_free(&barrier_comm);
}

// --- 7. The post-finalization callback. -------------------------------------------------------

TEST_F(AsyncTest, PostFinalizationCallbackRunsOncePerCommittedSave) {
  std::atomic<int> calls{0};
  std::atomic<int> committed_when_called{0};
  fs::path current;
  CheckpointerOptions options;
  options.async_options.post_finalization_callback = [&]() {
    ++calls;
    if (IsCommittedCheckpoint(current)) ++committed_when_called;
  };
  auto ckpt = MakeAsync(options);
  ASSERT_TRUE(ckpt);
  SampleState state(rank_, size_, 1);
  auto save = [&](const std::string& name, int fail_rank) {
    current = dir_.path() / name;
    return ckpt->Save(current,
                      Composite{{"state", StandardSave{state.ToTree()}},
                                {"flaky", FlakySave{.text = name, .fail_rank = fail_rank}}});
  };
  ASSERT_TRUE(save("1", -1).ok());
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(save("2", -1).ok());
  ASSERT_TRUE(ckpt->WaitUntilFinished().ok());
  EXPECT_EQ(calls, 2);
  // A failed save: no call.
  ASSERT_TRUE(save("3", size_ - 1).ok());
  EXPECT_FALSE(ckpt->WaitUntilFinished().ok());
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(save("4", -1).ok());  // returns the failure instead of saving
  EXPECT_EQ(calls, 2);
  ASSERT_TRUE(save("4", -1).ok());
  ASSERT_TRUE(ckpt->Close().ok());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(committed_when_called, 3);
}

}  // namespace
}  // namespace cairn::testing
