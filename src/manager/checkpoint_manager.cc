// CheckpointManager: save decisions, preservation, discovery and restore of numbered steps.
// Every decision that ranks must share is taken on the primary rank and broadcast, so that all
// ranks act alike even when their clocks or views of the file system differ.
#include "cairn/checkpoint_manager.h"

#include <algorithm>

#include "base/fs.h"
#include "checkpoint/async_saver.h"
#include "checkpoint/coordination.h"
#include "checkpoint/impl.h"
#include "checkpoint/step.h"
#include "coord/commit.h"
#include "manager/step_store.h"

namespace cairn {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::chrono::system_clock::time_point FromNanos(int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

std::vector<PolicyCheckpointInfo> PolicyInfos(const std::vector<CheckpointManager::StepInfo>& s) {
  std::vector<PolicyCheckpointInfo> out;
  for (const auto& i : s) out.push_back({i.step, FromNanos(i.commit_timestamp_nsecs), i.metrics});
  return out;
}

manager::StepNameFormat NameFormat(const CheckpointManagerOptions& o) {
  return {o.step_prefix, o.step_format_fixed_length};
}

// The manager's own option checks (policies validate themselves).
Status ValidateOptions(const CheckpointManagerOptions& o) {
  auto bad = [](const std::string& field, const std::string& why) {
    return InvalidArgumentError("CheckpointManagerOptions." + field + " " + why);
  };
  if (o.best_mode != "max" && o.best_mode != "min") {
    return bad("best_mode", "must be \"max\" or \"min\", got \"" + o.best_mode + "\"");
  }
  if (o.max_to_keep && *o.max_to_keep < 0) return bad("max_to_keep", "must be >= 0");
  if (o.save_interval_steps < 0) return bad("save_interval_steps", "must be >= 0");
  if (o.keep_period && *o.keep_period <= 0) return bad("keep_period", "must be > 0");
  if (o.step_format_fixed_length && *o.step_format_fixed_length <= 0) {
    return bad("step_format_fixed_length", "must be > 0");
  }
  if (o.step_prefix && (o.step_prefix->empty() || o.step_prefix->find('/') != std::string::npos)) {
    return bad("step_prefix", "must be non-empty and contain no '/'");
  }
  if (o.deletion_options.todelete_subdir) {
    const std::string& sub = *o.deletion_options.todelete_subdir;
    if (sub.empty() || sub.find('/') != std::string::npos || sub == "." || sub == ".." ||
        manager::ParseStepName(NameFormat(o), sub)) {
      return bad("deletion_options.todelete_subdir",
                 "must be a plain directory name that is not a step name, got '" + sub + "'");
    }
  }
  CAIRN_RETURN_IF_ERROR(CheckImplemented(o.save_options));
  CAIRN_RETURN_IF_ERROR(CheckImplemented(o.restore_options));
  CAIRN_RETURN_IF_ERROR(ValidateMemoryOptions(o.memory_options));
  if (o.async_options.timeout_secs <= 0) {
    return bad("async_options.timeout_secs", "must be > 0");
  }
  if (o.save_decision_policy) {
    CAIRN_RETURN_IF_ERROR(o.save_decision_policy->Validate().WithContext("save_decision_policy"));
  }
  if (o.preservation_policy) {
    CAIRN_RETURN_IF_ERROR(o.preservation_policy->Validate().WithContext("preservation_policy"));
  }
  return OkStatus();
}

// Orbax `should_save_fn` as a policy.
class ShouldSaveFnPolicy final : public SaveDecisionPolicy {
 public:
  explicit ShouldSaveFnPolicy(std::function<bool(int64_t, std::optional<int64_t>)> fn)
      : fn_(std::move(fn)) {}
  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous,
                  const DecisionContext&) const override {
    return fn_(step.step,
               previous.empty() ? std::nullopt : std::optional<int64_t>(previous.back().step));
  }

 private:
  std::function<bool(int64_t, std::optional<int64_t>)> fn_;
};

std::shared_ptr<const SaveDecisionPolicy> DefaultSavePolicy(const CheckpointManagerOptions& o) {
  if (o.save_decision_policy) return o.save_decision_policy;
  std::vector<std::shared_ptr<const SaveDecisionPolicy>> any;
  if (o.should_save_fn) {
    any.push_back(std::make_shared<ShouldSaveFnPolicy>(o.should_save_fn));
    any.push_back(std::make_shared<PreemptionCheckpointingPolicy>());
  } else {
    if (o.save_interval_steps > 0) {
      any.push_back(std::make_shared<FixedIntervalPolicy>(o.save_interval_steps));
    }
    if (!o.save_on_steps.empty()) {
      any.push_back(std::make_shared<SpecificStepsPolicy>(
          std::vector<int64_t>(o.save_on_steps.begin(), o.save_on_steps.end())));
    }
    any.push_back(std::make_shared<PreemptionCheckpointingPolicy>());
    any.push_back(std::make_shared<InitialSavePolicy>());
  }
  return std::make_shared<AnySavePolicy>(std::move(any));
}

// The legacy CheckpointManagerOptions fields as policies, as Orbax combines them.
std::shared_ptr<const PreservationPolicy> DefaultPreservationPolicy(
    const CheckpointManagerOptions& o) {
  if (o.preservation_policy) return o.preservation_policy;
  std::vector<std::shared_ptr<const PreservationPolicy>> any;
  if (o.best_fn) {
    any.push_back(std::make_shared<BestN>(
        BestN::Options{.get_metric_fn = o.best_fn,
                       .reverse = o.best_mode == "min",  // BestN keeps the last n after sorting
                       .n = o.max_to_keep,
                       .keep_checkpoints_without_metrics = o.keep_checkpoints_without_metrics}));
  } else {
    any.push_back(std::make_shared<LatestN>(o.max_to_keep));
  }
  if (o.keep_time_interval) any.push_back(std::make_shared<EveryNSeconds>(*o.keep_time_interval));
  if (o.keep_period) any.push_back(std::make_shared<EveryNSteps>(*o.keep_period));
  if (any.size() == 1) return any.front();
  return std::make_shared<AnyPreservationPolicy>(std::move(any));
}

}  // namespace

