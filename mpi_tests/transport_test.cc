// The broadcast transports of load-and-broadcast (src/comm/broadcast_transport.h) at 1, 2 and 4
// ranks: the MPI transport over the whole communicator and over groups cut with MPI_Comm_split,
// from root 0 and from non-zero group roots, in chunks no larger than chunk_bytes, odd sizes,
// 0 bytes and bad arguments (the same error on every member, and the group still usable after);
// the NCCL transport: Unavailable in a build without NCCL, FailedPrecondition without a GPU, and
// with GPUs (one rank per GPU) device buffers broadcast bit-exactly in chunks. Also the
// device_memory.h helpers the load path uses (CopyHostToDevice, available host/device memory).
//
// Built a second time with CAIRN_TRANSPORT_TEST_SELF: a plain gtest main, no MPI_Init, the group
// is SelfCommunicator() and the MPI_Comm_split tests are skipped. That build runs where no MPI
// runtime is installed (a bare GPU machine), so the NCCL tests can run there too.
#include "cairn_config.h"
#if CAIRN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#include <gtest/gtest.h>
#ifndef CAIRN_TRANSPORT_TEST_SELF
#include <mpi.h>

#include "cairn/mpi.h"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cairn/communicator.h"
#include "checkpoint/device_memory.h"
#include "comm/broadcast_transport.h"

namespace cairn::comm {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGuard = 64;  // bytes past the broadcast range that must stay untouched

std::shared_ptr<Communicator> World() {
#ifdef CAIRN_TRANSPORT_TEST_SELF
  return SelfCommunicator();
#else
  auto c = MpiCommunicator(MPI_COMM_WORLD);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
#endif
}

#ifndef CAIRN_TRANSPORT_TEST_SELF
// A group cut from the world: MPI_Comm_split(color, key), wrapped as a cairn communicator.
std::shared_ptr<Communicator> Split(int color, int key) {
  MPI_Comm split = MPI_COMM_NULL;
  if (MPI_Comm_split(MPI_COMM_WORLD, color, key, &split) != MPI_SUCCESS) return nullptr;
  auto c = MpiCommunicator(split);  // a duplicate: the split itself can go
  MPI_Comm_free(&split);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}
#endif

// Byte i of the content that root `seed` broadcasts: a hash, so a chunk landing at the wrong
// offset does not match.
uint8_t PatternByte(size_t i, uint64_t seed) {
  uint64_t x = (static_cast<uint64_t>(i) ^ (seed << 40)) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> 56);
}
std::vector<uint8_t> Pattern(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = PatternByte(i, seed);
  return v;
}

// A host buffer of `bytes` + kGuard: root holds the pattern and guard bytes 0xA5, the others
// 0x00 and 0x5A; after the broadcast everyone must hold the pattern and keep their own guard.
std::vector<uint8_t> InitialBuffer(size_t bytes, bool is_root, uint64_t seed) {
  std::vector<uint8_t> buf = is_root ? Pattern(bytes, seed) : std::vector<uint8_t>(bytes, 0);
  buf.resize(bytes + kGuard, is_root ? 0xA5 : 0x5A);
  return buf;
}
void ExpectBroadcastResult(const std::vector<uint8_t>& buf, size_t bytes, bool is_root,
                           uint64_t seed, const std::string& what) {
  const std::vector<uint8_t> want = Pattern(bytes, seed);
  ASSERT_EQ(buf.size(), bytes + kGuard);
  const auto mismatch = std::mismatch(want.begin(), want.end(), buf.begin());
  EXPECT_TRUE(mismatch.first == want.end()) << what << ": first wrong byte at offset "
                                            << (mismatch.first - want.begin()) << " of " << bytes;
  const uint8_t guard = is_root ? 0xA5 : 0x5A;
  EXPECT_TRUE(std::all_of(buf.begin() + bytes, buf.end(), [&](uint8_t b) { return b == guard; }))
      << what << ": bytes past the broadcast range were overwritten";
}

// Asserts that every member of `group` returned the very same Status.
void ExpectSameOnEveryMember(Communicator& group, const Status& s) {
  auto all = group.AllGather(s.ToString());
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  for (int r = 0; r < group.size(); ++r) {
    EXPECT_EQ((*all)[r], s.ToString()) << "group rank " << r << " returned another status";
  }
}

