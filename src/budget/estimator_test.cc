#include "budget/estimator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace gannet::budget {
namespace {

TEST(EstimatorTest, BytesTimesTwoRoundsUp) {
    ByteEstimator e;
    EXPECT_EQ(*e.estimate("hello"), 10u);
    EXPECT_EQ(*ByteEstimator(1.5).estimate("abc"), 5u);  // 4.5 -> 5
    EXPECT_EQ(*e.estimate(""), 0u);
    EXPECT_EQ(e.name(), "bytes-x2.0");
}

TEST(EstimatorDeathTest, MarginBelowOneIsABug) {
    EXPECT_DEATH(ByteEstimator(0.5), "check failed");
}

TEST(EstimatorTest, TokenizerEstimatorReturnsTheCounterAndItsErrors) {
    TokenizerEstimator words([](std::string_view t) -> Result<uint64_t> {
        if (t == "bad") {
            return make_error(ErrorCode::kInvalidArgument, "cannot render");
        }
        return static_cast<uint64_t>(std::count(t.begin(), t.end(), ' ') + 1);
    });
    EXPECT_EQ(*words.estimate("a b c"), 3u);
    EXPECT_EQ(words.estimate("bad").error().code(), ErrorCode::kInvalidArgument);
}

TEST(EstimatorTest, P99ReservesTheCapUntilWarmedUp) {
    P99OutputEstimator e(/*max_tokens=*/200, /*n_warmup=*/3, /*window=*/100);
    EXPECT_EQ(e.reserve(), 200u);
    e.observe(10);
    e.observe(12);
    EXPECT_EQ(e.reserve(), 200u);
    e.observe(11);
    EXPECT_EQ(e.reserve(), 12u);
}

TEST(EstimatorTest, P99IgnoresTheTopPercentAndStaysUnderTheCap) {
    P99OutputEstimator e(/*max_tokens=*/500, /*n_warmup=*/10, /*window=*/200);
    for (int i = 1; i <= 200; ++i) {
        e.observe(static_cast<uint64_t>(i));  // p99 (nearest rank) of 1..200 is 198
    }
    EXPECT_EQ(e.reserve(), 198u);
    P99OutputEstimator capped(/*max_tokens=*/50, /*n_warmup=*/1, /*window=*/10);
    capped.observe(400);
    EXPECT_EQ(capped.reserve(), 50u);
}

TEST(EstimatorTest, P99ForgetsOutsideTheWindow) {
    P99OutputEstimator e(/*max_tokens=*/1000, /*n_warmup=*/1, /*window=*/2);
    e.observe(900);
    e.observe(5);
    e.observe(6);
    EXPECT_EQ(e.reserve(), 6u);
}

}  // namespace
}  // namespace gannet::budget