CheckpointManager::CheckpointManager(
    std::shared_ptr<const checkpoint::Coordination> coordination, fs::path directory,
    CheckpointManagerOptions options)
    : coord_(std::move(coordination)),
      comm_(coord_->comm),
      storage_(coord_->storage),
      directory_(std::move(directory)),
      options_(std::move(options)) {
  checkpointer_options_.multiprocessing = options_.multiprocessing_options;
  checkpointer_options_.file = options_.file_options;
  checkpointer_options_.checkpointables = options_.checkpointables_options;
  checkpointer_options_.async_options = options_.async_options;
  checkpointer_options_.memory_options = options_.memory_options;
  // The manager calls the finalization callback itself (after cleaning up old steps).
  checkpointer_options_.async_options.post_finalization_callback = nullptr;
  checkpointer_options_ = checkpoint::InternalOptions(std::move(checkpointer_options_), *coord_);
}

CheckpointManager::~CheckpointManager() { Close().IgnoreError(); }

Result<std::unique_ptr<CheckpointManager>> CheckpointManager::Create(
    std::shared_ptr<Communicator> comm, fs::path directory, CheckpointManagerOptions options,
    json metadata) {
  CAIRN_ASSIGN_OR_RETURN(
      auto c, checkpoint::Coordinate(comm, options.multiprocessing_options,
                                     options.async_options.timeout_secs,
                                     "CheckpointManager::Create"));
  auto coordination = std::make_shared<const checkpoint::Coordination>(std::move(c));
  comm = coordination->comm;
  checkpoint::PhaseLabel label(*comm, coordination->Key("manager.create"));
  Status st = ValidateOptions(options);
  if (st.ok() && directory.empty()) st = InvalidArgumentError("empty checkpoint directory path");
  if (st.ok() && !metadata.is_object()) {
    st = InvalidArgumentError("root metadata must be a JSON object");
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, st));
  std::unique_ptr<CheckpointManager> m(
      new CheckpointManager(coordination, std::move(directory), std::move(options)));
  m->save_policy_ = DefaultSavePolicy(m->options_);
  m->preservation_policy_ = DefaultPreservationPolicy(m->options_);
  m->root_metadata_ = std::move(metadata);
  const CheckpointManagerOptions& o = m->options_;
  const auto mode = o.file_options.path_permission_mode;

  // The primary prepares the directory (every rank its own when every rank is primary).
  if (m->storage_->rank() == *m->checkpointer_options_.multiprocessing.primary_host) {
    st = [&]() -> Status {
      std::error_code ec;
      if (!fs::is_directory(m->directory_, ec)) {
        if (!o.create || o.read_only) {
          return NotFoundError("checkpoint directory '" + m->directory_.string() +
                               "' does not exist (and CheckpointManagerOptions.create is false)");
        }
        CAIRN_RETURN_IF_ERROR(base::CreateDirectories(m->directory_, mode));
      }
      if (o.read_only) return OkStatus();
      // Interrupted deletions are always garbage; other temporary entries only on request.
      manager::RemoveTemporaryEntries(m->directory_,
                                      /*only_deletions=*/!o.cleanup_tmp_directories);
      const fs::path root_meta =
          m->directory_ / manager::kRootMetadataDir / manager::kRootMetadataFile;
      if (o.save_root_metadata && !fs::exists(root_meta, ec)) {
        CAIRN_RETURN_IF_ERROR(
            base::CreateDirectories(m->directory_ / manager::kRootMetadataDir, mode));
        const json doc = {{"custom_metadata", m->root_metadata_}};
        CAIRN_RETURN_IF_ERROR(base::WriteFileDurably(root_meta, doc.dump(2), mode));
      }
      return OkStatus();
    }();
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, st));

  auto watcher = PreemptionWatcher::Create(comm, o.preemption_options);
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm, watcher.status()));
  m->preemption_ = std::move(watcher).value();
  if (o.enable_async_checkpointing && !o.read_only) {
    auto saver = checkpoint::AsyncSaver::Create(m->storage_, m->checkpointer_options_);
    CAIRN_RETURN_IF_ERROR(coordination->Agree(saver.status()));
    m->saver_ = std::move(saver).value();
  }
  CAIRN_RETURN_IF_ERROR(coordination->Agree(m->Scan(*m->storage_, /*prune=*/false)));
  return m;
}

