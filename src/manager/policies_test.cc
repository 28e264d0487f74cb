// Table-driven tests for the preservation and save-decision policies. The cases port Orbax's
// checkpoint/orbax/checkpoint/_src/checkpoint_managers/preservation_policy_test.py and add the
// edge cases read from preservation_policy.py and save_decision_policy.py.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cairn/preservation_policy.h"
#include "cairn/save_decision_policy.h"

namespace cairn {
namespace {

using Clock = std::chrono::system_clock;
using nlohmann::json;

// A fixed "now" (2026-05-29) so that time-based cases never depend on the wall clock.
const Clock::time_point kNow = Clock::time_point(std::chrono::seconds(1'780'056'000));
constexpr double kHour = 3600.0;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Clock::time_point At(double offset_secs) {
  return kNow +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(offset_secs));
}

// One checkpoint row of a table: step, commit time as seconds from kNow, metrics or none.
struct Row {
  int64_t step = 0;
  double time_secs = 0;
  std::optional<json> metrics;
};

std::vector<PolicyCheckpointInfo> MakeCheckpoints(const std::vector<Row>& rows) {
  std::vector<PolicyCheckpointInfo> out;
  for (const Row& r : rows)
    out.push_back({.step = r.step, .time = At(r.time_secs), .metrics = r.metrics});
  return out;
}

// Orbax's test fixture: the given steps, one second apart, no metrics.
std::vector<Row> Steps(const std::vector<int64_t>& steps) {
  std::vector<Row> rows;
  for (size_t i = 0; i < steps.size(); ++i) rows.push_back({steps[i], static_cast<double>(i), {}});
  return rows;
}

// Steps 0.. one second apart, metrics {"loss": v} or none where `losses` has no value.
std::vector<Row> Losses(const std::vector<std::optional<double>>& losses) {
  std::vector<Row> rows;
  for (size_t i = 0; i < losses.size(); ++i) {
    std::optional<json> metrics;
    if (losses[i]) metrics = json{{"loss", *losses[i]}};
    rows.push_back({static_cast<int64_t>(i), static_cast<double>(i), metrics});
  }
  return rows;
}

std::vector<int64_t> PreservedSteps(const PreservationPolicy& policy,
                                    const std::vector<PolicyCheckpointInfo>& checkpoints) {
  const std::vector<bool> flags = policy.ShouldPreserve(checkpoints, PreservationContext{});
  EXPECT_EQ(flags.size(), checkpoints.size());
  std::vector<int64_t> steps;
  for (size_t i = 0; i < flags.size() && i < checkpoints.size(); ++i) {
    if (flags[i]) steps.push_back(checkpoints[i].step);
  }
  return steps;
}

double Loss(const json& metrics) { return metrics.value("loss", 0.0); }

std::shared_ptr<const PreservationPolicy> MinLoss(std::optional<int64_t> n, bool keep = true) {
  return std::make_shared<BestN>(BestN::Options{
      .get_metric_fn = Loss, .reverse = true, .n = n, .keep_checkpoints_without_metrics = keep});
}

// ---------------------------------------------------------------------------------------------
// Preservation policies: one table, one instantiation per policy.

struct PreserveCase {
  std::string name;
  std::shared_ptr<const PreservationPolicy> policy;
  std::vector<Row> checkpoints;
  std::vector<int64_t> expected_steps;
};

void PrintTo(const PreserveCase& c, std::ostream* os) { *os << c.name; }

// Names each instantiated case after its table row.
template <typename Case>
std::string CaseName(const testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

class PreservationPolicyTableTest : public testing::TestWithParam<PreserveCase> {};

TEST_P(PreservationPolicyTableTest, PreservesExpectedSteps) {
  const PreserveCase& c = GetParam();
  ASSERT_TRUE(c.policy->Validate().ok()) << c.policy->Validate().ToString();
  EXPECT_EQ(PreservedSteps(*c.policy, MakeCheckpoints(c.checkpoints)), c.expected_steps);
}

template <typename P, typename... Args>
std::shared_ptr<const PreservationPolicy> Make(Args&&... args) {
  return std::make_shared<P>(std::forward<Args>(args)...);
}

INSTANTIATE_TEST_SUITE_P(PreserveAll, PreservationPolicyTableTest,
                         testing::ValuesIn(std::vector<PreserveCase>{
                             {"empty", Make<PreserveAll>(), {}, {}},
                             {"five", Make<PreserveAll>(), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
                         }),
                         CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(
    LatestN, PreservationPolicyTableTest,
    testing::ValuesIn(std::vector<PreserveCase>{
        {"n_none_keeps_all", Make<LatestN>(), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        {"n_3", Make<LatestN>(3), Steps({0, 1, 2, 3, 4}), {2, 3, 4}},
        {"n_15_more_than_there_are", Make<LatestN>(15), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        {"n_equal_to_count", Make<LatestN>(5), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        {"n_0_keeps_none", Make<LatestN>(0), Steps({0, 1, 2, 3, 4}), {}},
        {"n_1_irregular_steps", Make<LatestN>(1), Steps({7, 100, 1000}), {1000}},
        {"empty", Make<LatestN>(2), {}, {}},
    }),
    CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(
    EveryNSeconds, PreservationPolicyTableTest,
    testing::ValuesIn(std::vector<PreserveCase>{
        // Orbax's cases: steps 0..4 one second apart.
        {"interval_1", Make<EveryNSeconds>(1), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        {"interval_3", Make<EveryNSeconds>(3), Steps({0, 1, 2, 3, 4}), {0, 3}},
        {"interval_6_keeps_only_first", Make<EveryNSeconds>(6), Steps({0, 1, 2, 3, 4}), {0}},
        {"interval_0_keeps_all", Make<EveryNSeconds>(0), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        // Measured from the last kept checkpoint: 4 - 0 >= 3 although 4 - 2 < 3.
        {"anchor_is_last_kept",
         Make<EveryNSeconds>(3),
         {{0, 0, {}}, {10, 2, {}}, {20, 4, {}}},
         {0, 20}},
        // Irregular times; 2.5 s apart counts (inclusive).
        {"irregular_times_inclusive",
         Make<EveryNSeconds>(2.5),
         {{0, 0, {}}, {10, 2, {}}, {20, 2.5, {}}, {30, 4.9, {}}, {40, 5, {}}, {50, 9, {}}},
         {0, 20, 40, 50}},
        {"chrono_minutes",
         Make<EveryNSeconds>(std::chrono::minutes(10)),
         {{1, 0, {}}, {2, 300, {}}, {3, 599, {}}, {4, 600, {}}, {5, 1300, {}}},
         {1, 4, 5}},
        {"empty", Make<EveryNSeconds>(5), {}, {}},
    }),
    CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(
    EveryNSteps, PreservationPolicyTableTest,
    testing::ValuesIn(std::vector<PreserveCase>{
        // Orbax's cases.
        {"interval_1", Make<EveryNSteps>(1), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        {"exact_interval_3", Make<EveryNSteps>(3), Steps({0, 1, 2, 4}), {0}},
        {"inexact_interval_3", Make<EveryNSteps>(3, false), Steps({0, 1, 2, 4}), {0, 4}},
        {"interval_6", Make<EveryNSteps>(6), Steps({0, 1, 2, 3, 4}), {0}},
        {"inexact_irregular_drifts",
         Make<EveryNSteps>(3, false),
         Steps({0, 1, 2, 4, 5, 8, 9, 13, 14, 25}),
         {0, 4, 8, 13, 25}},
        {"max_to_keep_3", Make<EveryNSteps>(1, true, 3), Steps({0, 1, 2, 3, 4}), {2, 3, 4}},
        {"inexact_irregular_max_to_keep_3",
         Make<EveryNSteps>(EveryNSteps::Options{
             .interval_steps = 3, .exact_interval = false, .max_to_keep = 3}),
         Steps({0, 1, 2, 4, 5, 8, 9, 13, 14, 25}),
         {8, 13, 25}},
        // Exact mode gives the first checkpoint no special treatment; inexact mode always keeps it.
        {"exact_first_not_multiple", Make<EveryNSteps>(6), Steps({3, 6, 9, 12}), {6, 12}},
        {"inexact_first_not_multiple", Make<EveryNSteps>(6, false), Steps({3, 6, 9, 12}), {3, 9}},
        // Same irregular steps, three policies: exact, drift, and closest (next table).
        {"exact_irregular", Make<EveryNSteps>(10), Steps({0, 9, 12, 19, 31, 33}), {0}},
        {"inexact_irregular",
         Make<EveryNSteps>(10, false),
         Steps({0, 9, 12, 19, 31, 33}),
         {0, 12, 31}},
        {"exact_max_to_keep_1", Make<EveryNSteps>(5, true, 1), Steps({0, 5, 7, 10, 11}), {10}},
        {"empty_inexact", Make<EveryNSteps>(3, false), {}, {}},
    }),
    CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(
    EveryNStepsClosest, PreservationPolicyTableTest,
    testing::ValuesIn(std::vector<PreserveCase>{
        // Orbax's cases.
        {"interval_1", Make<EveryNStepsClosest>(1), Steps({0, 1, 2, 3, 4}), {0, 1, 2, 3, 4}},
        // 2 and 4 are both one step from 3: the later wins (and is the last anyway).
        {"tie_later_wins", Make<EveryNStepsClosest>(3), Steps({0, 1, 2, 4}), {0, 4}},
        {"irregular",
         Make<EveryNStepsClosest>(3),
         Steps({0, 1, 2, 4, 5, 8, 9, 13, 14, 25}),
         {0, 4, 5, 9, 13, 14, 25}},
        {"max_to_keep_3", Make<EveryNStepsClosest>(1, 3), Steps({0, 1, 2, 3, 4}), {2, 3, 4}},
        {"irregular_max_to_keep_3",
         Make<EveryNStepsClosest>(EveryNStepsClosest::Options{.interval_steps = 3,
                                                              .max_to_keep = 3}),
         Steps({0, 1, 2, 4, 5, 8, 9, 13, 14, 25}),
         {13, 14, 25}},
        // No drift: each multiple of 10 keeps its nearest checkpoint; 33 is kept as the last.
        {"irregular_no_drift",
         Make<EveryNStepsClosest>(10),
         Steps({0, 9, 12, 19, 31, 33}),
         {0, 9, 19, 31, 33}},
        // Python's round() sends halves to the even index: 1 -> 0, 3 -> 4, 5 -> 4, 7 -> 8;
        // 3 and 5 tie for grid point 4 and the later (5) wins, so 3 is dropped.
        {"halves_round_to_even", Make<EveryNStepsClosest>(2), Steps({1, 3, 5, 7}), {1, 5, 7}},
        // Far from any grid point: a lone checkpoint still occupies its bucket.
        {"lone_far_checkpoint", Make<EveryNStepsClosest>(100), Steps({37}), {37}},
        // 40 and 45 both round to 0 (40 is closer); 160 and 170 both round to 200.
        {"far_from_grid_each_bucket_keeps_one",
         Make<EveryNStepsClosest>(100),
         Steps({40, 45, 140, 160, 170}),
         {40, 140, 170}},
        // The last checkpoint is kept even when its bucket has a closer one.
        {"last_always_kept", Make<EveryNStepsClosest>(10), Steps({0, 10, 11}), {0, 10, 11}},
        {"max_to_keep_keeps_last", Make<EveryNStepsClosest>(10, 1), Steps({0, 10, 11}), {11}},
        {"empty", Make<EveryNStepsClosest>(3), {}, {}},
    }),
    CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(CustomSteps, PreservationPolicyTableTest,
                         testing::ValuesIn(std::vector<PreserveCase>{
                             // Orbax's cases against steps 0..4.
                             {"subset",
                              Make<CustomSteps>(std::vector<int64_t>{0, 2, 3}),
                              Steps({0, 1, 2, 3, 4}),
                              {0, 2, 3}},
                             {"all",
                              Make<CustomSteps>(std::vector<int64_t>{0, 1, 2, 3, 4}),
                              Steps({0, 1, 2, 3, 4}),
                              {0, 1, 2, 3, 4}},
                             {"none_present",
                              Make<CustomSteps>(std::vector<int64_t>{14, 13}),
                              Steps({0, 1, 2, 3, 4}),
                              {}},
                             {"unsorted_duplicates",
                              Make<CustomSteps>(std::vector<int64_t>{40, 0, 40}),
                              Steps({0, 10, 20, 30, 40}),
                              {0, 40}},
                         }),
                         CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(
    BestN, PreservationPolicyTableTest,
    testing::ValuesIn(std::vector<PreserveCase>{
        // Orbax's cases: reverse=True on loss keeps the smallest losses.
        {"n_none_keeps_all", MinLoss(std::nullopt), Losses({5, {}, 3, {}, 7}), {0, 1, 2, 3, 4}},
        {"n_1_min_loss_keeps_no_metrics", MinLoss(1), Losses({7, {}, 4, {}, 5}), {1, 2, 3}},
        {"n_4_keep_without_metrics", MinLoss(4), Losses({5, {}, 4, {}, 7}), {0, 1, 2, 3, 4}},
        {"n_4_drop_without_metrics", MinLoss(4, false), Losses({5, {}, 4, {}, 7}), {0, 2, 4}},
        // n >= count short-circuits: even metric-less checkpoints stay with keep=false.
        {"n_equals_count_ignores_keep_flag",
         MinLoss(5, false),
         Losses({5, {}, 4, {}, 7}),
         {0, 1, 2, 3, 4}},
        {"n_none_ignores_keep_flag", MinLoss(std::nullopt, false), Losses({5, {}, 4}), {0, 1, 2}},
        // n = 0 keeps nothing, not even checkpoints without metrics.
        {"n_0_keeps_nothing", MinLoss(0, true), Losses({5, {}, 4, {}, 7}), {}},
        {"n_1_min_loss_drop_without_metrics", MinLoss(1, false), Losses({7, {}, 4, {}, 5}), {2}},
        // reverse=false (the default) keeps the LARGEST values.
        {"default_order_keeps_largest",
         Make<BestN>(BestN::Options{
             .get_metric_fn = Loss, .n = 1, .keep_checkpoints_without_metrics = false}),
         Losses({5, {}, 3, {}, 7}),
         {4}},
        {"max_accuracy_nested_metrics",
         Make<BestN>(BestN::Options{
             .get_metric_fn = [](const json& m) { return m["eval"]["accuracy"].get<double>(); },
             .n = 2}),
         {{0, 0, json{{"eval", {{"accuracy", 0.9}}}}},
          {1, 1, json{{"eval", {{"accuracy", 0.7}}}}},
          {2, 2, std::nullopt},
          {3, 3, json{{"eval", {{"accuracy", 0.8}}}}}},
         {0, 2, 3}},
        // Ties at the cut: the stable sort puts the later step last, so it wins.
        {"tie_min_later_wins", MinLoss(1, false), Losses({2, 1, 1, 3}), {2}},
        {"tie_max_later_wins",
         Make<BestN>(BestN::Options{.get_metric_fn = Loss, .n = 1}),
         Losses({1, 1, 0, 0}),
         {1}},
        {"max_two",
         Make<BestN>(BestN::Options{.get_metric_fn = Loss, .n = 2}),
         Losses({1, 1, 0, 3}),
         {1, 3}},
        // Fewer checkpoints with metrics than n: all of them are kept.
        {"fewer_metrics_than_n", MinLoss(2, false), Losses({{}, 5, {}, {}}), {1}},
        // NaN ranks below every number in both directions.
        {"nan_min", MinLoss(3, false), Losses({kNaN, 3, 1, 2, {}}), {1, 2, 3}},
        {"nan_max",
         Make<BestN>(BestN::Options{.get_metric_fn = Loss, .n = 3}),
         Losses({kNaN, 3, 1, 2, {}}),
         {1, 2, 3, 4}},
        {"nan_kept_when_needed", MinLoss(2, false), Losses({kNaN, 3, {}}), {0, 1}},
        {"empty", MinLoss(0), {}, {}},
    }),
    CaseName<PreserveCase>);

INSTANTIATE_TEST_SUITE_P(
    AnyPreservationPolicy, PreservationPolicyTableTest,
    testing::ValuesIn(std::vector<PreserveCase>{
        // Latest 2 (50, 60) plus the 2 smallest losses (0.2 at 40, 0.3 at 20).
        {"latest_2_or_best_2_min_loss",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(2), MinLoss(2)}),
         {{10, 0, json{{"loss", 0.9}}},
          {20, 1, json{{"loss", 0.3}}},
          {30, 2, json{{"loss", 0.5}}},
          {40, 3, json{{"loss", 0.2}}},
          {50, 4, json{{"loss", 0.8}}},
          {60, 5, json{{"loss", 0.7}}}},
         {20, 40, 50, 60}},
        // Same, with a metric-less checkpoint that BestN drops and LatestN does not cover.
        {"latest_2_or_best_2_drop_without_metrics",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(2), MinLoss(2, false)}),
         {{10, 0, json{{"loss", 0.9}}},
          {20, 1, std::nullopt},
          {30, 2, json{{"loss", 0.5}}},
          {40, 3, json{{"loss", 0.2}}},
          {50, 4, json{{"loss", 0.8}}},
          {60, 5, json{{"loss", 0.7}}}},
         {30, 40, 50, 60}},
        {"latest_1_or_every_100_steps",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(1), Make<EveryNSteps>(100)}),
         Steps({50, 100, 150, 200, 250, 275}),
         {100, 200, 275}},
        // Orbax's joint case: five policies that together cover every step.
        {"orbax_joint",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(3), Make<EveryNSeconds>(3),
             Make<CustomSteps>(std::vector<int64_t>{0, 3}), MinLoss(2), Make<EveryNSteps>(6)}),
         {{0, 0, json{{"loss", 5}}},
          {1, 1, {}},
          {2, 2, json{{"loss", 4}}},
          {3, 3, {}},
          {4, 4, json{{"loss", 3}}},
          {5, 5, {}},
          {6, 6, json{{"loss", 11}}},
          {7, 7, {}},
          {9, 8, json{{"loss", 8}}},
          {10, 9, {}},
          {11, 10, json{{"loss", 12}}}},
         {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11}},
        // The same children minus BestN leave gaps.
        {"orbax_joint_without_best_n",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(3), Make<EveryNSeconds>(3),
             Make<CustomSteps>(std::vector<int64_t>{0, 3}), Make<EveryNSteps>(6)}),
         Steps({0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11}),
         {0, 3, 6, 9, 10, 11}},
    }),
    CaseName<PreserveCase>);

// ---------------------------------------------------------------------------------------------
// LatestDuration, with an injected clock (Orbax's test patches datetime.now the same way).

struct DurationCase {
  std::string name;
  double duration_secs;
  std::vector<Row> checkpoints;
  std::vector<int64_t> expected_steps;
};

void PrintTo(const DurationCase& c, std::ostream* os) { *os << c.name; }

class LatestDurationPolicyTableTest : public testing::TestWithParam<DurationCase> {};

TEST_P(LatestDurationPolicyTableTest, PreservesRecentSteps) {
  const DurationCase& c = GetParam();
  LatestDuration policy(LatestDuration::Options{
      .duration = std::chrono::duration<double>(c.duration_secs), .now = [] { return kNow; }});
  ASSERT_TRUE(policy.Validate().ok());
  EXPECT_EQ(PreservedSteps(policy, MakeCheckpoints(c.checkpoints)), c.expected_steps);
}

const std::vector<Row> kOrbaxAges = {
    {0, -30 * kHour, {}}, {1, -25 * kHour, {}}, {2, -23 * kHour, {}}, {3, -10 * kHour, {}}};

INSTANTIATE_TEST_SUITE_P(
    LatestDuration, LatestDurationPolicyTableTest,
    testing::ValuesIn(std::vector<DurationCase>{
        {"hours_24", 24 * kHour, kOrbaxAges, {2, 3}},
        {"hours_28", 28 * kHour, kOrbaxAges, {1, 2, 3}},
        {"hours_5_keeps_none", 5 * kHour, kOrbaxAges, {}},
        {"hours_100_keeps_all", 100 * kHour, kOrbaxAges, {0, 1, 2, 3}},
        {"boundary_inclusive", 23 * kHour, kOrbaxAges, {2, 3}},
        {"just_under_boundary", 23 * kHour - 1, kOrbaxAges, {3}},
        // Everything after the first recent checkpoint is kept, even an older one.
        {"keeps_suffix_after_first_recent",
         5 * kHour,
         {{0, -40 * kHour, {}}, {1, -1 * kHour, {}}, {2, -30 * kHour, {}}, {3, -2 * kHour, {}}},
         {1, 2, 3}},
        {"zero_duration_keeps_now", 0, {{0, -1, {}}, {1, 0, {}}}, {1}},
        {"empty", kHour, {}, {}},
    }),
    CaseName<DurationCase>);

TEST(LatestDurationPolicyTest, DefaultsToSystemClock) {
  const LatestDuration policy(std::chrono::hours(24));
  const auto now = Clock::now();
  const std::vector<PolicyCheckpointInfo> checkpoints = {
      {.step = 1, .time = now - std::chrono::hours(48)},
      {.step = 2, .time = now - std::chrono::hours(1)}};
  EXPECT_EQ(PreservedSteps(policy, checkpoints), (std::vector<int64_t>{2}));
}

// ---------------------------------------------------------------------------------------------
// User-written policies and argument checking.

// Keeps even steps: the kind of policy a user writes against the abstract interface.
class KeepEvenSteps final : public PreservationPolicy {
 public:
  std::vector<bool> ShouldPreserve(const std::vector<PolicyCheckpointInfo>& checkpoints,
                                   const PreservationContext& /*context*/) const override {
    std::vector<bool> out;
    for (const auto& c : checkpoints) out.push_back(c.step % 2 == 0);
    return out;
  }
};

TEST(UserPreservationPolicyTest, WorksAloneAndInsideAny) {
  const auto checkpoints = MakeCheckpoints(Steps({1, 2, 3, 4, 5}));
  const KeepEvenSteps even;
  EXPECT_TRUE(even.Validate().ok());
  EXPECT_EQ(PreservedSteps(even, checkpoints), (std::vector<int64_t>{2, 4}));
  const AnyPreservationPolicy any({std::make_shared<KeepEvenSteps>(), Make<LatestN>(1)});
  EXPECT_TRUE(any.Validate().ok());
  EXPECT_EQ(PreservedSteps(any, checkpoints), (std::vector<int64_t>{2, 4, 5}));
}

struct InvalidCase {
  std::string name;
  std::shared_ptr<const PreservationPolicy> policy;
  std::string message_part;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class InvalidPreservationPolicyTest : public testing::TestWithParam<InvalidCase> {};

// A misconfigured policy reports InvalidArgument and, if used anyway, deletes nothing.
TEST_P(InvalidPreservationPolicyTest, RejectsAndPreservesEverything) {
  const InvalidCase& c = GetParam();
  const Status status = c.policy->Validate();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(c.message_part), std::string::npos) << status.ToString();
  EXPECT_EQ(PreservedSteps(*c.policy, MakeCheckpoints(Steps({1, 2, 3}))),
            (std::vector<int64_t>{1, 2, 3}));
}

INSTANTIATE_TEST_SUITE_P(
    Arguments, InvalidPreservationPolicyTest,
    testing::ValuesIn(std::vector<InvalidCase>{
        {"latest_n_negative", Make<LatestN>(-1), "n must be >= 0"},
        {"every_n_seconds_negative", Make<EveryNSeconds>(-1.0), "interval_secs"},
        {"every_n_seconds_nan", Make<EveryNSeconds>(kNaN), "interval_secs"},
        {"every_n_steps_zero", Make<EveryNSteps>(0), "interval_steps must be > 0"},
        {"every_n_steps_negative", Make<EveryNSteps>(-3, false), "interval_steps"},
        {"every_n_steps_max_to_keep_zero", Make<EveryNSteps>(5, true, 0), "max_to_keep"},
        {"closest_zero", Make<EveryNStepsClosest>(0), "interval_steps"},
        {"closest_max_to_keep_negative", Make<EveryNStepsClosest>(2, -1), "max_to_keep"},
        {"best_n_without_metric_fn", Make<BestN>(BestN::Options{.n = 1}), "get_metric_fn"},
        {"best_n_negative", MinLoss(-2), "n must be >= 0"},
        {"latest_duration_negative", Make<LatestDuration>(std::chrono::duration<double>(-1.0)),
         "duration"},
        {"any_empty",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{}),
         "must not be empty"},
        {"any_null_child",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(1), nullptr}),
         "policies[1] is null"},
        {"any_invalid_child",
         Make<AnyPreservationPolicy>(std::vector<std::shared_ptr<const PreservationPolicy>>{
             Make<LatestN>(1), Make<LatestN>(-4)}),
         "policies[1]: LatestN: n must be >= 0"},
    }),
    CaseName<InvalidCase>);

TEST(PreservationPolicyArgumentsTest, BoundaryValuesAreValid) {
  EXPECT_TRUE(LatestN(0).Validate().ok());
  EXPECT_TRUE(LatestN().Validate().ok());
  EXPECT_TRUE(EveryNSeconds(0).Validate().ok());
  EXPECT_TRUE(EveryNSteps(1, true, 1).Validate().ok());
  EXPECT_TRUE(EveryNStepsClosest(1, 1).Validate().ok());
  EXPECT_TRUE(BestN({.get_metric_fn = Loss, .n = 0}).Validate().ok());
  EXPECT_TRUE(LatestDuration(std::chrono::seconds(0)).Validate().ok());
  EXPECT_EQ(EveryNSteps(7).options().max_to_keep, std::nullopt);
  EXPECT_TRUE(EveryNSteps(7).options().exact_interval);
  EXPECT_FALSE(BestN({.get_metric_fn = Loss}).options().reverse);
  EXPECT_TRUE(BestN({.get_metric_fn = Loss}).options().keep_checkpoints_without_metrics);
  EXPECT_DOUBLE_EQ(EveryNSeconds(std::chrono::minutes(2)).interval_secs(), 120.0);
}

// ---------------------------------------------------------------------------------------------
// Save-decision policies.

struct SaveCase {
  std::string name;
  std::shared_ptr<const SaveDecisionPolicy> policy;
  int64_t step = 0;
  double time_secs = 0;       // the candidate's time, seconds from kNow
  std::vector<Row> previous;  // committed steps
  DecisionContext context;
  bool expected = false;
};

void PrintTo(const SaveCase& c, std::ostream* os) { *os << c.name; }

class SaveDecisionPolicyTableTest : public testing::TestWithParam<SaveCase> {};

TEST_P(SaveDecisionPolicyTableTest, Decides) {
  const SaveCase& c = GetParam();
  ASSERT_TRUE(c.policy->Validate().ok()) << c.policy->Validate().ToString();
  const PolicyCheckpointInfo step{.step = c.step, .time = At(c.time_secs)};
  EXPECT_EQ(c.policy->ShouldSave(step, MakeCheckpoints(c.previous), c.context), c.expected);
}

template <typename P, typename... Args>
std::shared_ptr<const SaveDecisionPolicy> MakeSave(Args&&... args) {
  return std::make_shared<P>(std::forward<Args>(args)...);
}

constexpr DecisionContext kIdle{};
constexpr DecisionContext kSaving{.is_saving_in_progress = true};
constexpr DecisionContext kPreempted{.reached_preemption = true};
constexpr DecisionContext kPreemptedWhileSaving{.is_saving_in_progress = true,
                                                .reached_preemption = true};

INSTANTIATE_TEST_SUITE_P(
    FixedIntervalPolicy, SaveDecisionPolicyTableTest,
    testing::ValuesIn(std::vector<SaveCase>{
        {"step_0", MakeSave<FixedIntervalPolicy>(100), 0, 0, {}, kIdle, true},
        {"step_100", MakeSave<FixedIntervalPolicy>(100), 100, 0, {}, kIdle, true},
        {"step_150", MakeSave<FixedIntervalPolicy>(100), 150, 0, {}, kIdle, false},
        {"ignores_history", MakeSave<FixedIntervalPolicy>(100), 200, 0, Steps({100, 199}), kIdle,
         true},
        {"ignores_saving", MakeSave<FixedIntervalPolicy>(100), 300, 0, {}, kSaving, true},
        {"ignores_preemption", MakeSave<FixedIntervalPolicy>(100), 301, 0, {}, kPreempted, false},
    }),
    CaseName<SaveCase>);

INSTANTIATE_TEST_SUITE_P(SpecificStepsPolicy, SaveDecisionPolicyTableTest,
                         testing::ValuesIn(std::vector<SaveCase>{
                             {"listed",
                              MakeSave<SpecificStepsPolicy>(std::vector<int64_t>{17, 5}),
                              5,
                              0,
                              {},
                              kIdle,
                              true},
                             {"listed_second",
                              MakeSave<SpecificStepsPolicy>(std::vector<int64_t>{17, 5}),
                              17,
                              0,
                              {},
                              kIdle,
                              true},
                             {"not_listed",
                              MakeSave<SpecificStepsPolicy>(std::vector<int64_t>{17, 5}),
                              6,
                              0,
                              {},
                              kIdle,
                              false},
                             {"empty_set",
                              MakeSave<SpecificStepsPolicy>(std::vector<int64_t>{}),
                              0,
                              0,
                              {},
                              kIdle,
                              false},
                         }),
                         CaseName<SaveCase>);

std::shared_ptr<const SaveDecisionPolicy> Continuous(std::optional<double> min_secs) {
  return MakeSave<ContinuousCheckpointingPolicy>(
      ContinuousCheckpointingPolicy::Options{.minimum_interval_secs = min_secs});
}

INSTANTIATE_TEST_SUITE_P(
    ContinuousCheckpointingPolicy, SaveDecisionPolicyTableTest,
    testing::ValuesIn(std::vector<SaveCase>{
        {"first_save", Continuous(std::nullopt), 1, 0, {}, kIdle, true},
        {"back_to_back", Continuous(std::nullopt), 2, 0, {{1, 0, {}}}, kIdle, true},
        {"not_while_saving", Continuous(std::nullopt), 2, 100, {{1, 0, {}}}, kSaving, false},
        {"not_while_saving_even_first", Continuous(std::nullopt), 1, 0, {}, kSaving, false},
        {"min_first_save", Continuous(60), 1, 0, {}, kIdle, true},
        {"min_too_soon", Continuous(60), 2, 59, {{1, 0, {}}}, kIdle, false},
        {"min_exactly_inclusive", Continuous(60), 2, 60, {{1, 0, {}}}, kIdle, true},
        {"min_later", Continuous(60), 2, 120, {{1, 0, {}}}, kIdle, true},
        {"min_measured_from_newest",
         Continuous(60),
         3,
         130,
         {{1, 0, {}}, {2, 100, {}}},
         kIdle,
         false},
        {"min_fractional", Continuous(0.5), 3, 100.25, {{1, 0, {}}, {2, 100, {}}}, kIdle, false},
        {"min_elapsed_but_saving", Continuous(60), 2, 1000, {{1, 0, {}}}, kSaving, false},
        {"default_constructed",
         MakeSave<ContinuousCheckpointingPolicy>(),
         2,
         0,
         {{1, 0, {}}},
         kIdle,
         true},
    }),
    CaseName<SaveCase>);

INSTANTIATE_TEST_SUITE_P(
    PreemptionCheckpointingPolicy, SaveDecisionPolicyTableTest,
    testing::ValuesIn(std::vector<SaveCase>{
        {"preempted", MakeSave<PreemptionCheckpointingPolicy>(), 7, 0, {}, kPreempted, true},
        {"not_preempted", MakeSave<PreemptionCheckpointingPolicy>(), 7, 0, {}, kIdle, false},
        {"preempted_while_saving", MakeSave<PreemptionCheckpointingPolicy>(), 7, 0, Steps({1, 2}),
         kPreemptedWhileSaving, true},
        {"saving_only", MakeSave<PreemptionCheckpointingPolicy>(), 7, 0, {}, kSaving, false},
    }),
    CaseName<SaveCase>);

INSTANTIATE_TEST_SUITE_P(
    InitialSavePolicy, SaveDecisionPolicyTableTest,
    testing::ValuesIn(std::vector<SaveCase>{
        {"fresh_run", MakeSave<InitialSavePolicy>(), 0, 0, {}, kIdle, true},
        {"fresh_run_late_step", MakeSave<InitialSavePolicy>(), 12345, 0, {}, kIdle, true},
        {"restarted_run", MakeSave<InitialSavePolicy>(), 101, 0, {{100, -5, {}}}, kIdle, false},
        {"fresh_run_while_saving", MakeSave<InitialSavePolicy>(), 0, 0, {}, kSaving, true},
    }),
    CaseName<SaveCase>);

std::shared_ptr<const SaveDecisionPolicy> IntervalOrPreemption() {
  return MakeSave<AnySavePolicy>(std::vector<std::shared_ptr<const SaveDecisionPolicy>>{
      MakeSave<FixedIntervalPolicy>(1000), MakeSave<PreemptionCheckpointingPolicy>()});
}

INSTANTIATE_TEST_SUITE_P(
    AnySavePolicy, SaveDecisionPolicyTableTest,
    testing::ValuesIn(std::vector<SaveCase>{
        {"interval_hit", IntervalOrPreemption(), 2000, 0, {}, kIdle, true},
        {"preemption_hit", IntervalOrPreemption(), 1500, 0, {}, kPreempted, true},
        {"neither", IntervalOrPreemption(), 1500, 0, {}, kIdle, false},
        {"no_children",
         MakeSave<AnySavePolicy>(std::vector<std::shared_ptr<const SaveDecisionPolicy>>{}),
         0,
         0,
         {},
         kPreempted,
         false},
        {"initial_or_continuous_min_first",
         MakeSave<AnySavePolicy>(std::vector<std::shared_ptr<const SaveDecisionPolicy>>{
             MakeSave<InitialSavePolicy>(), Continuous(3600)}),
         5,
         0,
         {},
         kSaving,
         true},
        {"initial_or_continuous_min_later",
         MakeSave<AnySavePolicy>(std::vector<std::shared_ptr<const SaveDecisionPolicy>>{
             MakeSave<InitialSavePolicy>(), Continuous(3600)}),
         6,
         10,
         {{5, 0, {}}},
         kIdle,
         false},
    }),
    CaseName<SaveCase>);

// The Orbax docs' example of a user policy, plus a call counter to observe short-circuiting.
class SaveEveryNSteps final : public SaveDecisionPolicy {
 public:
  SaveEveryNSteps(int64_t n, int* calls) : n_(n), calls_(calls) {}
  bool ShouldSave(const PolicyCheckpointInfo& step,
                  const std::vector<PolicyCheckpointInfo>& /*previous_steps*/,
                  const DecisionContext& /*context*/) const override {
    ++*calls_;
    return step.step % n_ == 0;
  }

 private:
  int64_t n_;
  int* calls_;
};

TEST(AnySavePolicyTest, StopsAtFirstTrueAndAcceptsUserPolicies) {
  int calls = 0;
  const AnySavePolicy any(
      {MakeSave<PreemptionCheckpointingPolicy>(), std::make_shared<SaveEveryNSteps>(3, &calls)});
  ASSERT_TRUE(any.Validate().ok());
  const std::vector<PolicyCheckpointInfo> none;
  EXPECT_TRUE(any.ShouldSave({.step = 4}, none, kPreempted));
  EXPECT_EQ(calls, 0);  // the preemption policy already said yes
  EXPECT_FALSE(any.ShouldSave({.step = 4}, none, kIdle));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(any.ShouldSave({.step = 6}, none, kIdle));
  EXPECT_EQ(calls, 2);
}

TEST(SaveDecisionPolicyArgumentsTest, RejectsInvalidArguments) {
  const PolicyCheckpointInfo step0{.step = 0};
  const FixedIntervalPolicy zero(0);
  EXPECT_EQ(zero.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(zero.ShouldSave(step0, {}, kIdle));  // never divides by zero
  const FixedIntervalPolicy negative(-5);
  EXPECT_EQ(negative.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(negative.ShouldSave({.step = 10}, {}, kIdle));  // Python's % semantics
  EXPECT_TRUE(FixedIntervalPolicy(1).Validate().ok());

  const ContinuousCheckpointingPolicy negative_min({.minimum_interval_secs = -1});
  const Status status = negative_min.Validate();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("minimum_interval_secs"), std::string::npos);
  EXPECT_TRUE(ContinuousCheckpointingPolicy({.minimum_interval_secs = 0}).Validate().ok());

  const AnySavePolicy with_null({MakeSave<InitialSavePolicy>(), nullptr});
  EXPECT_EQ(with_null.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(with_null.Validate().message().find("policies[1] is null"), std::string::npos);
  EXPECT_FALSE(with_null.ShouldSave(step0, {{.step = -1}}, kIdle));  // the null child is skipped
  const AnySavePolicy with_invalid({MakeSave<FixedIntervalPolicy>(0)});
  EXPECT_NE(with_invalid.Validate().message().find("policies[0]: FixedIntervalPolicy: interval"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn
