#pragma once
// Shared by the policy tests: a fixed clock and checkpoint tables.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/preservation_policy.h"

namespace cairn::policy_testing {

using Clock = std::chrono::system_clock;
using nlohmann::json;

// A fixed "now" (2026-05-29) so that time-based cases never depend on the wall clock.
inline const Clock::time_point kNow = Clock::time_point(std::chrono::seconds(1'780'056'000));
constexpr double kHour = 3600.0;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

inline Clock::time_point At(double offset_secs) {
  return kNow +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(offset_secs));
}

// One checkpoint row of a table: step, commit time as seconds from kNow, metrics or none.
struct Row {
  int64_t step = 0;
  double time_secs = 0;
  std::optional<json> metrics;
};

inline std::vector<PolicyCheckpointInfo> MakeCheckpoints(const std::vector<Row>& rows) {
  std::vector<PolicyCheckpointInfo> out;
  for (const Row& r : rows)
    out.push_back({.step = r.step, .time = At(r.time_secs), .metrics = r.metrics});
  return out;
}

// Orbax's test fixture: the given steps, one second apart, no metrics.
inline std::vector<Row> Steps(const std::vector<int64_t>& steps) {
  std::vector<Row> rows;
  for (size_t i = 0; i < steps.size(); ++i) rows.push_back({steps[i], static_cast<double>(i), {}});
  return rows;
}

// Steps 0.. one second apart, metrics {"loss": v} or none where `losses` has no value.
inline std::vector<Row> Losses(const std::vector<std::optional<double>>& losses) {
  std::vector<Row> rows;
  for (size_t i = 0; i < losses.size(); ++i) {
    std::optional<json> metrics;
    if (losses[i]) metrics = json{{"loss", *losses[i]}};
    rows.push_back({static_cast<int64_t>(i), static_cast<double>(i), metrics});
  }
  return rows;
}

// Names each instantiated case after its table row.
template <typename Case>
std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

}  // namespace cairn::policy_testing
