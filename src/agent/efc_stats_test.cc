#include "agent/efc_stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gannet::agent {
namespace {

TEST(EfcStatsTest, AucIsTheProbabilityOfCorrectOrdering) {
    EXPECT_EQ(roc_auc({1, 2, 3, 4}, {false, false, true, true}), 1.0);
    EXPECT_EQ(roc_auc({1, 2, 3, 4}, {true, true, false, false}), 0.0);
    EXPECT_EQ(roc_auc({5, 5, 5, 5}, {true, false, true, false}), 0.5);  // ties count a half
    // Pairs (pos, neg): (3,1) (3,4) (2,1) (2,4) -> 2 of 4 correct.
    EXPECT_EQ(roc_auc({3, 1, 2, 4}, {true, false, true, false}), 0.5);
    EXPECT_TRUE(std::isnan(roc_auc({1, 2}, {true, true})));
}

TEST(EfcStatsTest, StratifiedAucComparesOnlyWithinAStratum) {
    // Across strata the score is perfectly "wrong" (stratum 1 has high scores and fails); within each
    // stratum it orders outcomes correctly.
    const std::vector<double> score = {1, 2, 10, 11};
    const std::vector<bool> pos = {false, true, false, true};
    EXPECT_EQ(stratified_auc(score, pos, {0, 0, 1, 1}), 1.0);
    EXPECT_EQ(roc_auc(score, pos), 0.75);
    EXPECT_TRUE(std::isnan(stratified_auc(score, pos, {0, 1, 2, 3})));
    EXPECT_EQ(quantile_strata({5, 1, 3, 2}, 2), (std::vector<int>{1, 0, 1, 0}));
}

TEST(EfcStatsTest, BinnedFitFollowsTheFailureRate) {
    // Failure falls as ln(1 + x) grows: bins of 10 with 9, 7, 5, 3, 1 failures at x = e^k - 1.
    std::vector<double> x;
    std::vector<bool> failed;
    for (int b = 0; b < 5; ++b) {
        for (int i = 0; i < 10; ++i) {
            x.push_back(std::exp(b + 1.0) - 1);
            failed.push_back(i < 9 - 2 * b);
        }
    }
    BinnedFit f = binned_failure_fit(x, failed, 5);
    ASSERT_EQ(f.failure_rate.size(), 5u);
    EXPECT_DOUBLE_EQ(f.failure_rate[0], 0.9);
    EXPECT_DOUBLE_EQ(f.failure_rate[4], 0.1);
    EXPECT_NEAR(f.slope, -0.2, 1e-9);
    EXPECT_NEAR(f.r2, 1.0, 1e-9);
}

TEST(EfcStatsTest, TiedValuesStayInOneBin) {
    BinnedFit f = binned_failure_fit({0, 0, 0, 0, 0, 0, 1, 2}, {true, true, true, true, true, true, false, false}, 4);
    EXPECT_EQ(f.x_mean.front(), 0.0);
    EXPECT_DOUBLE_EQ(f.failure_rate.front(), 1.0);
    EXPECT_LE(f.x_mean.size(), 3u);
}

TEST(EfcStatsDeathTest, MismatchedInputsAreBugs) {
    EXPECT_DEATH(roc_auc({1, 2}, {true}), "check failed");
    EXPECT_DEATH(stratified_auc({1, 2}, {true, false}, {0}), "check failed");
    EXPECT_DEATH(binned_failure_fit({1, 2}, {true, false}, 1), "check failed");
}

}  // namespace
}  // namespace gannet::agent