// Broadcast `bytes` from `root` over `group` with the MPI transport and check every member.
void CheckMpiBroadcast(const std::shared_ptr<Communicator>& group, size_t bytes, int root,
                       size_t chunk, uint64_t seed, const std::string& what) {
  auto t = MakeMpiTransport(group);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const bool is_root = group->rank() == root;
  std::vector<uint8_t> buf = InitialBuffer(bytes, is_root, seed);
  Status st = (*t)->Broadcast(buf.data(), bytes, root, chunk);
  ASSERT_TRUE(st.ok()) << what << ": " << st.ToString();
  ExpectBroadcastResult(buf, bytes, is_root, seed, what);
  EXPECT_LE((*t)->max_chunk_bytes(), chunk) << what;
  if (group->kind() == "MPI") {
    EXPECT_EQ((*t)->max_chunk_bytes(), std::min(chunk, bytes)) << what;
  }
}

TEST(MpiTransportTest, BroadcastsOverTheWholeCommunicatorInChunks) {
  auto world = World();
  ASSERT_NE(world, nullptr);
  for (int root : {0, world->size() - 1}) {
    CheckMpiBroadcast(world, 10 * kMiB, root, kMiB, 7 + root,
                      "10 MiB from root " + std::to_string(root));
  }
  auto t = MakeMpiTransport(world);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->name(), "mpi");
}

TEST(MpiTransportTest, BroadcastsWithinSplitGroupsFromNonZeroRoots) {
  auto world = World();
  ASSERT_NE(world, nullptr);
#ifdef CAIRN_TRANSPORT_TEST_SELF
  GTEST_SKIP() << "groups are cut with MPI_Comm_split (MPI build only)";
#else
  const int rank = world->rank(), size = world->size();
  // Even and odd world ranks, each group rooted at its last member (world rank 2 in {0, 2}).
  {
    auto group = Split(rank % 2, rank);
    ASSERT_NE(group, nullptr);
    const int root = group->size() - 1;
    CheckMpiBroadcast(
        group, 10 * kMiB, root, kMiB, 100 + rank % 2,
        "even/odd group " + std::to_string(rank % 2) + " from group root " + std::to_string(root));
  }
  // The whole world in reverse order, rooted at group rank size/2 (world rank size-1-size/2).
  {
    auto group = Split(0, size - 1 - rank);
    ASSERT_NE(group, nullptr);
    EXPECT_EQ(group->rank(), size - 1 - rank);
    CheckMpiBroadcast(group, 10 * kMiB + 3, size / 2, kMiB, 200,
                      "reversed world from group root " + std::to_string(size / 2));
  }
#endif
}

TEST(MpiTransportTest, OddSizesLeaveBytesPastTheEndAlone) {
  auto world = World();
  ASSERT_NE(world, nullptr);
  const int last = world->size() - 1;
  const std::vector<std::tuple<size_t, size_t>> cases = {
      {10 * kMiB + 12345, kMiB}, {3 * kMiB - 1, kMiB}, {10007, 1000}, {100, kMiB}, {5, 1}};
  for (const auto& [bytes, chunk] : cases) {
    CheckMpiBroadcast(world, bytes, last, chunk, bytes,
                      std::to_string(bytes) + " bytes in chunks of " + std::to_string(chunk));
  }
}

TEST(MpiTransportTest, ZeroBytesMovesNothing) {
  auto world = World();
  ASSERT_NE(world, nullptr);
  auto t = MakeMpiTransport(world);
  ASSERT_TRUE(t.ok());
  Status st = (*t)->Broadcast(nullptr, 0, world->size() - 1, kMiB);
  EXPECT_TRUE(st.ok()) << st.ToString();
  uint8_t byte = world->rank() == 0 ? 1 : 2;
  st = (*t)->Broadcast(&byte, 0, 0, kMiB);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(byte, world->rank() == 0 ? 1 : 2);
  EXPECT_EQ((*t)->max_chunk_bytes(), 0u);
}

TEST(MpiTransportTest, BadArgumentsFailOnEveryMemberAndLeaveTheGroupUsable) {
  auto world = World();
  ASSERT_NE(world, nullptr);
  auto t = MakeMpiTransport(world);
  ASSERT_TRUE(t.ok());
  const int rank = world->rank(), size = world->size();
  std::vector<uint8_t> buf(1000, 1);

  Status st = (*t)->Broadcast(buf.data(), buf.size(), 0, 0);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("mpi transport (group rank 0 of " + std::to_string(size) +
                              "): chunk_bytes must be > 0"),
            std::string::npos)
      << st.ToString();
  ExpectSameOnEveryMember(*world, st);

  st = (*t)->Broadcast(buf.data(), buf.size(), size, kMiB);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("is not a rank of the group"), std::string::npos) << st.ToString();
  ExpectSameOnEveryMember(*world, st);

  // Only the last member has no buffer: the error names it, and nobody moved any data.
  st = (*t)->Broadcast(rank == size - 1 ? nullptr : buf.data(), buf.size(), 0, kMiB);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("(group rank " + std::to_string(size - 1) + " of " +
                              std::to_string(size) + "): null buffer"),
            std::string::npos)
      << st.ToString();
  ExpectSameOnEveryMember(*world, st);

  if (size > 1) {
    st = (*t)->Broadcast(buf.data(), rank == 0 ? 100 : 200, 0, kMiB);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find("disagree on bytes (from 100 to 200)"), std::string::npos)
        << st.ToString();
    ExpectSameOnEveryMember(*world, st);
  }
  EXPECT_EQ((*t)->max_chunk_bytes(), 0u) << "no data may move after a failed check";

  // The group is still in step: a good broadcast goes through.
  CheckMpiBroadcast(world, 4097, size - 1, 1024, 42, "after the errors");
}