Status CheckpointManager::Scan(Communicator& comm, bool prune) {
  const int primary = *checkpointer_options_.multiprocessing.primary_host;
  const bool is_primary = comm.rank() == primary;
  std::string payload;
  Status st;
  if (is_primary) {
    std::vector<StepInfo> steps;
    st = [&]() -> Status {
      // After a save only the new step's metadata is read; Reload rereads every step.
      const std::vector<StepInfo> known = Steps();
      CAIRN_ASSIGN_OR_RETURN(
          steps, manager::ListSteps(directory_, NameFormat(options_), prune ? &known : nullptr));
      if (!prune || options_.read_only) return OkStatus();
      // Steps whose deletion a crash interrupted are garbage by construction.
      manager::RemoveTemporaryEntries(directory_, /*only_deletions=*/true);
      if (steps.size() < 2) return OkStatus();
      std::vector<bool> keep = preservation_policy_->ShouldPreserve(PolicyInfos(steps), {});
      if (keep.size() != steps.size()) {
        return InternalError("preservation policy returned " + std::to_string(keep.size()) +
                             " decisions for " + std::to_string(steps.size()) + " steps");
      }
      keep.back() = true;  // the newest committed step is never deleted
      std::optional<fs::path> trash;
      const DeletionOptions& d = options_.deletion_options;
      if (d.todelete_full_path) {
        trash = d.todelete_full_path->is_absolute()
                    ? *d.todelete_full_path
                    : directory_.parent_path() / *d.todelete_full_path;
      } else if (d.todelete_subdir) {
        trash = directory_ / *d.todelete_subdir;
      }
      std::vector<StepInfo> kept;
      Status first_error;
      for (size_t i = 0; i < steps.size(); ++i) {
        if (keep[i]) {
          kept.push_back(steps[i]);
          continue;
        }
        Status del = manager::DeleteStep(directory_, steps[i].name, trash,
                                         options_.file_options.path_permission_mode);
        if (!del.ok()) {
          kept.push_back(steps[i]);  // still there
          if (first_error.ok()) first_error = del;
        }
      }
      steps = std::move(kept);
      return first_error;
    }();
    payload = manager::StepsToJson(steps).dump();
  }
  CAIRN_RETURN_IF_ERROR(AgreeOnStatus(
      comm, comm.Broadcast(payload, primary)));
  {
    std::lock_guard<std::mutex> lock(steps_mu_);
    steps_ = manager::StepsFromJson(json::parse(payload, nullptr, false));
  }
  return AgreeOnStatus(comm, st);
}

