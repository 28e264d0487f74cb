#pragma once
/// CheckpointManager: the object a training or simulation loop hands its steps to (Orbax
/// `CheckpointManager`, interface `AbstractCheckpointManager`). It decides when to save, keeps
/// the steps the preservation policy asks for, survives preemption and restarts.
///
/// Layout: `<directory>/<step>/<item>/...`, each step committed atomically (see Checkpointer);
/// `<directory>/metadata/_ROOT_METADATA` holds the root metadata.
///
/// Collective methods (called by every rank of the communicator, in the same order): Create,
/// Save, Restore, ShouldSave, ReachedPreemption, Reload, AllSteps(read=true), WaitUntilFinished,
/// Close. The others read this rank's cache or files and need no communication. Call it from
/// one thread.
///
/// Saves are asynchronous by default (enable_async_checkpointing): Save returns once the state
/// is copied; the write, the commit, the cleanup of old steps and post_finalization_callback run
/// on a background thread (see AsyncCheckpointer for MPI thread levels). A step appears in
/// AllSteps/LatestStep only after its commit. A background failure is returned on every rank by
/// WaitUntilFinished, CheckForErrors, and the next Save (whether or not it saves) or Restore.
///
///   auto mgr = CheckpointManager::Create(comm, "/scratch/run1",
///       {.save_interval_steps = 100,
///        .preservation_policy = std::make_shared<LatestN>(3)}).value();
///   for (int64_t step = start; step < end; ++step) {
///     Train(step);
///     CAIRN_ASSIGN_OR_RETURN(bool saved, mgr->Save(step, StandardSave{state}));
///     if (mgr->ReachedPreemption(step).value_or(false)) break;
///   }

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cairn/checkpointer.h"
#include "cairn/communicator.h"
#include "cairn/handler.h"
#include "cairn/metadata.h"
#include "cairn/options.h"
#include "cairn/preemption.h"
#include "cairn/preservation_policy.h"
#include "cairn/save_decision_policy.h"

namespace cairn {

namespace checkpoint {
class AsyncSaver;
struct Coordination;
}

/// Orbax `DeletionOptions`. Instead of deleting a step that no policy preserves, move it to a
/// trash directory for later removal (Orbax `todelete_full_path`, `todelete_subdir`). Orbax nests
/// `todelete_full_path` in `GcsDeletionOptions`; here it applies to every file system.
struct DeletionOptions {
  /// Move deleted steps into this directory (absolute, or relative to the parent of the
  /// manager's directory, i.e. next to it) as `<dir>/<step name>`. Default: none.
  std::optional<std::filesystem::path> todelete_full_path;
  /// Move deleted steps into `<directory>/<todelete_subdir>/<step name>`. Default: none.
  /// When both are set, todelete_full_path wins.
  std::optional<std::string> todelete_subdir;
};

/// Orbax `CheckpointManagerOptions`: same names and defaults where a counterpart exists.
struct CheckpointManagerOptions {
  // --- Save decisions (used when save_decision_policy is null) ---
  /// Save when step % save_interval_steps == 0 (0: never by interval). Default: 1.
  int64_t save_interval_steps = 1;
  /// Also save at these steps. Default: none.
  std::set<int64_t> save_on_steps;
  /// Overrides save_interval_steps and save_on_steps: `fn(step, latest_step)`. Default: none.
  std::function<bool(int64_t, std::optional<int64_t>)> should_save_fn;
  /// The sole decider when set (e.g. ContinuousCheckpointingPolicy for a time interval).
  /// Default: null, meaning AnySavePolicy{FixedInterval(save_interval_steps),
  /// SpecificSteps(save_on_steps), Preemption, InitialSave}, as Orbax builds it. Policies run on
  /// the primary rank only, twice per ShouldSave (with and without preemption, so that the
  /// decision rides on the preemption check's single collective): keep them free of side effects.
  std::shared_ptr<const SaveDecisionPolicy> save_decision_policy;

  // --- Preservation (used when preservation_policy is null) ---
  /// Keep at most this many steps (the newest, or the best with best_fn). Default: none (all).
  std::optional<int64_t> max_to_keep;
  /// Also keep steps whose commit is at least this long after the last kept one. Default: none.
  std::optional<std::chrono::duration<double>> keep_time_interval;
  /// Also keep steps with step % keep_period == 0. Default: none.
  std::optional<int64_t> keep_period;
  /// Ranks steps by metrics for best_step() and, with max_to_keep, for preservation.
  /// Default: none (best_step() is the latest step).
  std::function<double(const nlohmann::json&)> best_fn;
  /// "max" or "min": which best_fn value is best. Default: "max".
  std::string best_mode = "max";
  /// With best_fn: steps without metrics are never deleted. Default: true.
  bool keep_checkpoints_without_metrics = true;
  /// The sole decider of what is kept when set. Default: null (built from the fields above;
  /// with none of them set, every step is kept). The newest step is never deleted.
  std::shared_ptr<const PreservationPolicy> preservation_policy;
  /// Trash instead of deletion. Default: delete.
  DeletionOptions deletion_options;

