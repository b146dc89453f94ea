#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

namespace gannet::sampling {
namespace {

SamplerConfig plain(float temperature, uint64_t seed) {
    SamplerConfig c;
    c.temperature = temperature;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.min_p = 0.0f;
    c.seed = seed;
    return c;
}

TEST(SamplerTest, ArgmaxTakesLowestIdOnTies) {
    const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -1.0f};
    EXPECT_EQ(argmax(logits), 1);
}

TEST(SamplerTest, TemperatureZeroIsGreedy) {
    Sampler s = Sampler::create(plain(0.0f, 1)).value();
    const std::vector<float> logits = {0.1f, 2.0f, 1.9f};
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(s.sample(logits, {}), 1);
    }
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDiffers) {
    std::vector<float> logits(50);
    for (size_t i = 0; i < logits.size(); ++i) {
        logits[i] = static_cast<float>(i % 7) * 0.3f;
    }
    auto draw = [&](uint64_t seed) {
        Sampler s = Sampler::create(plain(1.0f, seed)).value();
        std::vector<int32_t> out;
        for (int i = 0; i < 40; ++i) {
            out.push_back(s.sample(logits, {}));
        }
        return out;
    };
    EXPECT_EQ(draw(42), draw(42));
    EXPECT_NE(draw(42), draw(43));
}

TEST(SamplerTest, FrequenciesFollowSoftmax) {
    // p = softmax([0, ln 3]) = [0.25, 0.75]
    const std::vector<float> logits = {0.0f, std::log(3.0f)};
    Sampler s = Sampler::create(plain(1.0f, 7)).value();
    int ones = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        ones += s.sample(logits, {});
    }
    EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.02);
}

TEST(SamplerTest, TopKOneIsGreedy) {
    SamplerConfig c = plain(5.0f, 3);
    c.top_k = 1;
    Sampler s = Sampler::create(c).value();
    const std::vector<float> logits = {0.0f, 0.1f, 0.05f};
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(s.sample(logits, {}), 1);
    }
}

TEST(SamplerTest, TopPKeepsSmallestSetReachingMass) {
    // p ≈ [0.665, 0.245, 0.090]: top_p 0.8 keeps ids 0 and 1, never 2.
    const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
    SamplerConfig c = plain(1.0f, 5);
    c.top_p = 0.8f;
    Sampler s = Sampler::create(c).value();
    std::map<int32_t, int> seen;
    for (int i = 0; i < 2000; ++i) {
        ++seen[s.sample(logits, {})];
    }
    EXPECT_EQ(seen.count(2), 0u);
    EXPECT_GT(seen[1], 0);
}

TEST(SamplerTest, MinPDropsUnlikelyTokens) {
    // p1 / p0 = e^-3 ≈ 0.05 < 0.1
    const std::vector<float> logits = {3.0f, 0.0f, 2.9f};
    SamplerConfig c = plain(1.0f, 9);
    c.min_p = 0.1f;
    Sampler s = Sampler::create(c).value();
    for (int i = 0; i < 2000; ++i) {
        EXPECT_NE(s.sample(logits, {}), 1);
    }
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
    std::vector<float> logits = {2.0f, -2.0f, 1.0f};
    const std::vector<int32_t> history = {0, 1, 1, 7};  // 7 is out of range: ignored
    apply_repetition_penalty(logits, history, 2.0f, 64);
    EXPECT_EQ(logits, (std::vector<float>{1.0f, -4.0f, 1.0f}));
}

TEST(SamplerTest, RepetitionPenaltyLooksOnlyAtLastN) {
    std::vector<float> logits = {2.0f, 2.0f};
    apply_repetition_penalty(logits, std::vector<int32_t>{0, 1}, 2.0f, 1);
    EXPECT_EQ(logits, (std::vector<float>{2.0f, 1.0f}));
}

TEST(SamplerTest, GreedyWithPenaltyAvoidsRepeat) {
    SamplerConfig c = plain(0.0f, 0);
    c.repeat_penalty = 4.0f;
    Sampler s = Sampler::create(c).value();
    const std::vector<float> logits = {2.0f, 1.0f};
    EXPECT_EQ(s.sample(logits, std::vector<int32_t>{0}), 1);
}

TEST(SamplerTest, RejectsBadConfig) {
    SamplerConfig c;
    c.top_p = 0.0f;
    Result<Sampler> r = Sampler::create(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find("top_p 0"), std::string::npos) << r.error().message();
    c = SamplerConfig();
    c.temperature = -1.0f;
    EXPECT_FALSE(Sampler::create(c).has_value());
}

TEST(SamplerTest, NeverDrawsAForbiddenToken) {
    // A logit processor leaves -inf on forbidden tokens; no seed may draw one, even at high
    // temperature with the allowed token far below the others.
    SamplerConfig c;
    c.temperature = 2.0f;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.min_p = 0.0f;
    const float ninf = -std::numeric_limits<float>::infinity();
    const std::vector<float> logits = {ninf, -50.0f, ninf, ninf};
    for (uint64_t seed = 0; seed < 200; ++seed) {
        c.seed = seed;
        Sampler s = Sampler::create(c).value();
        EXPECT_EQ(s.sample(logits, {}), 1);
    }
}

TEST(SamplerTest, LogSoftmaxTop) {
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
    float chosen = 0.0f;
    const auto top = log_softmax_top(logits, 2, 3, chosen);
    const double z = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0));
    EXPECT_NEAR(chosen, 2.0 - z, 1e-6);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].first, 1);  // ties: the lower id first
    EXPECT_EQ(top[1].first, 3);
    EXPECT_EQ(top[2].first, 2);
    EXPECT_NEAR(top[0].second, 3.0 - z, 1e-6);
    double sum = 0;
    for (auto [id, lp] : top)
        sum += std::exp(lp);
    EXPECT_LT(sum, 1.0);
    EXPECT_TRUE(log_softmax_top(logits, 0, 0, chosen).empty());
}

}  // namespace
}  // namespace gannet::sampling
