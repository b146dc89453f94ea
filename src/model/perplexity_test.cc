#include "model/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace gannet::model {
namespace {

TEST(PerplexityTest, NegativeLogLikelihoodOfUniformIsLogN) {
    const std::vector<float> logits(8, 3.0f);
    EXPECT_NEAR(negative_log_likelihood(logits, 5), std::log(8.0), 1e-12);
}

TEST(PerplexityTest, NegativeLogLikelihoodIsStableForLargeLogits) {
    const std::vector<float> logits = {1000.0f, 1000.0f + std::log(3.0f)};
    EXPECT_NEAR(negative_log_likelihood(logits, 1), -std::log(0.75), 1e-4);
    EXPECT_NEAR(negative_log_likelihood(logits, 0), -std::log(0.25), 1e-4);
}

}  // namespace
}  // namespace gannet::model