  // --- Step names ---
  /// Step directories are named `<step_prefix>_<step>`. Default: none (plain `<step>`).
  std::optional<std::string> step_prefix;
  /// Zero-pad the step to this many digits (`0042`). Default: none.
  std::optional<int> step_format_fixed_length;

  // --- Directory ---
  /// Create the directory if missing (else NotFound). Default: true.
  bool create = true;
  /// Remove leftover temporary directories (`*.cairn-tmp-*`) when the manager is created.
  /// Default: false.
  bool cleanup_tmp_directories = false;
  /// Never write or delete: Save returns FailedPrecondition; restore works. Default: false.
  bool read_only = false;
  /// Write the root metadata (the `metadata` argument of Create) once. Default: true.
  bool save_root_metadata = true;

  // --- Processes, files, handlers, preemption ---
  MultiprocessingOptions multiprocessing_options;
  FileOptions file_options;
  CheckpointablesOptions checkpointables_options;
  /// Save in the background: Save returns once the state is copied (see AsyncOptions,
  /// MemoryOptions). Default: true, as in Orbax.
  bool enable_async_checkpointing = true;
  /// Timeouts, the finalization callback, background directory creation. Default: AsyncOptions{}.
  AsyncOptions async_options;
  /// Memory limits of saves and restores. Default: none.
  MemoryOptions memory_options;
  /// Which signals announce a preemption. Default: SIGTERM.
  PreemptionOptions preemption_options;

  // --- Defaults for tree and array items ---
  /// Backend, array saving options. Default: SaveOptions{} (hdf5, zstd).
  SaveOptions save_options;
  /// Restore options for tree and array items. Default: RestoreOptions{} (strict).
  RestoreOptions restore_options;
};

/// Orbax `StepMetadata`: what `_CHECKPOINT_METADATA` holds.
using StepMetadata = CheckpointMetadata;

/// Orbax `RootMetadata`.
struct RootMetadata {
  nlohmann::json custom_metadata = nlohmann::json::object();
};

/// Per-save parameters of CheckpointManager::Save.
struct StepSaveParams {
  /// Metrics stored with the step (a JSON object), used by best_fn / BestN. Default: none.
  std::optional<nlohmann::json> metrics;
  /// Save even if ShouldSave says no (a step at or below the latest is still refused).
  /// Default: false.
  bool force = false;
  /// Stored in the step's `custom_metadata`. Default: empty object.
  nlohmann::json custom_metadata = nlohmann::json::object();
};

class CheckpointManager {
 public:
  /// Collective. Opens (creating if `create`) the manager's directory, reads the committed steps,
  /// writes the root metadata once, installs preemption signal handlers. InvalidArgument for bad
  /// options (naming the field), NotFound for a missing directory with create=false.
  static Result<std::unique_ptr<CheckpointManager>> Create(
      std::shared_ptr<Communicator> comm, std::filesystem::path directory,
      CheckpointManagerOptions options = {}, nlohmann::json metadata = nlohmann::json::object());
  ~CheckpointManager();
  CheckpointManager(const CheckpointManager&) = delete;
  CheckpointManager& operator=(const CheckpointManager&) = delete;

  /// The top-level directory.
  const std::filesystem::path& directory() const { return directory_; }

  /// Committed steps, ascending, from this manager's cache.
  std::vector<int64_t> AllSteps() const;
  /// Collective when `read`: rereads the directory first (as Reload).
  Result<std::vector<int64_t>> AllSteps(bool read);
  /// The newest committed step; none if there is none.
  std::optional<int64_t> LatestStep() const;
  /// The best step by best_fn / best_mode among steps with metrics; the latest step when there is
  /// no best_fn; none if no step qualifies.
  std::optional<int64_t> BestStep() const;
  /// Collective. Rereads the directory (after another process changed it): the primary lists it
  /// and every rank receives the same list.
  Status Reload();

