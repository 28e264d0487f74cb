// Multi-host coordination at 1, 2 and 4 ranks (issue 6): replica-parallel saves write every byte
// once and share the load; load-and-broadcast reads each replicated piece on one replica only and
// broadcasts it within the broadcast memory limit; a manager on a subset of ranks
// (active_processes) while the others do something else; two concurrent managers with different
// barrier prefixes; a rank that sleeps past the timeout is named on every other rank; every rank
// primary of its own copy (primary_host none); restore into CUDA device memory where a GPU is.
#include "cairn_config.h"
#if CAIRN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/args.h"
#include "cairn/checkpoint_manager.h"
#include "mpi_tests/test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Element bytes of the leaves below.
constexpr int64_t kF32 = 4, kI32 = 4;
const Shape kReplicatedShape = {64, 48};  // float32, held whole by every rank
const Shape kHalvesShape = {32, 16};      // int32, rank r holds half r % 2 (replicas at 4 ranks)

// The test state of one rank: "r" replicated on every rank; "halves" split in two row blocks,
// rank r holding block r % min(size, 2) (at 4 ranks ranks 0 and 2 hold the top half, 1 and 3 the
// bottom one); "s" a plain row-block decomposition (no replicas).
struct State {
  std::vector<unsigned char> r, halves, s;
  Box halves_box, s_box;
  State(int rank, int size, bool fill) {
    const int blocks = std::min(size, 2);
    halves_box = RowBlock(kHalvesShape, rank % blocks, blocks);
    s_box = RowBlock({40, 8}, rank, size);
    r = MakeBuffer(DType::kFloat32, kReplicatedShape, {{0, 0}, kReplicatedShape}, fill);
    halves = MakeBuffer(DType::kInt32, kHalvesShape, halves_box, fill);
    s = MakeBuffer(DType::kUint8, {40, 8}, s_box, fill);
  }
  Tree ToTree() {
    Tree t;
    t["r"] = DistributedArray::Replicated(DType::kFloat32, kReplicatedShape, r.data());
    t["halves"] = DistributedArray{DType::kInt32, kHalvesShape, {{halves_box, halves.data()}}};
    t["s"] = DistributedArray{DType::kUint8, {40, 8}, {{s_box, s.data()}}};
    return t;
  }
  bool operator==(const State& o) const { return r == o.r && halves == o.halves && s == o.s; }
};

std::vector<int64_t> AllGatherInt(int64_t v) {
  std::vector<int64_t> out(static_cast<size_t>(WorldSize()));
  MPI_Allgather(&v, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  return out;
}

json PerformanceMetrics(const fs::path& dir) {
  auto m = ReadCheckpointMetadata(dir);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? m->performance_metrics : json::object();
}

std::vector<int64_t> WrittenPerRank(const fs::path& dir) {
  const json pm = PerformanceMetrics(dir);
  EXPECT_TRUE(pm.contains("bytes_written_per_rank")) << pm.dump();
  return pm.value("bytes_written_per_rank", std::vector<int64_t>{});
}

// Writers of the stored pieces of `key`, and their element count (must be the array's).
std::set<int> Writers(const fs::path& dir, const char* key, int64_t* elements) {
  auto meta = ReadItemMetadata(dir);
  EXPECT_TRUE(meta.ok()) << meta.status().ToString();
  std::set<int> out;
  *elements = 0;
  if (!meta.ok()) return out;
  const LeafMetadata* leaf = meta->Find(key);
  EXPECT_NE(leaf, nullptr);
  if (leaf == nullptr) return out;
  for (const auto& p : leaf->pieces) {
    out.insert(p.writer_rank);
    *elements += p.box.NumElements();
  }
  return out;
}

class MultihostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = World();
    rank_ = WorldRank();
    size_ = WorldSize();
  }
  std::unique_ptr<Checkpointer> MakeCheckpointer(CheckpointerOptions o = {}) {
    auto c = Checkpointer::Create(comm_, std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::make_unique<Checkpointer>(std::move(c).value()) : nullptr;
  }
  std::shared_ptr<Communicator> comm_;
  SharedTempDir dir_;
  int rank_ = 0, size_ = 1;
};

// --- Replica-parallel save -------------------------------------------------------------------

