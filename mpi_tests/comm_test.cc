// The communicator at 1, 2 and 4 ranks: collectives with and without a timeout, Subset while the
// other ranks do something else, BroadcastBytes, and deadlines: a late rank (or a late root) is
// named on every rank, nobody enters the real collective, and the communicator stays usable; a
// collective abandoned after everyone arrived breaks the communicator.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "comm/mpi_native.h"
#include "mpi_tests/test_util.h"

namespace cairn::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool Contains(const Status& s, std::string_view needle) {
  return s.message().find(needle) != std::string::npos;
}

// Every collective, checked against the values it must give; `tag` makes each call's data
// differ.
void ExpectCollectivesWork(Communicator& comm, int tag) {
  const int rank = comm.rank(), size = comm.size();
  EXPECT_TRUE(comm.Barrier().ok());

  std::string text = rank == size - 1 ? "from the last rank " + std::to_string(tag) : "";
  ASSERT_TRUE(comm.Broadcast(text, size - 1).ok());
  EXPECT_EQ(text, "from the last rank " + std::to_string(tag));

  auto all = comm.AllGather(std::string(static_cast<size_t>(rank), 'a' + tag % 26));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) EXPECT_EQ((*all)[r], std::string(r, 'a' + tag % 26));

  // Personalized exchange: rank r sends (r + 3 * d + tag) % 5 bytes of 'A' + r to rank d (some
  // empty), so every pair's message differs in length and content.
  std::vector<std::string> out(static_cast<size_t>(size));
  for (int d = 0; d < size; ++d) out[d] = std::string((rank + 3 * d + tag) % 5, 'A' + rank);
  auto got = comm.AllToAll(out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) {
    EXPECT_EQ((*got)[r], std::string((r + 3 * rank + tag) % 5, 'A' + r)) << "from rank " << r;
  }
  EXPECT_EQ(comm.AllToAll(std::vector<std::string>(static_cast<size_t>(size) + 1)).status().code(),
            StatusCode::kInvalidArgument);

  std::vector<int64_t> mn = {rank + tag, -rank}, mx = mn, sum = mn;
  ASSERT_TRUE(comm.AllReduceMin(mn).ok());
  ASSERT_TRUE(comm.AllReduceMax(mx).ok());
  ASSERT_TRUE(comm.AllReduceSum(sum).ok());
  EXPECT_EQ(mn, (std::vector<int64_t>{tag, -(size - 1)}));
  EXPECT_EQ(mx, (std::vector<int64_t>{size - 1 + tag, 0}));
  const int64_t ranks_sum = static_cast<int64_t>(size) * (size - 1) / 2;
  EXPECT_EQ(sum, (std::vector<int64_t>{ranks_sum + int64_t{size} * tag, -ranks_sum}));

  auto dup = comm.Duplicate();
  ASSERT_TRUE(dup.ok()) << dup.status().ToString();
  EXPECT_EQ((*dup)->size(), size);
  EXPECT_EQ((*dup)->rank(), rank);
  std::vector<int64_t> one = {1};
  ASSERT_TRUE((*dup)->AllReduceSum(one).ok());
  EXPECT_EQ(one[0], size);
}

TEST(CommTest, CollectivesWithoutTimeout) {
  auto comm = World();
  EXPECT_EQ(comm->phase(), "");
  ExpectCollectivesWork(*comm, 3);
}

// Messages over a round (1 GiB / size per pair) go in several rounds. Disabled: it moves
// gigabytes; run with --gtest_also_run_disabled_tests at 2 or 4 ranks.
TEST(CommTest, DISABLED_AllToAllInRounds) {
  auto comm = World();
  const int rank = comm->rank(), size = comm->size();
  const size_t big = (size_t{1} << 30) / static_cast<size_t>(size) * 2 + 12345;
  std::vector<std::string> out(static_cast<size_t>(size));
  const int to = (rank + 1) % size;
  out[to].resize(big);
  for (size_t i = 0; i < big; ++i) out[to][i] = static_cast<char>((i * 7 + rank) % 251);
  out[rank] = "self";
  auto got = comm->AllToAll(std::move(out));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const int from = (rank + size - 1) % size;
  if (from != rank) {
    EXPECT_EQ((*got)[rank], "self");
    const std::string& in = (*got)[from];
    ASSERT_EQ(in.size(), big);
    size_t bad = 0;
    for (size_t i = 0; i < big; ++i) bad += in[i] != static_cast<char>((i * 7 + from) % 251);
    EXPECT_EQ(bad, 0u);
  }
}