  /// Collective, one small allreduce: true on every rank once any rank received a preemption
  /// signal. Every rank must pass the same step (FailedPrecondition otherwise).
  Result<bool> ReachedPreemption(int64_t step);
  /// Collective, one small allreduce. Whether `step` should be saved: the save decision policy,
  /// told whether preemption was reached (decided on the primary rank, so time-based policies
  /// agree). FailedPrecondition when `step`
  /// is at or below the latest committed step; false when read_only.
  Result<bool> ShouldSave(int64_t step);

  /// Collective. Saves `args` (a Composite, or one argument struct saved as item "default") as
  /// step `step` if ShouldSave(step) or params.force; returns whether it saved. After the commit,
  /// steps that the preservation policy does not keep are deleted (or moved to the trash) by the
  /// primary; the newest is always kept. FailedPrecondition for a step at or below the latest
  /// (never silently skipped) or a read_only manager.
  Result<bool> Save(int64_t step, const CheckpointArgs& args, const StepSaveParams& params = {});
  /// Collective. Restores `step` (default: the latest) into the targets of `args`. NotFound
  /// naming the available steps when it is not a committed step.
  Status Restore(std::optional<int64_t> step, const CheckpointArgs& args);
  Status Restore(std::optional<int64_t> step, const CheckpointArgs& args,
                 const RestoreOptions& options);

  /// Every item's metadata tree (dtypes and shapes, no array data), on any machine.
  Result<std::map<std::string, Tree>> ItemMetadata(int64_t step) const;
  /// The step's StepMetadata (`_CHECKPOINT_METADATA`).
  Result<StepMetadata> Metadata(int64_t step) const;
  /// The root metadata (custom metadata given at creation, as first written).
  Result<RootMetadata> Metadata() const;
  /// The metrics saved with `step`, if any.
  std::optional<nlohmann::json> Metrics(int64_t step) const;

  /// Collective. Blocks until the save in flight is committed (and old steps cleaned up); its
  /// outcome, the same on every rank. A failure stays reported until a Save or Restore returns it.
  Status WaitUntilFinished();
  /// Non-blocking, local: the failure of a finished background save not yet returned by a Save
  /// or Restore, else OK.
  Status CheckForErrors();
  /// Collective. Waits for the save in flight, returns its failure if not reported yet, and
  /// uninstalls the preemption handlers. Idempotent.
  Status Close();

  /// The directory of a step under this manager's naming (whether or not it exists).
  std::filesystem::path StepDirectory(int64_t step) const;

  struct StepInfo {
    int64_t step = 0;
    std::string name;  ///< directory name
    int64_t commit_timestamp_nsecs = 0;
    std::optional<nlohmann::json> metrics;
  };

 private:
  CheckpointManager(std::shared_ptr<const checkpoint::Coordination> coordination,
                    std::filesystem::path directory, CheckpointManagerOptions options);
  Status Scan(Communicator& comm, bool prune);  // collective over `comm`
  std::optional<StepInfo> Find(int64_t step) const;
  std::vector<StepInfo> Steps() const;  // a copy of the cache
  // The failure of the previous background save, on every rank, if any rank knows of it (or
  // `known` says so): waits for it and clears it.
  Status TakeSaveFailure();
  // FailedPrecondition when `step` is at or below the latest committed step.
  Status CheckStepIsNew(int64_t step) const;
  // The directory of a committed step (from the cache, else from disk), or NotFound.
  Result<std::filesystem::path> CommittedStepDirectory(int64_t step) const;
  std::string NotFoundMessage(int64_t step) const;

  std::shared_ptr<const checkpoint::Coordination> coord_;
  std::shared_ptr<Communicator> comm_;     // decisions: over the active ranks (coord_->comm)
  std::shared_ptr<Communicator> storage_;  // saves, restores, scans (a single rank when every
                                           // rank is primary)
  std::filesystem::path directory_;
  CheckpointManagerOptions options_;
  CheckpointerOptions checkpointer_options_;
  std::shared_ptr<const SaveDecisionPolicy> save_policy_;
  std::shared_ptr<const PreservationPolicy> preservation_policy_;
  std::unique_ptr<PreemptionWatcher> preemption_;
  std::unique_ptr<checkpoint::AsyncSaver> saver_;  // when enable_async_checkpointing
  // The newest step handed to a save that may not be committed yet (the same on every rank).
  std::optional<StepInfo> in_flight_;
  bool failure_somewhere_ = false;  // from the last ShouldSave
  mutable std::mutex steps_mu_;   // the background updates steps_ after each commit
  std::vector<StepInfo> steps_;   // ascending
  nlohmann::json root_metadata_;  // as given to Create
  bool closed_ = false;
};

}  // namespace cairn
