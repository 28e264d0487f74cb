// Preservation policies, following Orbax's
// checkpoint/orbax/checkpoint/_src/checkpoint_managers/preservation_policy.py decision for
// decision; the header documents each rule and where cairn deliberately differs.

#include "cairn/preservation_policy.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <map>
#include <string>
#include <utility>

namespace cairn {
namespace {

using Checkpoints = std::vector<PolicyCheckpointInfo>;

// The answer of a misconfigured policy: deleting nothing is the only safe choice.
std::vector<bool> KeepAll(const Checkpoints& checkpoints) {
  return std::vector<bool>(checkpoints.size(), true);
}

// Clears all but the newest `max_to_keep` true entries (Orbax's max_to_keep post-pass).
void ApplyMaxToKeep(std::optional<int64_t> max_to_keep, std::vector<bool>& result) {
  if (!max_to_keep) return;
  int64_t kept = 0;
  for (size_t i = result.size(); i-- > 0;) {
    if (!result[i]) continue;
    if (kept < *max_to_keep) {
      ++kept;
    } else {
      result[i] = false;
    }
  }
}

Status CheckMaxToKeep(const char* policy, std::optional<int64_t> max_to_keep) {
  if (max_to_keep && *max_to_keep < 1) {
    return InvalidArgumentError(std::string(policy) + ": max_to_keep must be >= 1 or none, got " +
                                std::to_string(*max_to_keep));
  }
  return OkStatus();
}

Status CheckIntervalSteps(const char* policy, int64_t interval_steps) {
  if (interval_steps <= 0) {
    return InvalidArgumentError(std::string(policy) + ": interval_steps must be > 0, got " +
                                std::to_string(interval_steps));
  }
  return OkStatus();
}

// Python's round(step / interval) for interval > 0, in exact integer arithmetic: the nearest
// grid index, halves to the even index. Also returns |step - k * interval| without overflow.
std::pair<int64_t, int64_t> NearestGridIndex(int64_t step, int64_t interval) {
  int64_t q = step / interval;
  int64_t r = step % interval;
  if (r < 0) {  // floor division, so that 0 <= r < interval
    r += interval;
    --q;
  }
  const int64_t up = interval - r;  // distance to the grid point above
  if (r < up) return {q, r};
  if (r > up) return {q + 1, up};
  return q % 2 == 0 ? std::pair{q, r} : std::pair{q + 1, up};
}

}  // namespace

std::vector<bool> PreserveAll::ShouldPreserve(const Checkpoints& checkpoints,
                                              const PreservationContext& /*context*/) const {
  return KeepAll(checkpoints);
}

Status LatestN::Validate() const {
  if (n_ && *n_ < 0) {
    return InvalidArgumentError("LatestN: n must be >= 0 or none, got " + std::to_string(*n_));
  }
  return OkStatus();
}

std::vector<bool> LatestN::ShouldPreserve(const Checkpoints& checkpoints,
                                          const PreservationContext& /*context*/) const {
  if (!Validate().ok() || !n_ || checkpoints.size() <= static_cast<size_t>(*n_)) {
    return KeepAll(checkpoints);
  }
  std::vector<bool> result(checkpoints.size(), false);
  std::fill(result.end() - *n_, result.end(), true);
  return result;
}

Status EveryNSeconds::Validate() const {
  if (!(interval_.count() >= 0)) {  // also rejects NaN
    return InvalidArgumentError("EveryNSeconds: interval_secs must be >= 0, got " +
                                std::to_string(interval_.count()));
  }
  return OkStatus();
}

std::vector<bool> EveryNSeconds::ShouldPreserve(const Checkpoints& checkpoints,
                                                const PreservationContext& /*context*/) const {
  if (!Validate().ok() || checkpoints.empty()) return KeepAll(checkpoints);
  std::vector<bool> result(checkpoints.size(), false);
  result[0] = true;
  auto anchor = checkpoints[0].time;  // time of the last kept checkpoint
  for (size_t i = 1; i < checkpoints.size(); ++i) {
    if (checkpoints[i].time - anchor >= interval_) {
      result[i] = true;
      anchor = checkpoints[i].time;
    }
  }
  return result;
}

Status EveryNSteps::Validate() const {
  CAIRN_RETURN_IF_ERROR(CheckIntervalSteps("EveryNSteps", options_.interval_steps));
  return CheckMaxToKeep("EveryNSteps", options_.max_to_keep);
}

std::vector<bool> EveryNSteps::ShouldPreserve(const Checkpoints& checkpoints,
                                              const PreservationContext& /*context*/) const {
  if (!Validate().ok()) return KeepAll(checkpoints);
  const int64_t interval = options_.interval_steps;
  std::vector<bool> result(checkpoints.size(), false);
  if (options_.exact_interval) {
    for (size_t i = 0; i < checkpoints.size(); ++i) {
      result[i] = checkpoints[i].step % interval == 0;
    }
  } else if (!checkpoints.empty()) {
    // Measured from the last kept step, not from a fixed grid: this is where the drift comes from.
    result[0] = true;
    int64_t previous = checkpoints[0].step;
    for (size_t i = 1; i < checkpoints.size(); ++i) {
      if (checkpoints[i].step - previous >= interval) {
        result[i] = true;
        previous = checkpoints[i].step;
      }
    }
  }
  ApplyMaxToKeep(options_.max_to_keep, result);
  return result;
}

std::vector<bool> CustomSteps::ShouldPreserve(const Checkpoints& checkpoints,
                                              const PreservationContext& /*context*/) const {
  std::vector<bool> result(checkpoints.size());
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    result[i] = steps_.contains(checkpoints[i].step);
  }
  return result;
}

