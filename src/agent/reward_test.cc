#include "agent/reward.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gannet::agent {
namespace {

TEST(RewardTest, SpeedAnchors) {
    // Reference 4x faster than the baseline: matching it scores 0.5, its square 1, the baseline 0.
    const RewardSpec spec{.kind = RewardKind::kSpeed, .baseline = 8.0, .reference = 2.0};
    ASSERT_TRUE(check_reward_spec(spec).ok());
    EXPECT_DOUBLE_EQ(compute_reward(spec, 2.0, "").value, 0.5);
    EXPECT_DOUBLE_EQ(compute_reward(spec, 2.0, "").speedup, 4.0);
    EXPECT_DOUBLE_EQ(compute_reward(spec, 0.5, "").value, 1.0);   // speedup 16 = 4^2
    EXPECT_DOUBLE_EQ(compute_reward(spec, 0.25, "").value, 1.0);  // clipped
    EXPECT_DOUBLE_EQ(compute_reward(spec, 4.0, "").value, 0.25);  // speedup 2 = 4^0.5
    EXPECT_DOUBLE_EQ(compute_reward(spec, 8.0, "").value, 0.0);   // equal to the baseline: gated
    EXPECT_DOUBLE_EQ(compute_reward(spec, 9.0, "").value, 0.0);   // slower: gated, not negative
}

TEST(RewardTest, SpeedWithHigherIsBetterMetric) {
    // Throughput: 10 -> 40 GFLOP/s is the reference (4x).
    const RewardSpec spec{
        .kind = RewardKind::kSpeed, .direction = MetricDirection::kHigherIsBetter, .baseline = 10, .reference = 40};
    ASSERT_TRUE(check_reward_spec(spec).ok());
    EXPECT_DOUBLE_EQ(compute_reward(spec, 40, "").value, 0.5);
    EXPECT_DOUBLE_EQ(compute_reward(spec, 20, "").value, 0.25);
    EXPECT_DOUBLE_EQ(compute_reward(spec, 5, "").value, 0.0);
}

TEST(RewardTest, QualityAnchorsBothDirections) {
    const RewardSpec acc{.kind = RewardKind::kQuality,
                         .direction = MetricDirection::kHigherIsBetter,
                         .baseline = 0.60,
                         .reference = 0.80};
    EXPECT_DOUBLE_EQ(compute_reward(acc, 0.60, "").value, 0.0);
    EXPECT_NEAR(compute_reward(acc, 0.70, "").value, 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(compute_reward(acc, 0.80, "").value, 1.0);
    EXPECT_DOUBLE_EQ(compute_reward(acc, 0.90, "").value, 1.0);  // clipped
    EXPECT_DOUBLE_EQ(compute_reward(acc, 0.50, "").value, 0.0);  // worse than the baseline

    // Perplexity: lower is better, 42 -> 32 is the reference.
    const RewardSpec ppl{
        .kind = RewardKind::kQuality, .direction = MetricDirection::kLowerIsBetter, .baseline = 42, .reference = 32};
    ASSERT_TRUE(check_reward_spec(ppl).ok());
    EXPECT_DOUBLE_EQ(compute_reward(ppl, 37, "").value, 0.5);
    EXPECT_DOUBLE_EQ(compute_reward(ppl, 32, "").value, 1.0);
    EXPECT_DOUBLE_EQ(compute_reward(ppl, 45, "").value, 0.0);
    EXPECT_FALSE(std::signbit(compute_reward(ppl, 42, "").value));  // +0, so reports print 0.000, not -0.000
}

TEST(RewardTest, GatesForceZero) {
    const RewardSpec ppl{
        .kind = RewardKind::kQuality, .direction = MetricDirection::kLowerIsBetter, .baseline = 42, .reference = 32};
    Reward r = compute_reward(ppl, 30, "size_mb 9.6 > max 5");
    EXPECT_EQ(r.value, 0.0);
    EXPECT_EQ(r.gate, "size_mb 9.6 > max 5");
    const RewardSpec speed{.kind = RewardKind::kSpeed, .baseline = 8.0, .reference = 2.0};
    EXPECT_EQ(compute_reward(speed, 1.0, "verify failed").value, 0.0);
}

TEST(RewardTest, AnchorsInTheWrongOrderAreRejected) {
    Status s = check_reward_spec(RewardSpec{.kind = RewardKind::kSpeed, .baseline = 2.0, .reference = 8.0});
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("reference 8 must be lower than baseline 2"), std::string::npos) << s.message();
    EXPECT_FALSE(check_reward_spec(RewardSpec{.kind = RewardKind::kQuality,
                                              .direction = MetricDirection::kHigherIsBetter,
                                              .baseline = 0.8,
                                              .reference = 0.8})
                     .ok());
    EXPECT_FALSE(check_reward_spec(RewardSpec{.kind = RewardKind::kSpeed,
                                              .direction = MetricDirection::kHigherIsBetter,
                                              .baseline = -1,
                                              .reference = 3})
                     .ok());
}

}  // namespace
}  // namespace gannet::agent
