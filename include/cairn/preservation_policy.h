#pragma once
/// Preservation policies: which committed checkpoints a manager keeps (Orbax
/// `orbax.checkpoint.v1.training.preservation_policies`, implemented in Orbax's
/// `_src/checkpoint_managers/preservation_policy.py`). Pure logic: no I/O, no MPI.
///
/// Every policy answers one bool per checkpoint; a checkpoint is garbage-collected when the
/// policy answers false. Policies are immutable after construction and safe to call from several
/// threads at once.
///
/// Argument checking: constructors never fail. Call `Validate()` once (the manager does it when
/// the policy is installed) to get InvalidArgument for a nonsensical configuration. A policy whose
/// `Validate()` fails answers "preserve" for every checkpoint, so a misconfiguration can never
/// delete data.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn {

/// What a policy knows about one committed checkpoint (Orbax `PolicyCheckpointInfo`).
struct PolicyCheckpointInfo {
  /// Training step. Default: 0.
  int64_t step = 0;
  /// Commit time (for a save decision's candidate: now). Default: the clock's epoch.
  std::chrono::system_clock::time_point time;
  /// Metrics saved with the step; none if the step has no metrics. Default: none.
  std::optional<nlohmann::json> metrics;
};

/// Additional properties for a preservation decision (Orbax `PreservationContext`). Empty for
/// now; kept so that the signature matches Orbax and can grow without breaking user policies.
struct PreservationContext {};

/// Returns the current time; lets tests and simulations replace the wall clock.
using PolicyClock = std::function<std::chrono::system_clock::time_point()>;

/// A policy that decides which checkpoints are preserved (Orbax `PreservationPolicy` protocol).
/// User-written policies derive from it and override `ShouldPreserve` (and `Validate` if they
/// take arguments).
class PreservationPolicy {
 public:
  virtual ~PreservationPolicy() = default;

  /// One bool per checkpoint, in the same order: true keeps it. `checkpoints` are sorted by step,
  /// ascending, and have distinct steps. Must return exactly `checkpoints.size()` entries.
  virtual std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                           const PreservationContext& context) const = 0;

  /// Checks the policy's arguments. Default: OK. Returns InvalidArgument naming the argument.
  [[nodiscard]] virtual Status Validate() const { return OkStatus(); }
};

/// Preserves every checkpoint (Orbax `PreserveAll`).
class PreserveAll final : public PreservationPolicy {
 public:
  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
};

/// Preserves the last `n` checkpoints (Orbax `LatestN`). `n` none (the default) preserves all;
/// `n` = 0 preserves none. Validate: InvalidArgument if `n` < 0.
class LatestN final : public PreservationPolicy {
 public:
  /// `n`: how many of the newest checkpoints to keep. Default: none (keep all).
  explicit LatestN(std::optional<int64_t> n = std::nullopt) : n_(n) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const std::optional<int64_t>& n() const { return n_; }

 private:
  std::optional<int64_t> n_;
};

/// Keeps checkpoints at least `interval` apart in commit time (Orbax `EveryNSeconds`). The first
/// checkpoint is always kept; each later one is kept when its time minus the time of the last
/// *kept* one is >= `interval` (inclusive; the anchor is the last kept checkpoint, not the
/// previous one). An interval of 0 keeps everything. Validate: InvalidArgument if negative.
class EveryNSeconds final : public PreservationPolicy {
 public:
  /// `interval_secs`: the interval in (possibly fractional) seconds. No default (required).
  explicit EveryNSeconds(double interval_secs)
      : interval_(std::chrono::duration<double>(interval_secs)) {}
  /// Same, from any chrono duration, e.g. `EveryNSeconds(std::chrono::hours(1))`.
  explicit EveryNSeconds(std::chrono::duration<double> interval) : interval_(interval) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  double interval_secs() const { return interval_.count(); }

 private:
  std::chrono::duration<double> interval_;
};

