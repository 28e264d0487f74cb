#include "cairn/preemption.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace cairn {
namespace {

// Everything the handler touches is a lock-free atomic: the handler may run on any thread
// (MPI progress threads, async save threads) at any point, including inside malloc.
std::atomic<int> g_requested{0};
std::atomic<int> g_last_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

using PlainHandler = void (*)(int);
using InfoHandler = void (*)(int, siginfo_t*, void*);
static_assert(std::atomic<PlainHandler>::is_always_lock_free);
static_assert(std::atomic<InfoHandler>::is_always_lock_free);

// The handler that was installed before ours, to chain to (null for SIG_DFL / SIG_IGN: chaining
// to SIG_DFL of SIGTERM would kill the process, which is what the watcher exists to avoid).
struct Chain {
  std::atomic<PlainHandler> plain{nullptr};
  std::atomic<InfoHandler> info{nullptr};
};
Chain g_chain[NSIG];

// Install bookkeeping, never touched by the handler.
struct Installed {
  int refcount = 0;
  struct sigaction old {};
};
std::mutex g_mu;
Installed g_installed[NSIG];  // guarded by g_mu

void OnSignal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  g_requested.store(1);
  g_last_signal.store(sig);
  if (sig > 0 && sig < NSIG) {
    if (InfoHandler f = g_chain[sig].info.load()) {
      f(sig, info, context);
    } else if (PlainHandler g = g_chain[sig].plain.load()) {
      g(sig);
    }
  }
  errno = saved_errno;
}

bool IsOurs(const struct sigaction& a) {
  return (a.sa_flags & SA_SIGINFO) != 0 && a.sa_sigaction == &OnSignal;
}

std::string SignalName(int sig) {
  // A small table rather than sigabbrev_np (glibc >= 2.32 only).
  static constexpr std::pair<int, const char*> kNames[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
      {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
      {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"}, {SIGALRM, "SIGALRM"},
      {SIGTERM, "SIGTERM"}, {SIGSTOP, "SIGSTOP"}, {SIGXCPU, "SIGXCPU"}, {SIGCONT, "SIGCONT"}};
  std::string out = "signal " + std::to_string(sig);
  for (const auto& [number, name] : kNames) {
    if (number == sig) return out + " (" + name + ")";
  }
  return out;
}

Status Validate(int sig) {
  if (sig <= 0 || sig >= NSIG) {
    return InvalidArgumentError("PreemptionOptions.signals: " + std::to_string(sig) +
                                " is not a valid signal number (1.." + std::to_string(NSIG - 1) +
                                ")");
  }
  if (sig == SIGKILL || sig == SIGSTOP) {
    return InvalidArgumentError("PreemptionOptions.signals: " + SignalName(sig) +
                                " cannot be caught");
  }
  if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL) {
    return InvalidArgumentError("PreemptionOptions.signals: " + SignalName(sig) +
                                " is a fault signal: a handler that returns would re-run the "
                                "faulting instruction");
  }
  struct sigaction probe {};
  if (sigaction(sig, nullptr, &probe) != 0) {
    return InvalidArgumentError("PreemptionOptions.signals: " + SignalName(sig) +
                                " is not usable here: " + std::strerror(errno));
  }
  return OkStatus();
}

Status Install(int sig) {
  std::lock_guard<std::mutex> lock(g_mu);
  Installed& slot = g_installed[sig];
  if (slot.refcount > 0) {
    ++slot.refcount;
    return OkStatus();
  }
  struct sigaction old {};
  if (sigaction(sig, nullptr, &old) != 0) {
    return InternalError("sigaction(" + SignalName(sig) +
                         ") query failed: " + std::strerror(errno));
  }
  // Publish the chain before our handler can run.
  if (old.sa_flags & SA_SIGINFO) {
    g_chain[sig].info.store(old.sa_sigaction);
  } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
    g_chain[sig].plain.store(old.sa_handler);
  }
  struct sigaction act {};
  act.sa_sigaction = &OnSignal;
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&act.sa_mask);
  if (sigaction(sig, &act, nullptr) != 0) {
    const int err = errno;
    g_chain[sig].info.store(nullptr);
    g_chain[sig].plain.store(nullptr);
    return InternalError("sigaction(" + SignalName(sig) +
                         ") install failed: " + std::strerror(err));
  }
  slot.old = old;
  slot.refcount = 1;
  return OkStatus();
}

void Uninstall(int sig) {
  std::lock_guard<std::mutex> lock(g_mu);
  Installed& slot = g_installed[sig];
  if (slot.refcount == 0 || --slot.refcount > 0) return;
  struct sigaction current {};
  if (sigaction(sig, nullptr, &current) != 0) return;
  // Someone replaced our handler after us: restoring would discard theirs. Leave it (and the
  // chain, in case theirs calls ours).
  if (!IsOurs(current)) return;
  if (sigaction(sig, &slot.old, nullptr) != 0) return;
  g_chain[sig].info.store(nullptr);
  g_chain[sig].plain.store(nullptr);
}