TEST(CommTest, CollectivesWithTimeoutWhenEveryoneIsOnTime) {
  auto comm = World();
  comm->SetTimeout(5s);
  comm->SetPhase("test.on_time");
  EXPECT_EQ(comm->phase(), "test.on_time");
  for (int i = 0; i < 3; ++i) ExpectCollectivesWork(*comm, i);
  // AgreeWithin shares the sequence numbers of the gate.
  EXPECT_TRUE(comm->AgreeWithin(OkStatus(), "test.agree", 5s, comm->size() - 1).ok());
  ExpectCollectivesWork(*comm, 7);
  // And back to plain blocking collectives.
  comm->SetTimeout(std::nullopt);
  ExpectCollectivesWork(*comm, 8);
}

TEST(CommTest, SelfCommunicator) {
  auto self = SelfCommunicator();
  self->SetTimeout(1ms);
  self->SetPhase("test.self");
  EXPECT_EQ(self->phase(), "test.self");
  ExpectCollectivesWork(*self, 1);
  char bytes[3] = {1, 2, 3};
  EXPECT_TRUE(self->BroadcastBytes(bytes, sizeof bytes, 0).ok());
  EXPECT_EQ(self->BroadcastBytes(bytes, sizeof bytes, 1).code(), StatusCode::kInvalidArgument);
  auto sub = self->Subset({0});
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ((*sub)->size(), 1);
  EXPECT_EQ((*sub)->phase(), "test.self");
  EXPECT_EQ(self->Subset({1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(self->Subset({}).status().code(), StatusCode::kInvalidArgument);
}

// --- BroadcastBytes -----------------------------------------------------------------------------

void ExpectBroadcastBytesExact(Communicator& comm) {
  const size_t n = (size_t{5} << 20) + 17;  // more than one chunk of the deadline path
  const int root = comm.size() - 1;         // non-zero from 2 ranks on
  std::vector<unsigned char> expected(n), buf(n, 0);
  for (size_t i = 0; i < n; ++i) expected[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
  if (comm.rank() == root) buf = expected;
  ASSERT_TRUE(comm.BroadcastBytes(buf.data(), n, root).ok());
  EXPECT_TRUE(buf == expected) << "rank " << comm.rank() << " got different bytes";
  EXPECT_TRUE(comm.BroadcastBytes(nullptr, 0, root).ok());
  Status bad = comm.BroadcastBytes(buf.data(), n, comm.size());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument) << bad.ToString();
  EXPECT_TRUE(Contains(bad, std::to_string(comm.size()))) << bad.ToString();
}

TEST(CommTest, BroadcastBytesIsBitExactFromTheLastRank) {
  auto comm = World();
  ExpectBroadcastBytesExact(*comm);
}

TEST(CommTest, BroadcastBytesIsBitExactWithTimeout) {
  auto comm = World();
  comm->SetTimeout(10s);
  ExpectBroadcastBytesExact(*comm);
}

// --- Subset -------------------------------------------------------------------------------------

// {1, 3} at 4 ranks, {1} at 2, {0} at 1; the others form their own subset, listed backwards.
std::vector<int> Members(int size) {
  if (size >= 4) return {1, 3};
  if (size == 2) return {1};
  return {0};
}
std::vector<int> Others(int size) {
  std::vector<int> members = Members(size), others;
  for (int r = size - 1; r >= 0; --r) {
    if (std::find(members.begin(), members.end(), r) == members.end()) others.push_back(r);
  }
  return others;
}

// Subset of `list` (which contains the caller): ranks map, and its collectives give the right
// values over the listed world ranks only.
void ExpectSubsetWorks(Communicator& comm, const std::vector<int>& list) {
  auto sub = comm.Subset(list);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  Communicator& s = **sub;
  ASSERT_EQ(s.size(), static_cast<int>(list.size()));
  ASSERT_EQ(list[s.rank()], comm.rank());
  EXPECT_EQ(s.phase(), comm.phase());

  auto all = s.AllGather("world rank " + std::to_string(comm.rank()));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ((*all)[i], "world rank " + std::to_string(list[i]));
  }
  std::vector<int64_t> v = {comm.rank(), 1};
  ASSERT_TRUE(s.AllReduceSum(v).ok());
  int64_t expected = 0;
  for (int r : list) expected += r;
  EXPECT_EQ(v, (std::vector<int64_t>{expected, static_cast<int64_t>(list.size())}));
  std::string text =
      s.rank() == s.size() - 1 ? "from world rank " + std::to_string(list.back()) : "";
  ASSERT_TRUE(s.Broadcast(text, s.size() - 1).ok());
  EXPECT_EQ(text, "from world rank " + std::to_string(list.back()));
  EXPECT_TRUE(s.Barrier().ok());
}

TEST(CommTest, SubsetsWorkSideBySide) {
  auto comm = World();
  const std::vector<int> members = Members(comm->size()), others = Others(comm->size());
  const bool in = std::find(members.begin(), members.end(), comm->rank()) != members.end();
  ExpectSubsetWorks(*comm, in ? members : others);
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(CommTest, SubsetsWithTimeoutWorkSideBySide) {
  auto comm = World();
  comm->SetTimeout(10s);
  comm->SetPhase("test.subset");
  const std::vector<int> members = Members(comm->size()), others = Others(comm->size());
  const bool in = std::find(members.begin(), members.end(), comm->rank()) != members.end();
  if (!in) std::this_thread::sleep_for(200ms);  // the members start first
  ExpectSubsetWorks(*comm, in ? members : others);
  // Then the whole communicator again: the subsets' agreements did not shift its sequence.
  ExpectCollectivesWork(*comm, 5);
}

TEST(CommTest, SubsetWhileTheOthersSleep) {
  auto comm = World();
  comm->SetTimeout(10s);
  const std::vector<int> members = Members(comm->size());
  if (std::find(members.begin(), members.end(), comm->rank()) != members.end()) {
    ExpectSubsetWorks(*comm, members);
  } else {
    std::this_thread::sleep_for(500ms);
  }
  ExpectCollectivesWork(*comm, 6);
}

TEST(CommTest, SubsetRejectsBadRankLists) {
  auto comm = World();
  const int size = comm->size(), rank = comm->rank();
  auto expect_bad = [&](const std::vector<int>& list, const std::string& needle) {
    auto sub = comm->Subset(list);
    ASSERT_FALSE(sub.ok());
    EXPECT_EQ(sub.status().code(), StatusCode::kInvalidArgument) << sub.status().ToString();
    EXPECT_TRUE(Contains(sub.status(), needle)) << sub.status().ToString();
  };
  expect_bad({}, "empty");
  expect_bad({rank, size}, "rank " + std::to_string(size) + " out of range");
  expect_bad({rank, -1}, "rank -1 out of range");
  expect_bad({rank, rank}, "rank " + std::to_string(rank) + " listed twice");
  if (size > 1) {
    expect_bad({(rank + 1) % size}, "calling rank " + std::to_string(rank) + " is not among");
  }
  // Nothing was sent: the communicator is in step.
  ExpectCollectivesWork(*comm, 2);
}

// --- Deadlines ----------------------------------------------------------------------------------

struct LateCase {
  const char* collective;  // as named in the error
  bool root_is_late;       // rank 0 (the root of the arrival agreement) sleeps, else the last
};

class LateRankTest : public ::testing::TestWithParam<LateCase> {};

Status RunCollective(Communicator& comm, std::string_view what) {
  if (what == "barrier") return comm.Barrier();
  if (what == "broadcast") {
    std::string text = "x";
    return comm.Broadcast(text, comm.size() - 1);
  }
  if (what == "allgather") return comm.AllGather("y").status();
  if (what == "alltoall") {
    return comm.AllToAll(std::vector<std::string>(static_cast<size_t>(comm.size()), "z")).status();
  }
  std::vector<int64_t> v = {1};
  return comm.AllReduceSum(v);
}

TEST_P(LateRankTest, IsNamedOnEveryRankAndTheCommunicatorStaysUsable) {
  auto comm = World();
  const int size = comm->size(), rank = comm->rank();
  if (size == 1) GTEST_SKIP() << "needs a second rank to be late for";
  const LateCase c = GetParam();
  const int late = c.root_is_late ? 0 : size - 1;
  comm->SetTimeout(1s);
  comm->SetPhase("test.phase");
  if (rank == late) std::this_thread::sleep_for(3s);
  const auto start = Clock::now();
  Status st = RunCollective(*comm, c.collective);
  const double secs = SecondsSince(start);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
  for (const std::string& needle : {std::string("test.phase"), std::string(c.collective),
                                    std::string("timeout_secs"), "rank " + std::to_string(late)}) {
    EXPECT_TRUE(Contains(st, needle)) << "no '" << needle << "' in " << st.ToString();
  }
  if (rank != late) {
    EXPECT_LT(secs, 1 + 2) << st.ToString();
  } else {
    EXPECT_LT(secs, 1) << "the late rank waited: " << st.ToString();
  }
  // Nobody entered the real collective: the next ones work on every rank.
  comm->SetTimeout(20s);
  std::vector<int64_t> v = {rank};
  Status next = comm->AllReduceSum(v);
  EXPECT_TRUE(next.ok()) << next.ToString();
  EXPECT_EQ(v[0], int64_t{size} * (size - 1) / 2);
  ExpectCollectivesWork(*comm, 4);
}

INSTANTIATE_TEST_SUITE_P(
    CommTest, LateRankTest,
    ::testing::Values(LateCase{"allreduce", false}, LateCase{"barrier", false},
                      LateCase{"broadcast", false}, LateCase{"allgather", false},
                      LateCase{"alltoall", false},
                      LateCase{"allreduce", true}, LateCase{"barrier", true},
                      LateCase{"broadcast", true}, LateCase{"allgather", true}),
    [](const ::testing::TestParamInfo<LateCase>& info) {
      return std::string(info.param.collective) + (info.param.root_is_late ? "_late_root" : "");
    });

TEST(CommTest, LateRootOfAgreeWithinNamesItself) {
  auto comm = World();
  const int size = comm->size(), rank = comm->rank();
  if (size == 1) GTEST_SKIP() << "needs a second rank to be late for";
  const int root = size - 1;
  if (rank == root) std::this_thread::sleep_for(3s);
  Status st = comm->AgreeWithin(OkStatus(), "test.agree", 1s, root);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
  EXPECT_TRUE(Contains(st, "test.agree")) << st.ToString();
  EXPECT_TRUE(Contains(st, "rank " + std::to_string(root))) << st.ToString();
  comm->SetTimeout(20s);
  ExpectCollectivesWork(*comm, 9);
}

TEST(CommTest, AgreeOnStatusReturnsTheDeadlineOnEveryRank) {
  auto comm = World();
  const int size = comm->size(), rank = comm->rank();
  if (size == 1) GTEST_SKIP() << "needs a second rank to be late for";
  comm->SetTimeout(1s);
  comm->SetPhase("test.agree_on_status");
  const int late = size - 1;
  if (rank == late) std::this_thread::sleep_for(3s);
  // The late rank's own error loses to the deadline that every rank saw.
  Status st = AgreeOnStatus(*comm, rank == late ? DataLossError("late and broken") : OkStatus());
  EXPECT_SAME_ERROR_ON_ALL_RANKS(st, StatusCode::kDeadlineExceeded, "test.agree_on_status");
  EXPECT_TRUE(Contains(st, "rank " + std::to_string(late))) << st.ToString();
  comm->SetTimeout(20s);
  ExpectCollectivesWork(*comm, 10);
}

// A rank that leaves the arrival agreement as if it were the collective's and then does not take
// part (what a rank dying inside the collective looks like to the others): their collective times
// out, the communicator is broken, and every later call fails at once naming the phase.
TEST(CommTest, CollectiveAbandonedAfterEveryoneArrivedBreaksTheCommunicator) {
  auto comm = World();
  const int size = comm->size(), rank = comm->rank();
  if (size == 1) GTEST_SKIP() << "needs a second rank to leave the collective";
  const int quitter = size - 1;
  comm->SetTimeout(1s);
  comm->SetPhase("test.broken");
  std::vector<int64_t> v = {1};
  if (rank == quitter) {
    // The gate of the collective is an agreement with root 0 on the same sequence numbers.
    ASSERT_TRUE(comm->AgreeWithin(OkStatus(), "impostor", 1s, 0).ok());
  } else {
    Status st = comm->AllReduceSum(v);
    EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
    EXPECT_TRUE(Contains(st, "test.broken (allreduce)")) << st.ToString();
    comm->SetPhase("test.later");
    const auto start = Clock::now();
    Status later = comm->Barrier();
    EXPECT_LT(SecondsSince(start), 0.5);
    EXPECT_EQ(later.code(), StatusCode::kFailedPrecondition) << later.ToString();
    EXPECT_TRUE(Contains(later, "test.broken (allreduce)")) << later.ToString();
    EXPECT_EQ(comm->Duplicate().status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(comm->AgreeWithin(OkStatus(), "x", 1s, 0).code(), StatusCode::kFailedPrecondition);
    comm->SetTimeout(std::nullopt);
    EXPECT_EQ(comm->AllReduceSum(v).code(), StatusCode::kFailedPrecondition);
  }
  // Then let the abandoned allreduce complete, so that nothing is left pending in MPI (the
  // others' requests progress inside the barrier below).
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == quitter) {
    MPI_Request req;
    int64_t one = 1;
    MPI_Iallreduce(MPI_IN_PLACE, &one, 1, MPI_INT64_T, MPI_SUM, comm::NativeMpiComm(*comm), &req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace cairn::testing