TEST_F(MultihostTest, ReplicaParallelSaveWritesEveryByteOnceAndSharesTheLoad) {
  auto ckpt = MakeCheckpointer();
  ASSERT_TRUE(ckpt);
  State state(rank_, size_, true);
  const int64_t r_bytes = 64 * 48 * kF32, halves_bytes = 32 * 16 * kI32, s_bytes = 40 * 8;
  const int64_t total = r_bytes + halves_bytes + s_bytes;

  // Default: replica-parallel.
  const fs::path shared = dir_.path() / "shared";
  Status st = ckpt->Save(shared, state.ToTree(), SaveOptions{.array = {.use_compression = false}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::vector<int64_t> written = WrittenPerRank(shared);
  ASSERT_EQ(written.size(), static_cast<size_t>(size_));
  int64_t sum = 0;
  for (int64_t b : written) sum += b;
  EXPECT_EQ(sum, total) << "every byte written exactly once";
  // The replicated array is shared by every rank: the load is even up to a row per leaf.
  const auto [lo, hi] = std::minmax_element(written.begin(), written.end());
  EXPECT_LE(*hi - *lo, 48 * kF32 + 16 * kI32 + 8) << json(written).dump();
  int64_t elements = 0;
  EXPECT_EQ(Writers(shared, "r", &elements).size(), static_cast<size_t>(size_));
  EXPECT_EQ(elements, 64 * 48);
  if (size_ == 4) {
    // Each half is held by two ranks and split between them.
    EXPECT_EQ(Writers(shared, "halves", &elements), (std::set<int>{0, 1, 2, 3}));
    EXPECT_EQ(elements, 32 * 16);
  }

  // Single replica: the lowest holder writes each region.
  const fs::path single = dir_.path() / "single";
  st = ckpt->Save(single, state.ToTree(),
                  SaveOptions{.array = {.use_compression = false, .use_replica_parallel = false}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  written = WrittenPerRank(single);
  ASSERT_EQ(written.size(), static_cast<size_t>(size_));
  EXPECT_EQ(Writers(single, "r", &elements), (std::set<int>{0}));
  sum = 0;
  for (int64_t b : written) sum += b;
  EXPECT_EQ(sum, total);
  EXPECT_GE(written[0], r_bytes);

  // Below the minimum slice size fewer replicas share a region; at most max_replicas do.
  const fs::path few = dir_.path() / "few";
  st = ckpt->Save(few, state.ToTree(),
                  SaveOptions{.array = {.use_compression = false,
                                        .min_slice_bytes_for_replica_parallel = r_bytes / 2 + 1}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Writers(few, "r", &elements).size(), 1u);
  EXPECT_EQ(elements, 64 * 48);
  const fs::path two = dir_.path() / "two";
  st = ckpt->Save(two, state.ToTree(),
                  SaveOptions{.array = {.max_replicas_for_replica_parallel = 2}});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Writers(two, "r", &elements).size(), static_cast<size_t>(std::min(size_, 2)));

  // Every variant restores bit-exact, onto another decomposition of the replicated array.
  for (const fs::path& dir : {shared, single, few, two}) {
    State back(rank_, size_, false);
    Tree t = back.ToTree();
    const Box mine = RowBlock(kReplicatedShape, rank_, size_);
    std::vector<unsigned char> block = MakeBuffer(DType::kFloat32, kReplicatedShape, mine, false);
    t["r"] = DistributedArray{DType::kFloat32, kReplicatedShape, {{mine, block.data()}}};
    auto report = ckpt->Restore(dir, t);
    ASSERT_TRUE(report.ok()) << dir << ": " << report.status().ToString();
    EXPECT_EQ(block, MakeBuffer(DType::kFloat32, kReplicatedShape, mine)) << dir;
    EXPECT_EQ(back.halves, state.halves) << dir;
    EXPECT_EQ(back.s, state.s) << dir;
  }
}

// --- Load-and-broadcast ----------------------------------------------------------------------

// Expected bytes read and received per rank for State's leaves under load-and-broadcast with
// replica ids `replica_of` (empty: holders in rank order) and `primary`.
struct Expected {
  int64_t read = 0, received = 0;
};
Expected ExpectedFlow(int rank, int size, const std::vector<int>& replica_of, int primary) {
  Expected e;
  auto account = [&](const std::vector<int>& holders, int64_t bytes) {
    if (holders.size() < 2) {
      if (!holders.empty() && holders[0] == rank) e.read += bytes;
      return;
    }
    int reader = -1;
    for (size_t i = 0; i < holders.size() && reader < 0; ++i) {
      const int id = replica_of.empty() ? static_cast<int>(i) : replica_of[holders[i]];
      if (id == primary) reader = holders[i];
    }
    if (std::find(holders.begin(), holders.end(), rank) == holders.end()) return;
    (reader == rank ? e.read : e.received) += bytes;
  };
  std::vector<int> all;
  for (int r = 0; r < size; ++r) all.push_back(r);
  account(all, 64 * 48 * kF32);
  const int blocks = std::min(size, 2);
  for (int b = 0; b < blocks; ++b) {
    std::vector<int> holders;
    for (int r = 0; r < size; ++r) {
      if (r % blocks == b) holders.push_back(r);
    }
    account(holders, RowBlock(kHalvesShape, b, blocks).NumElements() * kI32);
  }
  std::vector<int> me = {rank};
  account(me, RowBlock({40, 8}, rank, size).NumElements());
  return e;
}

TEST_F(MultihostTest, LoadAndBroadcastReadsOnThePrimaryReplicaOnly) {
  auto ckpt = MakeCheckpointer();
  ASSERT_TRUE(ckpt);
  State state(rank_, size_, true);
  const fs::path dir = dir_.path() / "lb";
  ASSERT_TRUE(ckpt->Save(dir, state.ToTree()).ok());

  // Every replica reads: each rank reads all it holds.
  {
    State back(rank_, size_, false);
    Tree t = back.ToTree();
    auto report = ckpt->Restore(dir, t);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(back == state);
    EXPECT_EQ(report->bytes_received, 0);
    EXPECT_GE(report->bytes_read, 64 * 48 * kF32);
  }
  // Load and broadcast, within a 4 KiB broadcast limit.
  RestoreOptions lb;
  lb.array.use_load_and_broadcast = true;
  lb.array.load_and_broadcast_options.broadcast_memory_limit_bytes = 4096;
  {
    State back(rank_, size_, false);
    Tree t = back.ToTree();
    auto report = ckpt->Restore(dir, t, lb);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(back == state) << "bit-exact after load-and-broadcast";
    const Expected want = ExpectedFlow(rank_, size_, {}, 0);
    EXPECT_EQ(report->bytes_read, want.read);
    EXPECT_EQ(report->bytes_received, want.received);
    EXPECT_LE(report->max_broadcast_chunk_bytes, 4096);
    if (size_ > 1) {
      EXPECT_GT(report->max_broadcast_chunk_bytes, 0);
      EXPECT_EQ(report->broadcast_transports, std::vector<std::string>{"mpi"});
    }
    // Bytes read over all ranks: each replicated piece once.
    int64_t total_read = 0;
    for (int64_t b : AllGatherInt(report->bytes_read)) total_read += b;
    EXPECT_EQ(total_read, 64 * 48 * kF32 + 32 * 16 * kI32 + 40 * 8);
  }
  // Without a mesh, replica i of a piece is its i-th holder: primary_replica_id 1 moves the
  // reading to the second holder; a replica that does not exist is an error on every rank.
  if (size_ > 1) {
    RestoreOptions second = lb;
    second.array.load_and_broadcast_options.primary_replica_id = 1;
    State back(rank_, size_, false);
    Tree t = back.ToTree();
    // "halves" at 2 ranks and "s" are held once: only pieces held by >= 2 ranks need replica 1.
    auto report = ckpt->Restore(dir, t, second);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(back == state);
    const Expected want = ExpectedFlow(rank_, size_, {}, 1);
    EXPECT_EQ(report->bytes_read, want.read);
    EXPECT_EQ(report->bytes_received, want.received);

    RestoreOptions missing = lb;
    missing.array.load_and_broadcast_options.primary_replica_id = 7;
    State none(rank_, size_, false);
    Tree t2 = none.ToTree();
    EXPECT_SAME_ERROR_ON_ALL_RANKS(ckpt->Restore(dir, t2, missing).status(),
                                   StatusCode::kInvalidArgument, "primary_replica_id");
  }
}

TEST_F(MultihostTest, LoadAndBroadcastFollowsTheCartesianMeshReplicaAxis) {
  if (size_ != 4) GTEST_SKIP() << "needs a 2x2 mesh of 4 ranks";
  MPI_Comm cart = MPI_COMM_NULL;
  int dims[2] = {2, 2}, periods[2] = {0, 0};
  ASSERT_EQ(MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart), MPI_SUCCESS);
  auto mesh = RankMeshFromCartesian(cart);
  ASSERT_TRUE(mesh.ok()) << mesh.status().ToString();
  EXPECT_EQ(mesh->shape, (std::vector<int>{2, 2}));
  EXPECT_EQ(mesh->ranks, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(RankMeshFromCartesian(MPI_COMM_WORLD).status().code(), StatusCode::kInvalidArgument);
  {
  auto cart_comm = MpiCommunicator(cart);
  ASSERT_TRUE(cart_comm.ok());
  auto c = Checkpointer::Create(*cart_comm);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  State state(rank_, size_, true);
  const fs::path dir = dir_.path() / "mesh";
  ASSERT_TRUE(c->Save(dir, state.ToTree()).ok());
  // Replicas along axis 0: replica 0 = ranks {0, 1}, replica 1 = ranks {2, 3}; ranks 0 and 2
  // hold the top half of "halves", 1 and 3 the bottom one.
  for (int primary : {0, 1}) {
    RestoreOptions lb;
    lb.array.use_load_and_broadcast = true;
    lb.array.load_and_broadcast_options.mesh = *mesh;
    lb.array.load_and_broadcast_options.replica_axis_index = 0;
    lb.array.load_and_broadcast_options.primary_replica_id = primary;
    State back(rank_, size_, false);
    Tree t = back.ToTree();
    auto report = c->Restore(dir, t, lb);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(back == state);
    const Expected want = ExpectedFlow(rank_, size_, {0, 0, 1, 1}, primary);
    EXPECT_EQ(report->bytes_read, want.read) << "primary replica " << primary;
    EXPECT_EQ(report->bytes_received, want.received) << "primary replica " << primary;
    // The other replica reads only its own unreplicated block of "s".
    if (rank_ / 2 != primary) {
      EXPECT_EQ(report->bytes_read, RowBlock({40, 8}, rank_, size_).NumElements());
    }
  }
  }
  MPI_Comm_free(&cart);
}

// --- active_processes ------------------------------------------------------------------------

TEST_F(MultihostTest, ManagerRunsOnActiveProcessesWhileTheOthersDoOtherWork) {
  std::set<int> active;
  for (int r = size_ > 1 ? 1 : 0; r < size_; ++r) active.insert(r);
  const int primary = *active.rbegin();
  CheckpointManagerOptions o;
  o.multiprocessing_options.active_processes = active;
  o.multiprocessing_options.primary_host = primary;
  o.save_options.array.use_compression = false;
  const fs::path dir = dir_.path() / "subset";
  if (!active.count(rank_)) {
    // Outside the set: refused at once, without waiting for anybody.
    const auto start = Clock::now();
    auto m = CheckpointManager::Create(comm_, dir, o);
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status().ToString();
    EXPECT_NE(m.status().message().find("does not hold rank " + std::to_string(rank_)),
              std::string::npos)
        << m.status().ToString();
    EXPECT_LT(SecondsSince(start), 1.0);
    // Meanwhile: its own MPI work on another communicator, and no cairn call.
    for (int i = 0; i < 200; ++i) {
      int v = i;
      MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_SUM, MPI_COMM_SELF);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } else {
    const int n = static_cast<int>(active.size());
    const int me = static_cast<int>(std::distance(active.begin(), active.find(rank_)));
    auto make = [&](int step, bool fill) {
      return MakeBuffer(DType::kFloat64, {24, 4}, RowBlock({24, 4}, me, n), fill && step >= 0);
    };
    {
      auto m = CheckpointManager::Create(comm_, dir, o);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      for (int step = 1; step <= 2; ++step) {
        std::vector<unsigned char> data = make(step, true);
        Tree t;
        t["w"] = DistributedArray{DType::kFloat64, {24, 4}, {{RowBlock({24, 4}, me, n), data.data()}}};
        t["step"] = Scalar(static_cast<int64_t>(step));
        auto saved = (*m)->Save(step, StandardSave{t});
        ASSERT_TRUE(saved.ok()) << saved.status().ToString();
        ASSERT_TRUE((*m)->WaitUntilFinished().ok());
      }
      EXPECT_EQ((*m)->AllSteps(), (std::vector<int64_t>{1, 2}));
      std::vector<unsigned char> back = make(-1, false);
      Tree t;
      t["w"] = DistributedArray{DType::kFloat64, {24, 4}, {{RowBlock({24, 4}, me, n), back.data()}}};
      t["step"] = Scalar(int64_t{0});
      ASSERT_TRUE((*m)->Restore(std::nullopt, StandardRestore{&t}).ok());
      EXPECT_EQ(back, make(2, true));
      EXPECT_EQ(std::get<Scalar>(t["step"].leaf()).as<int64_t>(), 2);
      // Written by the active ranks only: one entry per active rank.
      EXPECT_EQ(WrittenPerRank(dir / "2").size(), active.size());
    }
    // primary_host outside the active set: refused on every active rank.
    CheckpointManagerOptions bad = o;
    bad.multiprocessing_options.primary_host = size_ > 1 ? 0 : 5;
    auto m = CheckpointManager::Create(comm_, dir_.path() / "bad", bad);
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status().ToString();
    EXPECT_NE(m.status().message().find("primary_host"), std::string::npos)
        << m.status().ToString();
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// --- Concurrent managers ---------------------------------------------------------------------

TEST_F(MultihostTest, ConcurrentManagersWithDifferentPrefixesDoNotMix) {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> keys;  // prefix -> barrier keys seen
  auto options = [&](const std::string& prefix, bool async) {
    CheckpointManagerOptions o;
    o.multiprocessing_options.barrier_sync_key_prefix = prefix;
    o.enable_async_checkpointing = async;
    o.max_to_keep = 2;
    o.async_options.barrier_sync_fn = [&mu, &keys, prefix](std::string_view key, int) {
      std::lock_guard<std::mutex> lock(mu);
      keys[prefix].emplace_back(key);
      return OkStatus();
    };
    return o;
  };
  auto a = CheckpointManager::Create(comm_, dir_.path() / "a", options("model_a.", true));
  auto b = CheckpointManager::Create(comm_, dir_.path() / "b", options("model_b.", true));
  auto c = CheckpointManager::Create(comm_, dir_.path() / "c", options("model_c.", false));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const Shape sa = {96, 32}, sb = {17, 5, 3};
  const Box ba = RowBlock(sa, rank_, size_), bb = RowBlock(sb, rank_, size_);
  for (int step = 1; step <= 3; ++step) {
    // Different data per step: a float32 block per rank, an int16 block, a replicated scalar.
    std::vector<unsigned char> da = MakeBuffer(DType::kFloat32, sa, ba);
    std::vector<unsigned char> db = MakeBuffer(DType::kInt16, sb, bb);
    for (auto& x : da) x = static_cast<unsigned char>(x + step);
    for (auto& x : db) x = static_cast<unsigned char>(x ^ step);
    Tree ta, tb;
    ta["x"] = DistributedArray{DType::kFloat32, sa, {{ba, da.data()}}};
    tb["y"] = DistributedArray{DType::kInt16, sb, {{bb, db.data()}}};
    tb["step"] = Scalar(static_cast<int64_t>(step));
    ASSERT_TRUE((*a)->Save(step, StandardSave{ta}).ok());
    ASSERT_TRUE((*b)->Save(step * 10, StandardSave{tb}).ok());
    ASSERT_TRUE((*c)->Save(step, StandardSave{ta}).ok());
  }
  ASSERT_TRUE((*a)->WaitUntilFinished().ok());
  ASSERT_TRUE((*b)->WaitUntilFinished().ok());
  EXPECT_EQ((*a)->AllSteps(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*b)->AllSteps(), (std::vector<int64_t>{20, 30}));
  EXPECT_EQ((*c)->AllSteps(), (std::vector<int64_t>{2, 3}));
  std::vector<unsigned char> da = MakeBuffer(DType::kFloat32, sa, ba, false);
  std::vector<unsigned char> db = MakeBuffer(DType::kInt16, sb, bb, false);
  Tree ta, tb;
  ta["x"] = DistributedArray{DType::kFloat32, sa, {{ba, da.data()}}};
  tb["y"] = DistributedArray{DType::kInt16, sb, {{bb, db.data()}}};
  tb["step"] = Scalar(int64_t{0});
  ASSERT_TRUE((*a)->Restore(std::nullopt, StandardRestore{&ta}).ok());
  ASSERT_TRUE((*b)->Restore(std::nullopt, StandardRestore{&tb}).ok());
  std::vector<unsigned char> wa = MakeBuffer(DType::kFloat32, sa, ba);
  std::vector<unsigned char> wb = MakeBuffer(DType::kInt16, sb, bb);
  for (auto& x : wa) x = static_cast<unsigned char>(x + 3);
  for (auto& x : wb) x = static_cast<unsigned char>(x ^ 3);
  wa.back() = da.back();  // the sentinel byte past the data
  wb.back() = db.back();
  EXPECT_EQ(da, wa);
  EXPECT_EQ(db, wb);
  // Every barrier of a manager carries its own prefix.
  std::lock_guard<std::mutex> lock(mu);
  for (const char* prefix : {"model_a.", "model_b.", "model_c."}) {
    ASSERT_FALSE(keys[prefix].empty()) << prefix;
    for (const auto& k : keys[prefix]) {
      EXPECT_EQ(k.rfind(std::string(prefix) + "cairn.", 0), 0u) << k;
    }
  }
}

// --- Timeouts --------------------------------------------------------------------------------

TEST_F(MultihostTest, ARankThatSleepsPastTheTimeoutIsNamedOnEveryOtherRank) {
  if (size_ < 2) GTEST_SKIP() << "needs a second rank to wait for";
  CheckpointManagerOptions o;
  o.enable_async_checkpointing = false;
  o.async_options.timeout_secs = 2;
  o.save_options.array.use_compression = false;
  auto m = CheckpointManager::Create(comm_, dir_.path() / "late", o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const int sleeper = size_ - 1;
  std::vector<unsigned char> data = MakeBuffer(DType::kInt32, {16}, RowBlock({16}, rank_, size_));
  Tree t;
  t["v"] = DistributedArray{DType::kInt32, {16}, {{RowBlock({16}, rank_, size_), data.data()}}};
  // The sleeper arrives 4 s late at the save decision (a collective of the manager).
  if (rank_ == sleeper) std::this_thread::sleep_for(std::chrono::seconds(4));
  auto start = Clock::now();
  auto saved = (*m)->Save(1, StandardSave{t});
  const double waited = SecondsSince(start);
  EXPECT_EQ(saved.status().code(), StatusCode::kDeadlineExceeded) << saved.status().ToString();
  if (rank_ != sleeper) {
    EXPECT_NE(saved.status().message().find("rank " + std::to_string(sleeper)), std::string::npos)
        << saved.status().ToString();
    EXPECT_NE(saved.status().message().find("did not arrive"), std::string::npos)
        << saved.status().ToString();
    EXPECT_LT(waited, 2 + 3.0);
  }
  // The communicator is still usable: the next save succeeds on every rank.
  MPI_Barrier(MPI_COMM_WORLD);
  auto again = (*m)->Save(2, StandardSave{t});
  EXPECT_TRUE(again.ok()) << again.status().ToString();

  // The same in a restore.
  if (rank_ == sleeper) std::this_thread::sleep_for(std::chrono::seconds(4));
  start = Clock::now();
  Status st = (*m)->Restore(2, StandardRestore{&t});
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
  if (rank_ != sleeper) {
    EXPECT_NE(st.message().find("rank " + std::to_string(sleeper)), std::string::npos)
        << st.ToString();
    EXPECT_LT(SecondsSince(start), 2 + 3.0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// --- primary_host none -----------------------------------------------------------------------

TEST_F(MultihostTest, EveryRankPrimaryWritesAndRestoresItsOwnCopy) {
  CheckpointerOptions o;
  o.multiprocessing.primary_host = std::nullopt;
  auto ckpt = MakeCheckpointer(o);
  ASSERT_TRUE(ckpt);
  State state(rank_, size_, true);
  // Node-local storage: a directory of each rank's own.
  const fs::path mine = dir_.path() / ("local_" + std::to_string(rank_)) / "ckpt";
  Status st = ckpt->Save(mine, state.ToTree());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(fs::exists(mine / "commit_success.txt") || IsCommittedCheckpoint(mine));
  // This copy holds this rank's pieces only: the replicated array whole, its own blocks.
  int64_t elements = 0;
  EXPECT_EQ(Writers(mine, "r", &elements), (std::set<int>{0}));
  EXPECT_EQ(elements, 64 * 48);
  Writers(mine, "s", &elements);
  EXPECT_EQ(elements, state.s_box.NumElements());
  State back(rank_, size_, false);
  Tree t = back.ToTree();
  auto report = ckpt->Restore(mine, t);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(back == state);
  if (size_ > 1) {
    // Another rank's block is not in this rank's copy: an error on every rank.
    const Box other = RowBlock({40, 8}, (rank_ + 1) % size_, size_);
    std::vector<unsigned char> buf = MakeBuffer(DType::kUint8, {40, 8}, other, false);
    Tree t2 = back.ToTree();
    t2["s"] = DistributedArray{DType::kUint8, {40, 8}, {{other, buf.data()}}};
    Status missing = ckpt->Restore(mine, t2).status();
    EXPECT_FALSE(missing.ok());
    auto all = AllStatuses(missing);
    for (size_t r = 1; r < all.size(); ++r) EXPECT_EQ(all[r], all[0]);
    // A failure on one rank's own storage fails the save on every rank.
    const fs::path blocked = dir_.path() / ("blocked_" + std::to_string(rank_));
    if (rank_ == size_ - 1) {
      fs::create_directories(blocked.parent_path());
      std::ofstream(blocked) << "a file where the parent directory should be";
    }
    Status bad = ckpt->Save(blocked / "ckpt", state.ToTree());
    EXPECT_FALSE(bad.ok());
    all = AllStatuses(bad);
    for (size_t r = 1; r < all.size(); ++r) EXPECT_EQ(all[r], all[0]);
  }
  // A manager over node-local copies: the same steps everywhere.
  CheckpointManagerOptions mo;
  mo.multiprocessing_options.primary_host = std::nullopt;
  auto m = CheckpointManager::Create(comm_, dir_.path() / ("steps_" + std::to_string(rank_)), mo);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (int step : {5, 6}) ASSERT_TRUE((*m)->Save(step, StandardSave{state.ToTree()}).ok());
  ASSERT_TRUE((*m)->WaitUntilFinished().ok());
  EXPECT_EQ((*m)->AllSteps(), (std::vector<int64_t>{5, 6}));
  State again(rank_, size_, false);
  Tree t3 = again.ToTree();
  ASSERT_TRUE((*m)->Restore(std::nullopt, StandardRestore{&t3}).ok());
  EXPECT_TRUE(again == state);
}

// --- CUDA device memory ----------------------------------------------------------------------

TEST_F(MultihostTest, RestoresIntoCudaDeviceMemory) {
#if !CAIRN_HAVE_CUDA
  GTEST_SKIP() << "cairn was built without CUDA";
#else
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    GTEST_SKIP() << "no CUDA device on this machine";
  }
  if (devices < size_) GTEST_SKIP() << "one GPU per rank needed: " << devices << " for " << size_;
  ASSERT_EQ(cudaSetDevice(rank_ % devices), cudaSuccess);
  auto ckpt = MakeCheckpointer();
  ASSERT_TRUE(ckpt);
  const Shape shape = {256, 64};
  const std::vector<unsigned char> host = MakeBuffer(DType::kFloat32, shape, {{0, 0}, shape});
  const size_t bytes = host.size() - 1;
  void* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, bytes), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dev, host.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
  Tree t;
  t["w"] = DistributedArray::Replicated(DType::kFloat32, shape, dev);
  const fs::path dir = dir_.path() / "device";
  Status st = ckpt->Save(dir, t);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(cudaMemset(dev, 0, bytes), cudaSuccess);
  for (bool lb : {false, true}) {
    RestoreOptions ro;
    ro.array.use_load_and_broadcast = lb;
    auto report = ckpt->Restore(dir, t, ro);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    std::vector<unsigned char> back(bytes);
    ASSERT_EQ(cudaMemcpy(back.data(), dev, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), host.begin())) << "load_and_broadcast " << lb;
    if (lb && size_ > 1) {
      EXPECT_EQ(report->broadcast_transports, std::vector<std::string>{"nccl"});
    }
    ASSERT_EQ(cudaMemset(dev, 0, bytes), cudaSuccess);
  }
  cudaFree(dev);
#endif
}

}  // namespace
}  // namespace cairn::testing