TEST(MpiTransportTest, SingleProcessCommunicatorLeavesTheBytesInPlace) {
  auto t = MakeMpiTransport(SelfCommunicator());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::vector<uint8_t> buf = Pattern(3 * kMiB + 1, 5);
  EXPECT_TRUE((*t)->Broadcast(buf.data(), buf.size(), 0, kMiB).ok());
  EXPECT_EQ(buf, Pattern(3 * kMiB + 1, 5));
  Status st = (*t)->Broadcast(buf.data(), buf.size(), 1, kMiB);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
}

TEST(MpiTransportTest, NullGroupIsRejected) {
  auto t = MakeMpiTransport(nullptr);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
}

// ---- NCCL --------------------------------------------------------------------------------------

// CUDA devices this process sees; `why` says why there are none.
int CudaDevices(std::string* why) {
#if CAIRN_HAVE_CUDA
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    *why = std::string("no CUDA device: cudaGetDeviceCount: ") + cudaGetErrorString(err);
    return 0;
  }
  if (n == 0) *why = "no CUDA device: cudaGetDeviceCount found 0";
  return n;
#else
  *why = "cairn was built without CUDA";
  return 0;
#endif
}

TEST(NcclTransportTest, AnswersUnavailableWhenNotBuiltWithNccl) {
#if CAIRN_HAVE_NCCL
  GTEST_SKIP() << "cairn was built with NCCL";
#else
  auto t = MakeNcclTransport(World());
  EXPECT_EQ(t.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(t.status().message(), "cairn was built without NCCL");
#endif
}

TEST(NcclTransportTest, FailsOnEveryMemberWithoutAGpu) {
#if !CAIRN_HAVE_NCCL
  GTEST_SKIP() << "cairn was built without NCCL";
#else
  std::string why;
  if (const int n = CudaDevices(&why); n > 0) {
    GTEST_SKIP() << "this machine has " << n << " CUDA device(s)";
  }
  auto world = World();
  ASSERT_NE(world, nullptr);
  auto t = MakeNcclTransport(world);
  EXPECT_EQ(t.status().code(), StatusCode::kFailedPrecondition) << t.status().ToString();
  EXPECT_NE(t.status().message().find("nccl transport (group rank 0 of "), std::string::npos)
      << t.status().ToString();
  EXPECT_NE(t.status().message().find("no CUDA device"), std::string::npos)
      << t.status().ToString();
  ExpectSameOnEveryMember(*world, t.status());
#endif
}

#if CAIRN_HAVE_NCCL
// Broadcast `bytes` in device memory from `root` over `group`, checked bit-exactly on the host.
void CheckNcclBroadcast(BroadcastTransport& t, Communicator& group, size_t bytes, int root,
                        size_t chunk, uint64_t seed, const std::string& what) {
  const bool is_root = group.rank() == root;
  std::vector<uint8_t> host = InitialBuffer(bytes, is_root, seed);
  void* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, host.size()), cudaSuccess);
  ASSERT_TRUE(checkpoint::CopyHostToDevice(dev, host.data(), host.size()).ok());
  Status st = t.Broadcast(dev, bytes, root, chunk);
  EXPECT_TRUE(st.ok()) << what << ": " << st.ToString();
  std::vector<uint8_t> back(host.size());
  EXPECT_TRUE(checkpoint::CopyDeviceToHost(back.data(), dev, back.size()).ok());
  cudaFree(dev);
  if (st.ok()) ExpectBroadcastResult(back, bytes, is_root, seed, what);
}
#endif