std::vector<CheckpointManager::StepInfo> CheckpointManager::Steps() const {
  std::lock_guard<std::mutex> lock(steps_mu_);
  return steps_;
}

std::vector<int64_t> CheckpointManager::AllSteps() const {
  std::vector<int64_t> out;
  for (const auto& s : Steps()) out.push_back(s.step);
  return out;
}

Result<std::vector<int64_t>> CheckpointManager::AllSteps(bool read) {
  if (read) CAIRN_RETURN_IF_ERROR(Reload());
  return AllSteps();
}

std::optional<int64_t> CheckpointManager::LatestStep() const {
  std::lock_guard<std::mutex> lock(steps_mu_);
  if (steps_.empty()) return std::nullopt;
  return steps_.back().step;
}

std::optional<int64_t> CheckpointManager::BestStep() const {
  if (!options_.best_fn) return LatestStep();
  std::optional<int64_t> best;
  double best_value = 0;
  for (const auto& s : Steps()) {
    if (!s.metrics) continue;
    const double v = options_.best_fn(*s.metrics);
    if (v != v) continue;  // NaN never wins
    const bool better = options_.best_mode == "min" ? v <= best_value : v >= best_value;
    if (!best || better) {  // ties go to the later step
      best = s.step;
      best_value = v;
    }
  }
  return best;
}

Status CheckpointManager::Reload() {
  // A save in flight would change the directory under the listing: let it finish first.
  if (saver_) saver_->WaitUntilFinished().IgnoreError();  // its failure stays to be reported
  checkpoint::PhaseLabel label(*comm_, coord_->Key("manager.reload"));
  return coord_->Agree(Scan(*storage_, /*prune=*/false));
}

Result<bool> CheckpointManager::ReachedPreemption(int64_t step) {
  if (!preemption_) {
    return AgreeOnStatus(*comm_, FailedPreconditionError("CheckpointManager is closed"));
  }
  return preemption_->ReachedPreemption(step);
}

Result<bool> CheckpointManager::ShouldSave(int64_t step) {
  if (options_.read_only) return false;
  if (!preemption_) return FailedPreconditionError("CheckpointManager is closed");
  CAIRN_RETURN_IF_ERROR(coord_->Agree(CheckStepIsNew(step)));
  // The primary decides (its clock for time-based policies), for both possible preemption
  // outcomes, and the decisions ride along the preemption check: one collective in all.
  // The third value says whether a background save failed on some rank (see Save).
  std::vector<int64_t> decisions{0, 0, saver_ && saver_->FailureKnown() ? 1 : 0};
  if (comm_->rank() == coord_->root) {
    const PolicyCheckpointInfo candidate{step, std::chrono::system_clock::now(), std::nullopt};
    // The policies see the step in flight as saved, and that a save is in progress.
    std::vector<StepInfo> steps = Steps();
    const bool in_progress = saver_ && saver_->InFlight();
    if (in_flight_ && (steps.empty() || steps.back().step < in_flight_->step)) {
      steps.push_back(*in_flight_);
    }
    const auto previous = PolicyInfos(steps);
    for (int preempted = 0; preempted < 2; ++preempted) {
      decisions[preempted] = save_policy_->ShouldSave(
          candidate, previous,
          {.is_saving_in_progress = in_progress, .reached_preemption = preempted != 0});
    }
  }
  CAIRN_ASSIGN_OR_RETURN(bool preempted, preemption_->ReachedPreemption(step, &decisions));
  failure_somewhere_ = decisions[2] != 0;
  return decisions[preempted ? 1 : 0] != 0;
}

Status CheckpointManager::CheckStepIsNew(int64_t step) const {
  // The step in flight counts as saved: it is set on every rank by the same Save call, so every
  // rank gives the same answer even while their background threads commit at different times.
  if (auto latest = LatestStep(); latest && step <= *latest) {
    // The cache is identical on every rank (broadcast), so every rank returns this error.
    return FailedPreconditionError(
        "step " + std::to_string(step) + " is not after the latest committed step " +
        std::to_string(*latest) + " in '" + directory_.string() +
        "'; steps must increase (resume from the latest step and continue after it)");
  }
  if (in_flight_ && step <= in_flight_->step) {
    return FailedPreconditionError("step " + std::to_string(step) +
                                   " is not after step " + std::to_string(in_flight_->step) +
                                   ", which is being saved in '" + directory_.string() +
                                   "'; steps must increase");
  }
  return OkStatus();
}