// "step 4 on ranks 0-2, 5; step 7 on rank 3": the same text on every rank.
std::string DescribeSteps(const std::vector<int64_t>& steps) {
  std::map<int64_t, std::vector<int>> by_step;
  for (size_t r = 0; r < steps.size(); ++r) by_step[steps[r]].push_back(static_cast<int>(r));
  std::string out;
  for (const auto& [step, ranks] : by_step) {
    if (!out.empty()) out += "; ";
    out += "step " + std::to_string(step) + (ranks.size() > 1 ? " on ranks " : " on rank ");
    constexpr size_t kMaxRuns = 8;
    size_t runs = 0;
    for (size_t i = 0; i < ranks.size();) {
      size_t j = i;
      while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
      if (runs == kMaxRuns) {
        out += ", ... (" + std::to_string(ranks.size() - i) + " more)";
        break;
      }
      if (runs > 0) out += ", ";
      out += std::to_string(ranks[i]);
      if (j > i) out += "-" + std::to_string(ranks[j]);
      ++runs;
      i = j + 1;
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<PreemptionWatcher>> PreemptionWatcher::Create(
    std::shared_ptr<Communicator> comm, PreemptionOptions options) {
  if (comm == nullptr) {
    return InvalidArgumentError("PreemptionWatcher::Create: the communicator is null");
  }
  std::vector<int> signals = options.signals;
  std::sort(signals.begin(), signals.end());
  signals.erase(std::unique(signals.begin(), signals.end()), signals.end());
  for (int sig : signals) CAIRN_RETURN_IF_ERROR(Validate(sig));
  std::vector<int> installed;
  if (options.install_signal_handlers) {
    for (int sig : signals) {
      Status st = Install(sig);
      if (!st.ok()) {
        for (int done : installed) Uninstall(done);
        return st;
      }
      installed.push_back(sig);
    }
  }
  return std::unique_ptr<PreemptionWatcher>(
      new PreemptionWatcher(std::move(comm), std::move(installed)));
}

PreemptionWatcher::~PreemptionWatcher() {
  for (int sig : installed_) Uninstall(sig);
}

Result<bool> PreemptionWatcher::ReachedPreemption(int64_t step) {
  // Every rank holds the same `last_` (set by the same collective calls), so skipping the
  // collective here is a decision all ranks make together.
  if (last_ && last_->first == step) return last_->second;
  return ReachedPreemption(step, nullptr);
}

Result<bool> PreemptionWatcher::ReachedPreemption(int64_t step, std::vector<int64_t>* piggyback) {
  // One reduction gives the flag and both the max and the min step (max of ~step is ~min).
  std::vector<int64_t> v = {g_requested.load() != 0 ? 1 : 0, step, ~step};
  if (piggyback != nullptr) v.insert(v.end(), piggyback->begin(), piggyback->end());
  Status st = comm_->AllReduceMax(v);
  if (!st.ok()) return st.WithContext("ReachedPreemption(" + std::to_string(step) + ")");
  if (piggyback != nullptr) std::copy(v.begin() + 3, v.end(), piggyback->begin());
  if (v[1] != ~v[2]) {
    // Every rank saw the same min != max, so every rank takes this path together.
    std::string detail = "min step " + std::to_string(~v[2]) + ", max step " + std::to_string(v[1]);
    auto all =
        comm_->AllGather(std::string_view(reinterpret_cast<const char*>(&step), sizeof(step)));
    if (all.ok()) {
      std::vector<int64_t> steps(all->size());
      for (size_t r = 0; r < all->size(); ++r) {
        if ((*all)[r].size() == sizeof(int64_t)) {
          std::memcpy(&steps[r], (*all)[r].data(), sizeof(int64_t));
        }
      }
      detail = DescribeSteps(steps);
    }
    return FailedPreconditionError(
        "ReachedPreemption must be called with the same step on every rank, got " + detail);
  }
  if (v[0] != 0 && !preemption_step_) preemption_step_ = step;
  last_ = {step, preemption_step_.has_value()};
  return preemption_step_.has_value();
}

bool PreemptionWatcher::SignalReceivedLocally() const { return g_requested.load() != 0; }

void PreemptionWatcher::RequestPreemption() { g_requested.store(1); }

int PreemptionWatcher::LastSignal() { return g_last_signal.load(); }

void PreemptionWatcher::ClearRequest() {
  g_requested.store(0);
  g_last_signal.store(0);
}

}  // namespace cairn