/// Keeps checkpoints by step interval (Orbax `EveryNSteps`).
/// - `exact_interval` true (default): keeps steps that are multiples of `interval_steps`
///   (`step % interval_steps == 0`); the first checkpoint gets no special treatment.
/// - `exact_interval` false: keeps the first checkpoint, then each one at least `interval_steps`
///   after the last *kept* step. With irregular steps the kept grid drifts (steps 0,1,2,4,5,8,9,
///   13,14,25 at interval 3 keep 0,4,8,13,25); EveryNStepsClosest avoids the drift.
/// - `max_to_keep`: afterwards, only the newest `max_to_keep` of the kept checkpoints stay.
/// Validate: InvalidArgument if `interval_steps` <= 0 (Orbax raises ValueError for 0) or
/// `max_to_keep` < 1 (Orbax silently treats 0 as "no limit" through a Python slice quirk, so
/// cairn refuses it rather than guess).
class EveryNSteps final : public PreservationPolicy {
 public:
  /// Orbax's parameters, for designated initializers.
  struct Options {
    /// Step interval. No meaningful default (required, must be > 0).
    int64_t interval_steps = 0;
    /// Keep exact multiples (true) or keep by distance to the last kept step (false).
    /// Default: true.
    bool exact_interval = true;
    /// Keep at most this many (the newest) of the selected checkpoints. Default: none (no limit).
    std::optional<int64_t> max_to_keep;
  };

  /// Orbax's positional form `EveryNSteps(interval_steps, exact_interval=True, max_to_keep=None)`.
  explicit EveryNSteps(int64_t interval_steps, bool exact_interval = true,
                       std::optional<int64_t> max_to_keep = std::nullopt)
      : options_{interval_steps, exact_interval, max_to_keep} {}
  /// From options: `EveryNSteps({.interval_steps = 100, .exact_interval = false})`.
  explicit EveryNSteps(Options options) : options_(options) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const Options& options() const { return options_; }

 private:
  Options options_;
};

/// Preserves the checkpoints whose steps are in `steps` (Orbax `CustomSteps`).
class CustomSteps final : public PreservationPolicy {
 public:
  /// `steps`: steps to keep; order and duplicates do not matter. No default (required).
  explicit CustomSteps(const std::vector<int64_t>& steps) : steps_(steps.begin(), steps.end()) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;

 private:
  std::unordered_set<int64_t> steps_;
};

/// Preserves the best `n` checkpoints by a metric (Orbax `BestN`).
///
/// Careful, as in Orbax: the checkpoints with metrics are sorted by `get_metric_fn` ascending
/// (descending when `reverse`) and the LAST `n` of that order are kept. So `reverse = false` (the
/// default) keeps the `n` LARGEST values (e.g. accuracy) and `reverse = true` keeps the `n`
/// SMALLEST (e.g. loss; Orbax's manager maps `best_mode='min'` to `reverse=True`). The sort is
/// stable, so among equal values the later step wins the last place.
///
/// - `n` none (default), or at least the number of checkpoints: every checkpoint is kept,
///   including those without metrics even when `keep_checkpoints_without_metrics` is false, and
///   `get_metric_fn` is not called.
/// - `n` = 0 (with at least one checkpoint): none is kept, not even those without metrics.
/// - Otherwise the best `n` with metrics are kept, plus every checkpoint without metrics when
///   `keep_checkpoints_without_metrics` (default true).
/// - A NaN metric (Orbax leaves this to Python's undefined NaN ordering) ranks below every
///   number, whatever `reverse`: it is kept only if fewer than `n` real values exist.
/// Validate: InvalidArgument if `get_metric_fn` is empty or `n` < 0.
class BestN final : public PreservationPolicy {
 public:
  /// Ranks one checkpoint from its metrics. Must not throw (use `json::value`, not `at`).
  using MetricFn = std::function<double(const nlohmann::json&)>;

  /// Orbax's keyword-only parameters.
  struct Options {
    /// Maps a checkpoint's metrics to the ranking value. No default (required).
    MetricFn get_metric_fn;
    /// Sort descending instead of ascending before keeping the last `n`. Default: false.
    bool reverse = false;
    /// How many to keep. Default: none (keep all).
    std::optional<int64_t> n;
    /// Keep checkpoints that have no metrics. Default: true.
    bool keep_checkpoints_without_metrics = true;
  };

