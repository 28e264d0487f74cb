#pragma once
// The engine behind AsyncCheckpointer and the manager's asynchronous saves: stages a step on the
// calling thread, then writes and commits it on a background thread over its own duplicated
// communicator. With MPI below MPI_THREAD_MULTIPLE there is no background thread: the write runs
// on the calling thread at the next collective call (Save, WaitUntilFinished, Restore, Close).

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cairn/checkpointer.h"
#include "checkpoint/impl.h"
#include "checkpoint/staging.h"

namespace cairn::checkpoint {

class AsyncSaver {
 public:
  /// Collective over `comm` (duplicates it for the background).
  static Result<std::unique_ptr<AsyncSaver>> Create(std::shared_ptr<Communicator> comm,
                                                    CheckpointerOptions options);
  /// Waits for the save in flight (its outcome is lost only if nobody asked: call Close first).
  ~AsyncSaver();
  AsyncSaver(const AsyncSaver&) = delete;
  AsyncSaver& operator=(const AsyncSaver&) = delete;

  /// Runs after a successful commit, in the background, collective over the background
  /// communicator (the manager's cleanup of old steps); its failure is the save's.
  using AfterCommit = std::function<Status(Communicator& background)>;

  /// Collective, calling thread. Waits for the previous save; if it failed, returns that failure
  /// (once) instead of saving. Otherwise stages every item (the caller may change its data once
  /// this returns, see MemoryOptions for the exceptions) and starts the write and commit in the
  /// background. The same Status on every rank.
  Status Save(const std::filesystem::path& directory, std::vector<StepItem> items,
              const SaveOptions& options, AfterCommit after_commit = nullptr);
  /// Blocks until no save is in flight (collective in the deferred mode); the outcome of the last
  /// save. Does not clear a failure (the next Save/TakeFailure reports it again).
  Status WaitUntilFinished();
  /// Local, non-blocking: the failure of a finished background save that was not yet taken.
  Status CheckForErrors() const;
  /// Waits (as WaitUntilFinished) and returns the last save's failure, clearing it.
  Status TakeFailure();
  /// Local: a save was started and its outcome is not known here yet.
  bool InFlight() const;
  /// Local: a finished save failed and the failure was not taken.
  bool FailureKnown() const;
  /// Whether saves run on a background thread (MPI_THREAD_MULTIPLE or no MPI).
  bool threaded() const { return threaded_; }
  /// Staging memory (for the benchmark and tests).
  StagingArena& arena() { return arena_; }

 private:
  AsyncSaver(std::shared_ptr<Communicator> comm, std::shared_ptr<Communicator> bg,
             CheckpointerOptions options, bool threaded);
  void Join();  // threaded: joins the thread; deferred: runs the pending work
  void Finish(Status outcome);

  std::shared_ptr<Communicator> comm_, bg_;
  CheckpointerOptions options_;
  bool threaded_;
  StagingArena arena_;
  std::thread thread_;
  std::function<void()> pending_;  // deferred mode: the background work not run yet
  mutable std::mutex mu_;
  bool in_flight_ = false;
  std::optional<Status> failure_;  // last outcome, if it failed and was not taken
};

}  // namespace cairn::checkpoint