TEST(NcclTransportTest, BroadcastsDeviceMemoryInChunks) {
#if !CAIRN_HAVE_NCCL
  GTEST_SKIP() << "cairn was built without NCCL";
#else
  auto world = World();
  ASSERT_NE(world, nullptr);
  std::string why;
  const int devices = CudaDevices(&why);
  if (devices == 0) GTEST_SKIP() << why;
  if (world->size() > devices) {
    GTEST_SKIP() << world->size() << " ranks but " << devices
                 << " CUDA device(s): NCCL needs one GPU per rank";
  }
  const int device = world->rank() % devices;
  ASSERT_EQ(cudaSetDevice(device), cudaSuccess);  // the test's buffers live there too
  auto made = MakeNcclTransport(world, device);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  BroadcastTransport& t = **made;
  EXPECT_EQ(t.name(), "nccl");
  const int last = world->size() - 1;
  const std::vector<std::tuple<size_t, size_t, int>> cases = {
      {10 * kMiB, kMiB, last}, {10 * kMiB + 12345, kMiB, 0}, {10007, 1000, last}, {1, kMiB, 0}};
  for (const auto& [bytes, chunk, root] : cases) {
    CheckNcclBroadcast(t, *world, bytes, root, chunk, bytes + root,
                       std::to_string(bytes) + " bytes in chunks of " + std::to_string(chunk) +
                           " from root " + std::to_string(root));
  }
  EXPECT_EQ(t.max_chunk_bytes(), kMiB);

  Status st = t.Broadcast(nullptr, 0, 0, kMiB);
  EXPECT_TRUE(st.ok()) << st.ToString();

  // Host memory is refused on every member before anything moves.
  std::vector<uint8_t> host(4096);
  st = t.Broadcast(host.data(), host.size(), 0, kMiB);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("the buffer is host memory"), std::string::npos) << st.ToString();
  ExpectSameOnEveryMember(*world, st);

#ifndef CAIRN_TRANSPORT_TEST_SELF
  // Even/odd groups (MPI build): each group has its own NCCL communicator and content.
  {
    auto group = Split(world->rank() % 2, world->rank());
    ASSERT_NE(group, nullptr);
    auto g = MakeNcclTransport(group, device);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    CheckNcclBroadcast(**g, *group, 10 * kMiB + 1, group->size() - 1, kMiB, 300 + world->rank() % 2,
                       "even/odd group");
    EXPECT_EQ((*g)->max_chunk_bytes(), kMiB);
  }
#endif
#endif
}

TEST(NcclTransportTest, RejectsADeviceThisProcessDoesNotHave) {
#if !CAIRN_HAVE_NCCL
  GTEST_SKIP() << "cairn was built without NCCL";
#else
  std::string why;
  const int devices = CudaDevices(&why);
  if (devices == 0) GTEST_SKIP() << why;
  auto world = World();
  ASSERT_NE(world, nullptr);
  auto t = MakeNcclTransport(world, devices);
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << t.status().ToString();
  ExpectSameOnEveryMember(*world, t.status());
#endif
}

// ---- device_memory.h helpers of the load path --------------------------------------------------

TEST(TransportDeviceMemoryTest, AvailableHostMemoryIsReadFromProcMeminfo) {
  const int64_t avail = checkpoint::AvailableHostMemory();
  EXPECT_GT(avail, 0);
  EXPECT_EQ(avail % 1024, 0) << "MemAvailable is given in kB";
}

TEST(TransportDeviceMemoryTest, HostMemoryHasNoDeviceMemoryFigure) {
  std::vector<uint8_t> host(16);
  EXPECT_EQ(checkpoint::AvailableDeviceMemory(host.data()), std::nullopt);
}

TEST(TransportDeviceMemoryTest, CopiesHostToDeviceAndBack) {
#if !CAIRN_HAVE_CUDA
  std::vector<uint8_t> host(16);
  EXPECT_EQ(checkpoint::CopyHostToDevice(host.data(), host.data(), host.size()).code(),
            StatusCode::kUnimplemented);
  GTEST_SKIP() << "cairn was built without CUDA";
#else
  std::string why;
  const int devices = CudaDevices(&why);
  if (devices == 0) GTEST_SKIP() << why;
  auto world = World();
  ASSERT_NE(world, nullptr);
  ASSERT_EQ(cudaSetDevice(world->rank() % devices), cudaSuccess);
  const std::vector<uint8_t> host = Pattern(5 * kMiB + 3, 11);
  void* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, host.size()), cudaSuccess);
  ASSERT_TRUE(checkpoint::IsDeviceMemory(dev));
  Status st = checkpoint::CopyHostToDevice(dev, host.data(), host.size());
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<uint8_t> back(host.size());
  st = checkpoint::CopyDeviceToHost(back.data(), dev, back.size());
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back, host);
  const std::optional<int64_t> free_bytes = checkpoint::AvailableDeviceMemory(dev);
  size_t free_now = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_now, &total), cudaSuccess);
  ASSERT_TRUE(free_bytes.has_value());
  EXPECT_GT(*free_bytes, 0);
  EXPECT_LE(*free_bytes, static_cast<int64_t>(total));
  cudaFree(dev);
#endif
}

}  // namespace
}  // namespace cairn::comm
