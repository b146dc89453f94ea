// The EntropyBoundSampler: hand-checked cases of the acceptance rule, the temperature schedule and
// the stopping rule, seeded determinism, and the decisions of transformers' EntropyBoundSampler,
// LinearTemperatureScheduleLogitsProcessor and StableAndConfidentStoppingCriteria on recorded random
// logits (tests/fixtures/diffusion/sampler.json, training/diffusion_reference.py).
#include "sampling/entropy_bound_sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "base/mapped_file.h"
#include "base/test_paths.h"
#include "json/json.h"

namespace gannet::sampling {
namespace {

TEST(EntropyBoundSamplerTest, TemperatureRunsFromTMaxToTMin) {
    const DiffusionSamplerConfig cfg;
    EXPECT_FLOAT_EQ(diffusion_temperature(cfg, 48), 0.8f);
    EXPECT_FLOAT_EQ(diffusion_temperature(cfg, 24), 0.6f);
    EXPECT_NEAR(diffusion_temperature(cfg, 1), 0.4f + 0.4f / 48.0f, 1e-6f);
}

TEST(EntropyBoundSamplerTest, EntropyOfUniformAndPeakedRows) {
    const std::vector<float> uniform(64, 0.5f);
    EXPECT_NEAR(entropy_of_logits(uniform), std::log(64.0), 1e-9);
    std::vector<float> peaked(64, 0.0f);
    peaked[3] = 200.0f;
    EXPECT_LT(entropy_of_logits(peaked), 1e-60);
}

TEST(EntropyBoundSamplerTest, AcceptsTheLowEntropyPrefixUnderTheBound) {
    // Sorted: 0.01 (pos 2), 0.04 (pos 0), 0.06 (pos 3), 2.0 (pos 1). Left sides: 0, 0.01, 0.05, 0.11.
    const std::vector<float> h = {0.04f, 2.0f, 0.01f, 0.06f};
    std::vector<uint8_t> accept(4);
    entropy_bound_accept(h, 0.1f, accept);
    EXPECT_EQ(accept, (std::vector<uint8_t>{1, 0, 1, 1}));
    entropy_bound_accept(h, 0.04f, accept);
    EXPECT_EQ(accept, (std::vector<uint8_t>{1, 0, 1, 0}));
}

TEST(EntropyBoundSamplerTest, LowestEntropyPositionIsAlwaysAccepted) {
    const std::vector<float> h = {5.0f, 4.0f, 6.0f};
    std::vector<uint8_t> accept(3);
    entropy_bound_accept(h, 0.1f, accept);
    EXPECT_EQ(accept, (std::vector<uint8_t>{0, 1, 0}));
}

TEST(EntropyBoundSamplerTest, StopNeedsStableArgmaxAndConfidence) {
    StableConfidentStop stop(1, 0.005f);
    const std::vector<int32_t> a = {1, 2, 3};
    const std::vector<int32_t> b = {1, 2, 4};
    EXPECT_FALSE(stop.update(a, 0.0));    // nothing to compare with yet
    EXPECT_TRUE(stop.update(a, 0.001));   // same canvas, confident
    EXPECT_FALSE(stop.update(b, 0.001));  // changed
    EXPECT_FALSE(stop.update(b, 0.01));   // stable but not confident
    StableConfidentStop two(2, 0.005f);
    EXPECT_FALSE(two.update(a, 0.0));
    EXPECT_FALSE(two.update(a, 0.0));  // only one earlier canvas
    EXPECT_TRUE(two.update(a, 0.0));
    StableConfidentStop none(0, 0.005f);
    EXPECT_TRUE(none.update(a, 0.0));  // threshold 0: stable at once
}

TEST(EntropyBoundSamplerTest, RejectsConfigsOutOfRange) {
    DiffusionSamplerConfig c;
    c.max_denoising_steps = 0;
    EXPECT_FALSE(validate(c).ok());
    c = {};
    c.t_max = 0.3f;  // below t_min
    EXPECT_FALSE(validate(c).ok());
    c = {};
    c.entropy_bound = 0.0f;
    EXPECT_FALSE(validate(c).ok());
    c = {};
    c.confidence_threshold = -1.0f;
    EXPECT_FALSE(validate(c).ok());
    EXPECT_FALSE(EntropyBoundSampler::create({}, 0, 10).has_value());
    EXPECT_TRUE(EntropyBoundSampler::create({}, 4, 10).has_value());
}

// Runs a few steps on fixed logits; returns the canvases after each step.
std::vector<int32_t> run_steps(uint64_t seed) {
    DiffusionSamplerConfig cfg;
    cfg.seed = seed;
    EntropyBoundSampler s = EntropyBoundSampler::create(cfg, 8, 16).value();
    std::vector<float> logits(8 * 16);
    for (size_t i = 0; i < logits.size(); ++i) {
        logits[i] = static_cast<float>((i * 37) % 11) * 0.4f;
    }
    std::vector<float> processed(logits.size());
    std::vector<int32_t> canvas(8);
    std::vector<int32_t> argmax(8);
    std::vector<int32_t> all;
    s.start_canvas(canvas);
    all.insert(all.end(), canvas.begin(), canvas.end());
    for (int32_t step = 48; step > 44; --step) {
        s.step(logits, step, processed, canvas, argmax);
        all.insert(all.end(), canvas.begin(), canvas.end());
    }
    return all;
}

TEST(EntropyBoundSamplerTest, SameSeedSameCanvasesOtherSeedDiffers) {
    EXPECT_EQ(run_steps(7), run_steps(7));
    EXPECT_NE(run_steps(7), run_steps(8));
}

TEST(EntropyBoundSamplerTest, AcceptedPositionsKeepTheirDrawAndProcessedIsLogitsOverT) {
    DiffusionSamplerConfig cfg;
    EntropyBoundSampler s = EntropyBoundSampler::create(cfg, 4, 8).value();
    std::vector<float> logits(4 * 8, 0.0f);
    logits[0 * 8 + 5] = 100.0f;  // position 0 is certain: accepted, and its draw is 5
    // Positions 1..3 are uniform (H = log 8). The second-lowest entropy is accepted too, since only
    // the entropies before it (~0) count against the bound; ties go to the lower position.
    std::vector<float> processed(logits.size());
    std::vector<int32_t> canvas(4);
    std::vector<int32_t> argmax(4);
    s.start_canvas(canvas);
    const DenoiseStep r = s.step(logits, 48, processed, canvas, argmax);
    EXPECT_EQ(r.n_accepted, 2);
    EXPECT_EQ(s.last_accept()[1], 1);
    EXPECT_EQ(s.last_accept()[2], 0);
    EXPECT_EQ(canvas[0], 5);
    EXPECT_EQ(argmax[0], 5);
    EXPECT_FLOAT_EQ(processed[5], 100.0f / 0.8f);
    EXPECT_EQ(s.last_accept()[0], 1);
    EXPECT_FALSE(r.is_stop);
}

// Decisions of transformers on recorded logits. Positions whose bound margin is within 1e-5 of the
// threshold are skipped (float rounding may flip them either way); the test reports how many.
TEST(EntropyBoundSamplerTest, MatchesHuggingFaceDecisionsOnRecordedLogits) {
    const std::string dir = source_dir() + "/tests/fixtures/diffusion";
    Result<nlohmann::json> doc = json::parse_file(dir + "/sampler.json");
    ASSERT_TRUE(doc.has_value()) << doc.error().message();
    const nlohmann::json& j = *doc;
    const Result<std::string> raw = read_file(dir + "/sampler.logits.f32");
    ASSERT_TRUE(raw.has_value());
    DiffusionSamplerConfig cfg;
    cfg.max_denoising_steps = j["max_denoising_steps"].get<int32_t>();
    cfg.t_min = j["t_min"].get<float>();
    cfg.t_max = j["t_max"].get<float>();
    cfg.entropy_bound = j["entropy_bound"].get<float>();
    cfg.stability_threshold = j["stability_threshold"].get<int32_t>();
    cfg.confidence_threshold = j["confidence_threshold"].get<float>();
    const auto c = j["canvas_length"].get<size_t>();
    const auto v = j["n_vocab"].get<size_t>();
    ASSERT_EQ(raw->size(), j["n_steps"].get<size_t>() * c * v * sizeof(float));
    StableConfidentStop stop(cfg.stability_threshold, cfg.confidence_threshold);
    int n_skipped = 0;
    int n_stops = 0;
    for (size_t s = 0; s < j["steps"].size(); ++s) {
        const nlohmann::json& st = j["steps"][s];
        const int32_t cur = st["cur_step"].get<int32_t>();
        EXPECT_NEAR(diffusion_temperature(cfg, cur), st["temperature"].get<double>(), 1e-6);
        std::vector<float> row(c * v);
        std::memcpy(row.data(), raw->data() + s * c * v * sizeof(float), c * v * sizeof(float));
        const float temp = diffusion_temperature(cfg, cur);
        for (float& x : row) {
            x /= temp;
        }
        std::vector<float> h(c);
        std::vector<int32_t> am(c);
        double sum = 0.0;
        for (size_t i = 0; i < c; ++i) {
            const std::span<const float> r(row.data() + i * v, v);
            h[i] = static_cast<float>(entropy_of_logits(r));
            sum += h[i];
            am[i] = static_cast<int32_t>(std::max_element(r.begin(), r.end()) - r.begin());
            EXPECT_NEAR(h[i], st["entropy"][i].get<double>(), 1e-4 * (1.0 + h[i])) << "step " << s << " pos " << i;
            EXPECT_EQ(am[i], st["argmax"][i].get<int32_t>()) << "step " << s << " pos " << i;
        }
        std::vector<uint8_t> accept(c);
        entropy_bound_accept(h, cfg.entropy_bound, accept);
        for (size_t i = 0; i < c; ++i) {
            if (std::fabs(st["margin"][i].get<double>()) < 1e-5) {
                ++n_skipped;
                continue;
            }
            EXPECT_EQ(accept[i], st["accept"][i].get<int>()) << "step " << s << " pos " << i;
        }
        const bool is_stop = stop.update(am, sum / static_cast<double>(c));
        EXPECT_EQ(is_stop, st["stop"].get<bool>()) << "step " << s;
        n_stops += is_stop ? 1 : 0;
    }
    EXPECT_GT(n_stops, 0) << "the fixture must exercise a stop";
    EXPECT_EQ(n_skipped, 0) << "the committed fixture has no position within 1e-5 of the bound";
}

}  // namespace
}  // namespace gannet::sampling