Status BestN::Validate() const {
  if (!options_.get_metric_fn) return InvalidArgumentError("BestN: get_metric_fn is required");
  if (options_.n && *options_.n < 0) {
    return InvalidArgumentError("BestN: n must be >= 0 or none, got " +
                                std::to_string(*options_.n));
  }
  return OkStatus();
}

std::vector<bool> BestN::ShouldPreserve(const Checkpoints& checkpoints,
                                        const PreservationContext& /*context*/) const {
  // Orbax checks "n is None or len <= n" before anything else, so a large enough n keeps even
  // the checkpoints without metrics, whatever keep_checkpoints_without_metrics says.
  if (!Validate().ok() || !options_.n || checkpoints.size() <= static_cast<size_t>(*options_.n)) {
    return KeepAll(checkpoints);
  }
  const size_t n = static_cast<size_t>(*options_.n);
  if (n == 0) return std::vector<bool>(checkpoints.size(), false);

  struct Ranked {
    size_t index;
    double value;
  };
  std::vector<Ranked> ranked;
  std::vector<bool> result(checkpoints.size(), false);
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    if (checkpoints[i].metrics) {
      ranked.push_back({i, options_.get_metric_fn(*checkpoints[i].metrics)});
    } else {
      result[i] = options_.keep_checkpoints_without_metrics;
    }
  }
  // Python's sorted(..., reverse=r) is stable in both directions; NaN goes first (least
  // preferred) so that the comparison stays a strict weak ordering.
  const bool reverse = options_.reverse;
  std::stable_sort(ranked.begin(), ranked.end(), [reverse](const Ranked& a, const Ranked& b) {
    const bool a_nan = std::isnan(a.value);
    const bool b_nan = std::isnan(b.value);
    if (a_nan || b_nan) return a_nan && !b_nan;
    return reverse ? a.value > b.value : a.value < b.value;
  });
  const size_t first_kept = ranked.size() > n ? ranked.size() - n : 0;
  for (size_t i = first_kept; i < ranked.size(); ++i) result[ranked[i].index] = true;
  return result;
}

Status LatestDuration::Validate() const {
  if (!(options_.duration.count() >= 0)) {
    return InvalidArgumentError("LatestDuration: duration must be >= 0 seconds, got " +
                                std::to_string(options_.duration.count()));
  }
  return OkStatus();
}

std::vector<bool> LatestDuration::ShouldPreserve(const Checkpoints& checkpoints,
                                                 const PreservationContext& /*context*/) const {
  if (!Validate().ok() || checkpoints.empty()) return KeepAll(checkpoints);
  const auto now = options_.now ? options_.now() : std::chrono::system_clock::now();
  std::vector<bool> result(checkpoints.size(), false);
  // Everything from the first recent-enough checkpoint on is kept, in step order.
  auto first = std::find_if(checkpoints.begin(), checkpoints.end(),
                            [&](const auto& c) { return now - c.time <= options_.duration; });
  std::fill(result.begin() + (first - checkpoints.begin()), result.end(), true);
  return result;
}

Status EveryNStepsClosest::Validate() const {
  CAIRN_RETURN_IF_ERROR(CheckIntervalSteps("EveryNStepsClosest", options_.interval_steps));
  return CheckMaxToKeep("EveryNStepsClosest", options_.max_to_keep);
}

std::vector<bool> EveryNStepsClosest::ShouldPreserve(const Checkpoints& checkpoints,
                                                     const PreservationContext& /*context*/) const {
  if (!Validate().ok() || checkpoints.empty()) return KeepAll(checkpoints);
  struct Best {
    size_t index;
    int64_t distance;
  };
  std::map<int64_t, Best> best_by_grid_index;
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const auto [k, distance] = NearestGridIndex(checkpoints[i].step, options_.interval_steps);
    auto [it, inserted] = best_by_grid_index.try_emplace(k, Best{i, distance});
    // "<=": on a tie the later checkpoint wins, as in Orbax.
    if (!inserted && distance <= it->second.distance) it->second = Best{i, distance};
  }
  std::vector<bool> result(checkpoints.size(), false);
  for (const auto& [k, best] : best_by_grid_index) result[best.index] = true;
  result.back() = true;  // the newest checkpoint is always kept
  ApplyMaxToKeep(options_.max_to_keep, result);
  return result;
}

Status AnyPreservationPolicy::Validate() const {
  if (policies_.empty()) {
    return InvalidArgumentError("AnyPreservationPolicy: policies must not be empty");
  }
  for (size_t i = 0; i < policies_.size(); ++i) {
    if (!policies_[i]) {
      return InvalidArgumentError("AnyPreservationPolicy: policies[" + std::to_string(i) +
                                  "] is null");
    }
    CAIRN_RETURN_IF_ERROR(policies_[i]->Validate().WithContext("AnyPreservationPolicy: policies[" +
                                                               std::to_string(i) + "]"));
  }
  return OkStatus();
}

std::vector<bool> AnyPreservationPolicy::ShouldPreserve(const Checkpoints& checkpoints,
                                                        const PreservationContext& context) const {
  if (!Validate().ok()) return KeepAll(checkpoints);
  std::vector<bool> result(checkpoints.size(), false);
  for (const auto& policy : policies_) {
    const std::vector<bool> child = policy->ShouldPreserve(checkpoints, context);
    assert(child.size() == checkpoints.size() && "ShouldPreserve must answer every checkpoint");
    // A user policy that answers too few entries would be a bug; missing answers keep the
    // checkpoint rather than let a short vector delete it.
    for (size_t i = 0; i < result.size(); ++i) {
      result[i] = result[i] || i >= child.size() || child[i];
    }
  }
  return result;
}

}  // namespace cairn
