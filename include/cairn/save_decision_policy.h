#pragma once
/// Save-decision policies: whether a manager saves at a step (Orbax
/// `orbax.checkpoint.v1.training.save_decision_policies`, implemented in Orbax's
/// `_src/checkpoint_managers/save_decision_policy.py`). Pure logic: no I/O, no MPI.
///
/// Multi-rank use: the time- and state-based policies (ContinuousCheckpointingPolicy) can answer
/// differently on different ranks (clocks, save progress). Orbax computes that decision on the
/// primary host and broadcasts it; a cairn caller must do the same (decide on one rank, broadcast
/// the bool) before acting on it.
///
/// Argument checking: constructors never fail. Call `Validate()` once (the manager does it when
/// the policy is installed) to get InvalidArgument for a nonsensical configuration; each class
/// states what it answers when its `Validate()` fails.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cairn/preservation_policy.h"
#include "cairn/status.h"

namespace cairn {

/// Facts about the running system a policy may use (Orbax `DecisionContext`; Orbax's
/// `multiprocessing_options` is left out: the caller broadcasts the decision itself).
struct DecisionContext {
  /// An asynchronous save is still running. Default: false.
  bool is_saving_in_progress = false;
  /// A preemption signal has been received for this step. Default: false.
  bool reached_preemption = false;
};

/// A policy that decides whether to save at a step (Orbax `SaveDecisionPolicy` protocol).
/// User-written policies derive from it.
///
/// Orbax's manager rejects a step that is not newer than the latest committed step before it
/// asks the policy at all; policies themselves do not check that.
class SaveDecisionPolicy {
 public:
  virtual ~SaveDecisionPolicy() = default;

  /// True if a checkpoint should be saved at `step` (its `time` is now, its `metrics` none).
  /// `previous_steps`: the committed checkpoints, by step ascending.
  virtual bool ShouldSave(const PolicyCheckpointInfo& step,
                          const std::vector<PolicyCheckpointInfo>& previous_steps,
                          const DecisionContext& context) const = 0;

  /// Checks the policy's arguments. Default: OK. Returns InvalidArgument naming the argument.
  [[nodiscard]] virtual Status Validate() const { return OkStatus(); }
};

/// Saves when `step % interval == 0` (Orbax `FixedIntervalPolicy`), so step 0 is saved too.
/// Ignores history and context. Validate: InvalidArgument if `interval` <= 0; with interval 0
/// (a ZeroDivisionError in Orbax) it never saves, a negative interval acts as its absolute value
/// (as Python's `%` does).
class FixedIntervalPolicy final : public SaveDecisionPolicy {
 public:
  /// `interval`: steps between saves, e.g. 100 saves at 0, 100, 200... No default (required).
  explicit FixedIntervalPolicy(int64_t interval) : interval_(interval) {}

  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous_steps,
                  const DecisionContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  int64_t interval() const { return interval_; }

 private:
  int64_t interval_;
};

/// Saves when the step is one of `steps` (Orbax `SpecificStepsPolicy`). Ignores history and
/// context.
class SpecificStepsPolicy final : public SaveDecisionPolicy {
 public:
  /// `steps`: the steps to save at; order and duplicates do not matter. No default (required).
  explicit SpecificStepsPolicy(const std::vector<int64_t>& steps)
      : steps_(steps.begin(), steps.end()) {}

  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous_steps,
                  const DecisionContext& context) const override;

 private:
  std::unordered_set<int64_t> steps_;
};

/// Saves as often as possible (Orbax `ContinuousCheckpointingPolicy`):
/// 1. never while a save is in progress (`context.is_saving_in_progress`), even the first one;
/// 2. otherwise always when there is no previous checkpoint or no `minimum_interval_secs`;
/// 3. otherwise when `step.time - previous_steps.back().time >= minimum_interval_secs`
///    (inclusive; measured from the newest committed checkpoint's commit time).
/// Decide on one rank and broadcast (see the file comment). Validate: InvalidArgument if
/// `minimum_interval_secs` is negative; a negative interval acts as no minimum, as in Orbax.
class ContinuousCheckpointingPolicy final : public SaveDecisionPolicy {
 public:
  /// Orbax's keyword-only parameters.
  struct Options {
    /// Minimum seconds between the last commit and a new save. Default: none (back-to-back saves
    /// allowed as soon as the running one finishes).
    std::optional<double> minimum_interval_secs;
  };

  /// No minimum interval.
  ContinuousCheckpointingPolicy() = default;
  /// `ContinuousCheckpointingPolicy({.minimum_interval_secs = 60})`.
  explicit ContinuousCheckpointingPolicy(Options options) : options_(options) {}

  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous_steps,
                  const DecisionContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const Options& options() const { return options_; }

 private:
  Options options_;
};

/// Saves exactly when `context.reached_preemption` (Orbax `PreemptionCheckpointingPolicy`).
/// Ignores the step and history (and whether a save is in progress).
class PreemptionCheckpointingPolicy final : public SaveDecisionPolicy {
 public:
  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous_steps,
                  const DecisionContext& context) const override;
};

/// Saves exactly when `previous_steps` is empty, i.e. a fresh run with no checkpoint yet (Orbax
/// `InitialSavePolicy`); false when restarting from existing checkpoints. Ignores the step and
/// the context (it answers true even while a save is in progress).
class InitialSavePolicy final : public SaveDecisionPolicy {
 public:
  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous_steps,
                  const DecisionContext& context) const override;
};

/// Saves if any child says so (Orbax `AnySavePolicy`). Children are asked in order and the first
/// true stops the walk (later children are not asked). No children: false. Validate:
/// InvalidArgument for a null child (skipped, i.e. counted as false), else the first failing
/// child's error.
class AnySavePolicy final : public SaveDecisionPolicy {
 public:
  /// `policies`: the children, asked in order. No default (required).
  explicit AnySavePolicy(std::vector<std::shared_ptr<const SaveDecisionPolicy>> policies)
      : policies_(std::move(policies)) {}

  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& previous_steps,
                  const DecisionContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const std::vector<std::shared_ptr<const SaveDecisionPolicy>>& policies() const {
    return policies_;
  }

 private:
  std::vector<std::shared_ptr<const SaveDecisionPolicy>> policies_;
};

}  // namespace cairn