Status CheckpointManager::TakeSaveFailure() {
  if (!saver_) return OkStatus();
  Status st = coord_->Agree(saver_->TakeFailure());
  if (!st.ok()) in_flight_.reset();  // that step was not committed
  return st;
}

Result<fs::path> CheckpointManager::CommittedStepDirectory(int64_t step) const {
  if (auto info = Find(step)) return directory_ / info->name;
  // Not in the cache: committed since by another process?
  const fs::path dir = StepDirectory(step);
  if (!IsCommittedCheckpoint(dir)) return NotFoundError(NotFoundMessage(step));
  return dir;
}

fs::path CheckpointManager::StepDirectory(int64_t step) const {
  if (auto s = Find(step)) return directory_ / s->name;
  return directory_ / manager::FormatStepName(NameFormat(options_), step);
}

std::optional<CheckpointManager::StepInfo> CheckpointManager::Find(int64_t step) const {
  std::lock_guard<std::mutex> lock(steps_mu_);
  for (const auto& s : steps_) {
    if (s.step == step) return s;
  }
  return std::nullopt;
}

std::string CheckpointManager::NotFoundMessage(int64_t step) const {
  std::string have;
  const std::vector<StepInfo> steps_ = Steps();
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (i == 10 && steps_.size() > 20) {
      have += ", ...";
      i = steps_.size() - 10;
    }
    have += (have.empty() ? "" : ", ") + std::to_string(steps_[i].step);
  }
  return "step " + std::to_string(step) + " is not a committed step in '" + directory_.string() +
         "' (committed steps: " + (have.empty() ? "none" : have) + ")";
}

Result<bool> CheckpointManager::Save(int64_t step, const CheckpointArgs& args,
                                     const StepSaveParams& params) {
  if (options_.read_only) {
    return FailedPreconditionError("CheckpointManager for '" + directory_.string() +
                                   "' is read_only: step " + std::to_string(step) +
                                   " was not saved");
  }
  if (!preemption_) return FailedPreconditionError("CheckpointManager is closed");
  // Without a background thread, the pending write progresses here (every rank calls Save).
  if (saver_ && !saver_->threaded()) saver_->WaitUntilFinished().IgnoreError();
  if (params.force) {
    CAIRN_RETURN_IF_ERROR(TakeSaveFailure());
    CAIRN_RETURN_IF_ERROR(coord_->Agree(CheckStepIsNew(step)));
  } else {
    CAIRN_ASSIGN_OR_RETURN(bool should, ShouldSave(step));
    // A background failure known on any rank is returned now on every rank, saving or not.
    if (failure_somewhere_) CAIRN_RETURN_IF_ERROR(TakeSaveFailure());
    if (!should) return false;
  }
  if (step < 0) {
    return FailedPreconditionError("step " + std::to_string(step) + " is negative");
  }
  SaveOptions so = options_.save_options;
  so.custom_metadata = params.custom_metadata;
  Status st;
  if (params.metrics) {
    if (!params.metrics->is_object()) {
      st = InvalidArgumentError("metrics of step " + std::to_string(step) +
                                " must be a JSON object");
    } else {
      so.metrics = *params.metrics;
    }
  }
  auto items =
      checkpoint::ResolveSaveItems(checkpoint::RegistryOf(options_.checkpointables_options), args);
  if (st.ok()) st = items.status();
  const fs::path dir = StepDirectory(step);
  const std::string what = "step " + std::to_string(step);
  CAIRN_RETURN_IF_ERROR(comm_->AgreeWithin(st, "save of " + what + " [" + comm_->phase() + "]",
                                           std::chrono::seconds(options_.async_options.timeout_secs),
                                           coord_->root));
  if (saver_) {
    // The previous save's failure, if it failed after the check above.
    CAIRN_RETURN_IF_ERROR(TakeSaveFailure());
    auto after_commit = [this](Communicator& background) -> Status {
      CAIRN_RETURN_IF_ERROR(Scan(background, /*prune=*/true)
                                .WithContext("the step was committed, but cleaning up old steps"));
      if (options_.async_options.post_finalization_callback) {
        options_.async_options.post_finalization_callback();
      }
      return OkStatus();
    };
    CAIRN_RETURN_IF_ERROR(coord_->Agree(
        saver_->Save(dir, std::move(items).value(), so, after_commit).WithContext(what)));
    in_flight_ = StepInfo{step, dir.filename().string(), coord::NowNanos(), params.metrics};
    return true;
  }
  CAIRN_RETURN_IF_ERROR(coord_->Agree(
      checkpoint::SaveStep(*storage_, checkpointer_options_, dir, *items, so).WithContext(what)));
  st = coord_->Agree(Scan(*storage_, /*prune=*/true));
  if (!st.ok()) {
    return Status(st.code(), what + " was committed, but cleaning up old steps failed: " +
                                 std::string(st.message()));
  }
  if (options_.async_options.post_finalization_callback) {
    options_.async_options.post_finalization_callback();
  }
  return true;
}

Status CheckpointManager::Restore(std::optional<int64_t> step, const CheckpointArgs& args) {
  return Restore(step, args, options_.restore_options);
}

Status CheckpointManager::Restore(std::optional<int64_t> step, const CheckpointArgs& args,
                                  const RestoreOptions& options) {
  if (!preemption_) return FailedPreconditionError("CheckpointManager is closed");
  // Waits for the save in flight; its failure is returned instead of restoring.
  CAIRN_RETURN_IF_ERROR(TakeSaveFailure());
  if (!step) step = LatestStep();
  if (coord_->every_rank_primary) {
    // Each rank lists its own copy: they must agree on the step to restore.
    std::vector<int64_t> v = {step.value_or(-1), -step.value_or(-1)};
    CAIRN_RETURN_IF_ERROR(AgreeOnStatus(*comm_, comm_->AllReduceMin(v)));
    if (v[0] != -v[1]) {
      return FailedPreconditionError(
          "the ranks' own copies of '" + directory_.string() + "' (primary_host none) hold " +
          "different latest steps (from " + std::to_string(v[0]) + " to " +
          std::to_string(-v[1]) + ", -1 meaning none); pass the step to restore explicitly");
    }
  }
  if (!step) {
    return NotFoundError("no committed step to restore in '" + directory_.string() + "'");
  }
  const auto info = Find(*step);
  CAIRN_RETURN_IF_ERROR(coord_->Agree(info ? OkStatus() : NotFoundError(NotFoundMessage(*step))));
  checkpoint::PhaseLabel label(*comm_, coord_->Key("manager.restore." + std::to_string(*step)));
  return coord_->Agree(checkpoint::RestoreStep(*storage_, checkpointer_options_,
                                               directory_ / info->name, args, options)
                           .WithContext("step " + std::to_string(*step)));
}

Result<std::map<std::string, Tree>> CheckpointManager::ItemMetadata(int64_t step) const {
  CAIRN_ASSIGN_OR_RETURN(const fs::path dir, CommittedStepDirectory(step));
  return checkpoint::ReadStepItemMetadata(checkpoint::RegistryOf(options_.checkpointables_options),
                                          dir);
}

Result<StepMetadata> CheckpointManager::Metadata(int64_t step) const {
  CAIRN_ASSIGN_OR_RETURN(const fs::path dir, CommittedStepDirectory(step));
  return ReadCheckpointMetadata(dir);
}

Result<RootMetadata> CheckpointManager::Metadata() const {
  const fs::path path = directory_ / manager::kRootMetadataDir / manager::kRootMetadataFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return RootMetadata{root_metadata_};
  CAIRN_ASSIGN_OR_RETURN(std::string text, base::ReadFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLossError("root metadata '" + path.string() + "' is not a JSON object");
  }
  RootMetadata out;
  if (j.contains("custom_metadata") && j["custom_metadata"].is_object()) {
    out.custom_metadata = j["custom_metadata"];
  }
  return out;
}

std::optional<json> CheckpointManager::Metrics(int64_t step) const {
  const auto info = Find(step);
  if (!info) return std::nullopt;
  return info->metrics;
}

Status CheckpointManager::WaitUntilFinished() {
  return saver_ ? saver_->WaitUntilFinished() : OkStatus();
}

Status CheckpointManager::CheckForErrors() {
  return saver_ ? saver_->CheckForErrors() : OkStatus();
}

Status CheckpointManager::Close() {
  if (closed_) return OkStatus();
  closed_ = true;
  Status st = TakeSaveFailure();
  saver_.reset();
  preemption_.reset();
  return st;
}

}  // namespace cairn
