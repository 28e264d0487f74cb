// Table-driven tests for the save-decision policies, from Orbax's save_decision_policy.py.

#include "cairn/save_decision_policy.h"

#include <gtest/gtest.h>

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
