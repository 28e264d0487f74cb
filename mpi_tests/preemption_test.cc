// PreemptionWatcher across ranks: a signal on one rank is agreed by every rank at the same step;
// handler installation, chaining and restoration.
#include "cairn/preemption.h"

#include <algorithm>
#include <csignal>

#include "test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::World;
using ::cairn::testing::WorldRank;
using ::cairn::testing::WorldSize;

// Every test starts and ends with the process-wide flag clear.
class PreemptionTest : public ::testing::Test {
 protected:
  void SetUp() override { PreemptionWatcher::ClearRequest(); }
  void TearDown() override { PreemptionWatcher::ClearRequest(); }
};

struct sigaction Query(int sig) {
  struct sigaction a {};
  EXPECT_EQ(sigaction(sig, nullptr, &a), 0);
  return a;
}

// The same value on every rank.
bool SameOnAllRanks(int64_t v) {
  auto comm = World();
  std::vector<int64_t> lo = {v}, hi = {v};
  EXPECT_TRUE(comm->AllReduceMin(lo).ok());
  EXPECT_TRUE(comm->AllReduceMax(hi).ok());
  return lo[0] == hi[0];
}

TEST_F(PreemptionTest, NoSignalNeverReached) {
  auto w = PreemptionWatcher::Create(World(), {.signals = {SIGTERM, SIGUSR1}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (int64_t step = 0; step < 200; ++step) {
    auto r = (*w)->ReachedPreemption(step);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(*r) << "step " << step;
  }
  EXPECT_FALSE((*w)->SignalReceivedLocally());
  EXPECT_FALSE((*w)->preemption_step().has_value());
}

TEST_F(PreemptionTest, SignalOnHighestRankIsAgreedAtTheSameStep) {
  auto w = PreemptionWatcher::Create(World(), {.signals = {SIGTERM, SIGUSR1}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const int last = WorldSize() - 1;
  for (int64_t step = 0; step < 10; ++step) {
    if (step == 5 && WorldRank() == last) {
      ASSERT_EQ(raise(SIGUSR1), 0);
      EXPECT_TRUE((*w)->SignalReceivedLocally());
      EXPECT_EQ(PreemptionWatcher::LastSignal(), SIGUSR1);
    }
    auto r = (*w)->ReachedPreemption(step);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, step >= 5) << "step " << step;
  }
  ASSERT_TRUE((*w)->preemption_step().has_value());
  EXPECT_EQ(*(*w)->preemption_step(), 5);
  EXPECT_TRUE(SameOnAllRanks(*(*w)->preemption_step()));
  // Only the signalled rank saw it locally.
  EXPECT_EQ((*w)->SignalReceivedLocally(), WorldRank() == last);
}

TEST_F(PreemptionTest, RequestPreemptionOnRankZeroWithoutHandlers) {
  auto w = PreemptionWatcher::Create(World(), {.install_signal_handlers = false});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE((*w)->installed_signals().empty());
  const auto before = Query(SIGTERM);
  EXPECT_TRUE(before.sa_handler == SIG_DFL || before.sa_handler == SIG_IGN);
  for (int64_t step = 100; step < 110; ++step) {
    if (step == 103 && WorldRank() == 0) PreemptionWatcher::RequestPreemption();
    auto r = (*w)->ReachedPreemption(step);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, step >= 103) << "step " << step;
  }
  EXPECT_EQ((*w)->preemption_step(), std::optional<int64_t>(103));
  EXPECT_EQ(PreemptionWatcher::LastSignal(), 0);
}

TEST_F(PreemptionTest, StaysReachedAfterClear) {
  auto w = PreemptionWatcher::Create(World(), {.install_signal_handlers = false});
  ASSERT_TRUE(w.ok());
  PreemptionWatcher::RequestPreemption();
  ASSERT_TRUE(*(*w)->ReachedPreemption(1));
  PreemptionWatcher::ClearRequest();
  auto r = (*w)->ReachedPreemption(2);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ((*w)->preemption_step(), std::optional<int64_t>(1));
  // A fresh watcher starts unpreempted once the flag is clear.
  auto fresh = PreemptionWatcher::Create(World(), {.install_signal_handlers = false});
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(*(*fresh)->ReachedPreemption(3));
}

TEST_F(PreemptionTest, MismatchedStepsAreTheSameErrorOnEveryRank) {
  if (WorldSize() == 1) GTEST_SKIP() << "needs two ranks";
  auto w = PreemptionWatcher::Create(World(), {.signals = {SIGUSR1}});
  ASSERT_TRUE(w.ok());
  const int64_t step = WorldRank() == 1 ? 8 : 7;
  auto r = (*w)->ReachedPreemption(step);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(r.status(), StatusCode::kFailedPrecondition,
                                 "same step on every rank");
  EXPECT_NE(r.status().message().find("step 8 on rank 1"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("step 7 on rank"), std::string::npos)
      << r.status().ToString();
  // The watcher still works afterwards.
  auto ok = (*w)->ReachedPreemption(9);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_FALSE(*ok);
}

TEST_F(PreemptionTest, MismatchedStepsWhilePreemptedStillFail) {
  if (WorldSize() == 1) GTEST_SKIP() << "needs two ranks";
  auto w = PreemptionWatcher::Create(World(), {.install_signal_handlers = false});
  ASSERT_TRUE(w.ok());
  if (WorldRank() == 0) PreemptionWatcher::RequestPreemption();
  auto r = (*w)->ReachedPreemption(WorldRank() == WorldSize() - 1 ? -3 : 4);
  EXPECT_SAME_ERROR_ON_ALL_RANKS(r.status(), StatusCode::kFailedPrecondition, "step -3 on rank");
  EXPECT_FALSE((*w)->preemption_step().has_value());
}

TEST_F(PreemptionTest, InvalidSignalsAreRejected) {
  for (int sig : {0, -1, 100000, SIGKILL, SIGSTOP, SIGSEGV}) {
    auto w = PreemptionWatcher::Create(World(), {.signals = {SIGUSR1, sig}});
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument) << sig;
    EXPECT_NE(w.status().message().find(std::to_string(sig)), std::string::npos)
        << w.status().ToString();
  }
  // Nothing stays installed after a rejected option.
  EXPECT_EQ(Query(SIGUSR1).sa_handler, SIG_DFL);
  EXPECT_EQ(PreemptionWatcher::Create(nullptr).status().code(), StatusCode::kInvalidArgument);
}

int g_user_calls = 0;
void UserHandler(int) { ++g_user_calls; }

TEST_F(PreemptionTest, HandlersAreRestoredAndChained) {
  const auto original = Query(SIGUSR2);
  struct sigaction user {};
  user.sa_handler = &UserHandler;
  sigemptyset(&user.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &user, nullptr), 0);
  const auto term_before = Query(SIGTERM);
  g_user_calls = 0;
  {
    auto a = PreemptionWatcher::Create(World(), {.signals = {SIGTERM, SIGUSR2}});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ((*a)->installed_signals(),
              (std::vector<int>{std::min(SIGTERM, SIGUSR2), std::max(SIGTERM, SIGUSR2)}));
    const auto installed = Query(SIGUSR2);
    EXPECT_TRUE(installed.sa_flags & SA_SIGINFO);
    EXPECT_TRUE(installed.sa_flags & SA_RESTART);
    EXPECT_NE(installed.sa_handler, &UserHandler);
    {
      // A second watcher shares the installation; its destruction does not uninstall.
      auto b = PreemptionWatcher::Create(World(), {.signals = {SIGUSR2}});
      ASSERT_TRUE(b.ok());
    }
    const auto still = Query(SIGUSR2);
    EXPECT_EQ(still.sa_sigaction, installed.sa_sigaction);
    ASSERT_EQ(raise(SIGUSR2), 0);
    EXPECT_EQ(g_user_calls, 1) << "the previous user handler is chained";
    EXPECT_TRUE((*a)->SignalReceivedLocally());
    EXPECT_EQ(PreemptionWatcher::LastSignal(), SIGUSR2);
    auto r = (*a)->ReachedPreemption(0);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r);
  }
  const auto after = Query(SIGUSR2);
  EXPECT_EQ(after.sa_handler, &UserHandler);
  EXPECT_FALSE(after.sa_flags & SA_SIGINFO);
  const auto term_after = Query(SIGTERM);
  EXPECT_EQ(term_after.sa_handler, term_before.sa_handler);
  EXPECT_EQ(term_after.sa_flags & SA_SIGINFO, term_before.sa_flags & SA_SIGINFO);
  ASSERT_EQ(sigaction(SIGUSR2, &original, nullptr), 0);
}

TEST_F(PreemptionTest, ForeignReplacementIsLeftInPlace) {
  const auto original = Query(SIGUSR2);
  {
    auto w = PreemptionWatcher::Create(World(), {.signals = {SIGUSR2}});
    ASSERT_TRUE(w.ok());
    struct sigaction user {};
    user.sa_handler = &UserHandler;
    sigemptyset(&user.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR2, &user, nullptr), 0);
  }
  EXPECT_EQ(Query(SIGUSR2).sa_handler, &UserHandler);
  ASSERT_EQ(sigaction(SIGUSR2, &original, nullptr), 0);
}

}  // namespace
}  // namespace cairn
