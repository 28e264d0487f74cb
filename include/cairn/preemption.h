#pragma once
/// Preemption handling (Orbax `CheckpointManager.reached_preemption(step)`): a preemption
/// signal arriving on ANY one rank makes `ReachedPreemption(step)` true on EVERY rank for the
/// SAME step, so that all ranks save that step and exit cleanly.
///
/// How signals reach the ranks (checked with Open MPI 4.1 `mpirun`, one node):
///  - A signal sent to one rank's pid reaches only that rank. That rank's watcher sets its flag
///    and the next `ReachedPreemption` shares it with every rank.
///  - SIGUSR1 and SIGUSR2 sent to `mpirun` itself are forwarded to every rank (MCA parameter
///    `ess_base_forward_signals`; default SIGTSTP, SIGUSR1, SIGUSR2, SIGABRT, SIGALRM, SIGCONT).
///  - SIGTERM, SIGINT or SIGHUP sent to `mpirun` is NOT forwarded as a notice: mpirun aborts the
///    job. It sends SIGCONT to every rank, waits `odls_base_sigkill_timeout` (default 1 s), sends
///    SIGTERM, waits again, then SIGKILL, and exits non-zero even if every rank exited 0. A
///    watcher on SIGTERM sees that SIGTERM, but the ranks have only about that one timeout to
///    save. Prefer SIGUSR1 towards mpirun, or signal the ranks' pids directly.
///  - Slurm: `--signal=USR1@60` signals the job's step tasks; `--signal=B:USR1@60` signals only
///    the batch shell, which then has to pass it on (for example to mpirun).
///
/// Typical loop:
/// ```
///   auto watcher = *PreemptionWatcher::Create(comm, {.signals = {SIGTERM, SIGUSR1}});
///   for (int64_t step = start;; ++step) {
///     Train(step);
///     auto reached = watcher->ReachedPreemption(step);   // collective, one small allreduce
///     if (!reached.ok()) return reached.status();
///     if (*reached) { Save(step); return 0; }            // every rank, same step
///   }
/// ```

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "cairn/communicator.h"
#include "cairn/status.h"

namespace cairn {

/// Options for preemption handling.
struct PreemptionOptions {
  /// Signals that announce a preemption. Default: {SIGTERM}. Slurm users add SIGUSR1 for
  /// `--signal=USR1@60`. SIGKILL, SIGSTOP and the fault signals (SIGSEGV, SIGBUS, SIGFPE,
  /// SIGILL) are rejected. Duplicates are ignored.
  std::vector<int> signals = {SIGTERM};
  /// Install handlers for `signals` (otherwise only RequestPreemption(), or a signal caught by
  /// another watcher of the process, triggers). Default: true.
  bool install_signal_handlers = true;
};

/// Watches for preemption signals and agrees on them across the ranks of a communicator.
///
/// The signal handler only sets a process-wide lock-free atomic flag (async-signal-safe) and
/// then calls the handler that was installed before it, if that was a function (not SIG_DFL or
/// SIG_IGN). Handlers are installed with SA_RESTART. Several watchers may coexist: a
/// process-wide reference count per signal installs the handler once and restores the previous
/// disposition when the last watcher that uses that signal is destroyed (unless someone else has
/// replaced the handler meanwhile, in which case theirs is left in place).
///
/// The flag is process-wide and stays set until ClearRequest(): every watcher of the process
/// sees a signal caught while any watcher had its handler installed, even one created later.
class PreemptionWatcher {
 public:
  /// Installs the handlers (unless `options.install_signal_handlers` is false). Local: no
  /// communication. InvalidArgument for an invalid signal number, SIGKILL, SIGSTOP or a fault
  /// signal; Internal if sigaction fails (nothing stays installed then); InvalidArgument for a
  /// null communicator.
  static Result<std::unique_ptr<PreemptionWatcher>> Create(std::shared_ptr<Communicator> comm,
                                                           PreemptionOptions options = {});
  /// Restores the previous signal dispositions (when this is the last watcher using them).
  ~PreemptionWatcher();
  PreemptionWatcher(const PreemptionWatcher&) = delete;
  PreemptionWatcher& operator=(const PreemptionWatcher&) = delete;

  /// Collective over the communicator (one AllReduceMax of three int64), cheap enough to call
  /// every step; call it from one thread per rank. True on every rank once any rank has
  /// received a signal (or RequestPreemption()) at or before this call. Once true it stays
  /// true for this watcher (sticky) and preemption_step() remembers the step at which it was
  /// first reached. Every rank returns the same result: FailedPrecondition if ranks pass
  /// different steps (naming the ranks and their steps; the watcher's state is unchanged), or
  /// the communicator's error if the reduction itself fails.
  ///
  /// A repeated call for the step of the previous call returns that call's agreed answer without
  /// communicating (so `Save(step)` followed by `ReachedPreemption(step)` cannot disagree when a
  /// signal lands between them: the late signal counts from the next step on).
  Result<bool> ReachedPreemption(int64_t step);
  /// As above, and reduces `piggyback` (element-wise max over ranks, same length on every rank)
  /// in the same collective, so a caller that needs other agreed values pays no extra round.
  /// Always communicates (and updates the answer that a repeated call returns).
  Result<bool> ReachedPreemption(int64_t step, std::vector<int64_t>* piggyback);

  /// Local, no communication: a preemption signal (or RequestPreemption()) arrived in this
  /// process and has not been cleared.
  bool SignalReceivedLocally() const;

  /// The step at which this watcher's ranks agreed on the preemption; nullopt until then.
  std::optional<int64_t> preemption_step() const { return preemption_step_; }

  /// The signals this watcher installed handlers for (empty if install_signal_handlers is
  /// false), sorted.
  const std::vector<int>& installed_signals() const { return installed_; }

  /// Simulates a signal on this rank (tests, or applications with their own notice channel).
  /// Async-signal-safe.
  static void RequestPreemption();

  /// The number of the last preemption signal caught in this process; 0 if none (or only
  /// RequestPreemption()) since the last ClearRequest().
  static int LastSignal();

  /// Clears the process-wide flag (tests, or an application that deliberately continues after
  /// a preemption). Watchers that already agreed stay preempted.
  static void ClearRequest();

 private:
  PreemptionWatcher(std::shared_ptr<Communicator> comm, std::vector<int> installed)
      : comm_(std::move(comm)), installed_(std::move(installed)) {}

  std::shared_ptr<Communicator> comm_;
  std::vector<int> installed_;
  std::optional<int64_t> preemption_step_;
  // The step and answer of the last agreed check: a second call for the same step returns it.
  std::optional<std::pair<int64_t, bool>> last_;
};

}  // namespace cairn
