// Table-driven tests for the preservation policies. The cases port Orbax's
// checkpoint/orbax/checkpoint/_src/checkpoint_managers/preservation_policy_test.py and add the
// edge cases read from preservation_policy.py and save_decision_policy.py.

#include "cairn/preservation_policy.h"

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

#include "manager/policy_test_util.h"

namespace cairn {
namespace {

using namespace policy_testing;  // NOLINT: test helpers

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

}  // namespace
}  // namespace cairn
