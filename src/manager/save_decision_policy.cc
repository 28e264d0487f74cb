// Save-decision policies, following Orbax's
// checkpoint/orbax/checkpoint/_src/checkpoint_managers/save_decision_policy.py. Orbax's
// ContinuousCheckpointingPolicy also broadcasts its answer from the primary host; here that is
// the caller's job, so every policy stays a pure function.

#include "cairn/save_decision_policy.h"

#include <string>

namespace cairn {

using Checkpoints = std::vector<PolicyCheckpointInfo>;

Status FixedIntervalPolicy::Validate() const {
  if (interval_ <= 0) {
    return InvalidArgumentError("FixedIntervalPolicy: interval must be > 0, got " +
                                std::to_string(interval_));
  }
  return OkStatus();
}

bool FixedIntervalPolicy::ShouldSave(const PolicyCheckpointInfo& step,
                                     const Checkpoints& /*previous_steps*/,
                                     const DecisionContext& /*context*/) const {
  // A zero interval would divide by zero; a negative one divides like its absolute value.
  return interval_ != 0 && step.step % interval_ == 0;
}

bool SpecificStepsPolicy::ShouldSave(const PolicyCheckpointInfo& step,
                                     const Checkpoints& /*previous_steps*/,
                                     const DecisionContext& /*context*/) const {
  return steps_.contains(step.step);
}

Status ContinuousCheckpointingPolicy::Validate() const {
  if (options_.minimum_interval_secs && !(*options_.minimum_interval_secs >= 0)) {
    return InvalidArgumentError(
        "ContinuousCheckpointingPolicy: minimum_interval_secs must be >= 0 or none, got " +
        std::to_string(*options_.minimum_interval_secs));
  }
  return OkStatus();
}

bool ContinuousCheckpointingPolicy::ShouldSave(const PolicyCheckpointInfo& step,
                                               const Checkpoints& previous_steps,
                                               const DecisionContext& context) const {
  // Starting a save while one runs would block training on the running one.
  if (context.is_saving_in_progress) return false;
  if (previous_steps.empty() || !options_.minimum_interval_secs) return true;
  return step.time - previous_steps.back().time >=
         std::chrono::duration<double>(*options_.minimum_interval_secs);
}

bool PreemptionCheckpointingPolicy::ShouldSave(const PolicyCheckpointInfo& /*step*/,
                                               const Checkpoints& /*previous_steps*/,
                                               const DecisionContext& context) const {
  return context.reached_preemption;
}

bool InitialSavePolicy::ShouldSave(const PolicyCheckpointInfo& /*step*/,
                                   const Checkpoints& previous_steps,
                                   const DecisionContext& /*context*/) const {
  return previous_steps.empty();
}

Status AnySavePolicy::Validate() const {
  for (size_t i = 0; i < policies_.size(); ++i) {
    if (!policies_[i]) {
      return InvalidArgumentError("AnySavePolicy: policies[" + std::to_string(i) + "] is null");
    }
    CAIRN_RETURN_IF_ERROR(
        policies_[i]->Validate().WithContext("AnySavePolicy: policies[" + std::to_string(i) + "]"));
  }
  return OkStatus();
}

bool AnySavePolicy::ShouldSave(const PolicyCheckpointInfo& step, const Checkpoints& previous_steps,
                               const DecisionContext& context) const {
  for (const auto& policy : policies_) {
    if (policy && policy->ShouldSave(step, previous_steps, context)) return true;
  }
  return false;
}

}  // namespace cairn