  /// `BestN({.get_metric_fn = ..., .reverse = true, .n = 3})`.
  explicit BestN(Options options) : options_(std::move(options)) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const Options& options() const { return options_; }

 private:
  Options options_;
};

/// Preserves checkpoints committed within `duration` before now (Orbax `LatestDuration`), e.g.
/// `LatestDuration(std::chrono::hours(24))`. The first checkpoint (in step order) with
/// `now - time <= duration` (inclusive) and every checkpoint after it are kept, even a later one
/// with an older time. Validate: InvalidArgument if `duration` is negative.
class LatestDuration final : public PreservationPolicy {
 public:
  /// Parameters.
  struct Options {
    /// Age limit. No meaningful default (required).
    std::chrono::duration<double> duration{0.0};
    /// Source of "now". Default: empty, meaning `std::chrono::system_clock::now`.
    PolicyClock now;
  };

  /// `duration`: age limit, e.g. `std::chrono::hours(24)`. Uses the system clock.
  explicit LatestDuration(std::chrono::duration<double> duration)
      : options_{.duration = duration} {}
  /// With an injected clock: `LatestDuration({.duration = 24h, .now = fake_clock})`.
  explicit LatestDuration(Options options) : options_(std::move(options)) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const Options& options() const { return options_; }

 private:
  Options options_;
};

/// Preserves the checkpoints closest to multiples of `interval_steps` (Orbax
/// `EveryNStepsClosest`). Each checkpoint goes to the grid point k * interval_steps with
/// k = round(step / interval_steps), rounding halves to even as Python's `round` does (step 3 at
/// interval 2 goes to 4, step 5 to 4). In each grid bucket that received a checkpoint the closest
/// one is kept, the later on a tie, so every occupied bucket keeps one checkpoint however far it
/// is from its grid point. The last checkpoint is always kept. Then `max_to_keep` keeps only the
/// newest `max_to_keep` of the kept ones (the last checkpoint always survives).
/// Validate: InvalidArgument if `interval_steps` <= 0 or `max_to_keep` < 1 (see EveryNSteps).
class EveryNStepsClosest final : public PreservationPolicy {
 public:
  /// Orbax's parameters, for designated initializers.
  struct Options {
    /// Grid spacing in steps. No meaningful default (required, must be > 0).
    int64_t interval_steps = 0;
    /// Keep at most this many (the newest) of the selected checkpoints. Default: none (no limit).
    std::optional<int64_t> max_to_keep;
  };

  /// Orbax's positional form `EveryNStepsClosest(interval_steps, max_to_keep=None)`.
  explicit EveryNStepsClosest(int64_t interval_steps,
                              std::optional<int64_t> max_to_keep = std::nullopt)
      : options_{interval_steps, max_to_keep} {}
  /// From options: `EveryNStepsClosest({.interval_steps = 1000, .max_to_keep = 5})`.
  explicit EveryNStepsClosest(Options options) : options_(options) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const Options& options() const { return options_; }

 private:
  Options options_;
};

/// Preserves a checkpoint if any child policy preserves it (Orbax `AnyPreservationPolicy`).
/// Every child is asked (no short-circuit). Validate: InvalidArgument for an empty list (Orbax
/// returns a bare `False` instead of a list there, which its manager cannot use) or a null child,
/// else the first failing child's error; as for every policy, a failing Validate means every
/// checkpoint is preserved.
class AnyPreservationPolicy final : public PreservationPolicy {
 public:
  /// `policies`: the children, asked in order. No default (required).
  explicit AnyPreservationPolicy(std::vector<std::shared_ptr<const PreservationPolicy>> policies)
      : policies_(std::move(policies)) {}

  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& context) const override;
  [[nodiscard]] Status Validate() const override;
  const std::vector<std::shared_ptr<const PreservationPolicy>>& policies() const {
    return policies_;
  }

 private:
  std::vector<std::shared_ptr<const PreservationPolicy>> policies_;
};

}  // namespace cairn
