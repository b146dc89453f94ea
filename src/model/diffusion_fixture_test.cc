// Golden test of the diffusion_gemma decoder (#18): the tiny random DiffusionGemma-shaped model of
// tests/fixtures/diffusion (training/diffusion_reference.py) runs transformers' generate() order --
// encoder over the prefix (forward_batch, writes the cache), decoder over canvas 0 (forward_canvas,
// no self-conditioning), decoder over canvas 1 self-conditioned on step 0's logits / T(48), encoder
// over the appended argmax canvas, decoder over canvas 2 after it -- and every logit is compared:
// max |gannet - hf| / max |hf| <= 1e-3 per step, argmax equal at every canvas position. It also
// checks that the decoder writes nothing: the cache bytes are the same before and after.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/test_paths.h"
#include "base/thread_pool.h"
#include "json/json.h"
#include "kvcache/kv_storage.h"
#include "model/model.h"

namespace gannet::model {
namespace {

std::string dir() {
    return source_dir() + "/tests/fixtures/diffusion";
}

std::vector<float> read_f32(const std::string& path) {
    const std::string bytes = read_file(path).value();
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
}

std::vector<int32_t> ints(const nlohmann::json& a) {
    return a.get<std::vector<int32_t>>();
}

struct Harness {
    std::unique_ptr<Model> model;
    kvcache::KvStorage kv;
    std::vector<kvcache::BlockId> table;
    std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(2);
};

Harness make_harness(kvcache::KvDType dtype) {
    std::unique_ptr<Model> m = Model::load(dir() + "/diffusion-tiny.gguf").value();
    const ModelConfig& c = m->config();
    kvcache::KvCacheLayout lay;
    lay.n_blocks = 8;
    lay.n_layers = static_cast<int32_t>(c.n_layers);
    lay.n_kv_heads = static_cast<int32_t>(c.n_kv_heads);
    lay.head_dim = static_cast<int32_t>(c.head_dim_k);
    lay.block_size = 16;
    lay.dtype = dtype;
    Harness h{std::move(m), kvcache::KvStorage::create(lay).value(), {0, 1, 2, 3, 4, 5, 6, 7}};
    return h;
}

void encode(Harness& h, const std::vector<int32_t>& tokens, int32_t pos) {
    const BatchSeq s{
        .tokens = tokens, .pos = pos, .block_table = h.table, .is_logits_needed = false, .is_all_logits_needed = false};
    ASSERT_TRUE(h.model->forward_batch(std::span<const BatchSeq>(&s, 1), h.kv, *h.pool).has_value());
}

double rel_err(std::span<const float> got, const std::vector<float>& want) {
    double max_diff = 0.0;
    double max_ref = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    }
    return max_diff / max_ref;
}

int32_t argmax_row(const float* row, int64_t n) {
    return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

void run_scenario(kvcache::KvDType dtype, double tolerance) {
    const nlohmann::json doc = json::parse_file(dir() + "/decoder.json").value();
    Harness h = make_harness(dtype);
    const ModelConfig& c = h.model->config();
    ASSERT_TRUE(c.is_diffusion());
    ASSERT_EQ(c.canvas_length, doc["canvas_length"].get<int64_t>());
    ASSERT_EQ(c.n_vocab, doc["n_vocab"].get<int64_t>());
    std::vector<std::vector<float>> got;
    for (size_t i = 0; i < doc["steps"].size(); ++i) {
        const nlohmann::json& st = doc["steps"][i];
        if (!st["encode"].is_null()) {
            encode(h, ints(st["encode"]["tokens"]), st["encode"]["pos"].get<int32_t>());
        }
        std::vector<float> sc;
        if (!st["self_cond_from"].is_null()) {
            sc = got[st["self_cond_from"].get<size_t>()];
            const auto temp = static_cast<float>(st["self_cond_temperature"].get<double>());
            for (float& x : sc) {
                x /= temp;
            }
        }
        const std::vector<int32_t> canvas = ints(st["canvas"]);
        const CanvasSeq seq{
            .canvas = canvas, .pos = st["pos"].get<int32_t>(), .block_table = h.table, .self_cond_logits = sc};
        const std::vector<std::byte> before(h.kv.k(0, 0, 0), h.kv.k(0, 0, 0) + h.kv.layout().total_bytes());
        Result<std::span<const float>> logits =
            h.model->forward_canvas(std::span<const CanvasSeq>(&seq, 1), h.kv, *h.pool);
        ASSERT_TRUE(logits.has_value()) << logits.error().message();
        EXPECT_EQ(0, std::memcmp(before.data(), h.kv.k(0, 0, 0), before.size())) << "the decoder wrote the cache";
        const std::vector<float> want = read_f32(dir() + "/decoder.step" + std::to_string(i) + ".logits.f32");
        ASSERT_EQ(logits->size(), want.size());
        const double err = rel_err(*logits, want);
        EXPECT_LE(err, tolerance) << "step " << i;
        for (int64_t r = 0; r < c.canvas_length; ++r) {
            EXPECT_EQ(argmax_row(logits->data() + r * c.n_vocab, c.n_vocab),
                      argmax_row(want.data() + r * c.n_vocab, c.n_vocab))
                << "step " << i << " row " << r;
        }
        got.emplace_back(logits->begin(), logits->end());
    }
}

TEST(DiffusionFixtureTest, DecoderLogitsMatchHuggingFaceF32Cache) {
    run_scenario(kvcache::KvDType::kF32, 1e-3);
}

// The encoder's cache in f16 (the serving default) changes the prefix keys slightly.
TEST(DiffusionFixtureTest, DecoderLogitsCloseWithF16Cache) {
    run_scenario(kvcache::KvDType::kF16, 2e-2);
}

// The top-k approximation of self-conditioning (Model::set_self_cond_top_k): k = n_vocab is the
// exact computation; smaller k changes the self-conditioned step's logits, by an amount printed
// here (the "effect measured" of the approximation), and leaves the first step alone.
TEST(DiffusionFixtureTest, TopKSelfConditioningApproximatesTheExactSignal) {
    const nlohmann::json doc = json::parse_file(dir() + "/decoder.json").value();
    auto run_step1 = [&](int32_t k) {
        Harness h = make_harness(kvcache::KvDType::kF32);
        h.model->set_self_cond_top_k(k);
        const nlohmann::json& s0 = doc["steps"][0];
        const nlohmann::json& s1 = doc["steps"][1];
        encode(h, ints(s0["encode"]["tokens"]), 0);
        const std::vector<int32_t> c0 = ints(s0["canvas"]);
        const CanvasSeq q0{
            .canvas = c0, .pos = s0["pos"].get<int32_t>(), .block_table = h.table, .self_cond_logits = {}};
        const std::span<const float> l0 =
            h.model->forward_canvas(std::span<const CanvasSeq>(&q0, 1), h.kv, *h.pool).value();
        std::vector<float> sc(l0.begin(), l0.end());
        for (float& x : sc) {
            x /= static_cast<float>(s1["self_cond_temperature"].get<double>());
        }
        const std::vector<int32_t> c1 = ints(s1["canvas"]);
        const CanvasSeq q1{
            .canvas = c1, .pos = s1["pos"].get<int32_t>(), .block_table = h.table, .self_cond_logits = sc};
        Result<std::span<const float>> l = h.model->forward_canvas(std::span<const CanvasSeq>(&q1, 1), h.kv, *h.pool);
        return std::vector<float>(l->begin(), l->end());
    };
    const std::vector<float> exact = run_step1(0);
    const std::vector<float> all = run_step1(static_cast<int32_t>(doc["n_vocab"].get<int64_t>()));
    EXPECT_EQ(all, exact);
    for (int32_t k : {64, 8, 1}) {
        const double err = rel_err(run_step1(k), exact);
        std::printf("self-conditioning top-%d: max rel logit error %.4g vs exact\n", k, err);
        EXPECT_GT(err, 0.0) << k;
        EXPECT_LT(err, 1.0) << k;
    }
}

TEST(DiffusionFixtureTest, RejectsBadCanvases) {
    Harness h = make_harness(kvcache::KvDType::kF32);
    const std::vector<int32_t> short_canvas(5, 1);
    CanvasSeq s{.canvas = short_canvas, .pos = 0, .block_table = h.table, .self_cond_logits = {}};
    Result<std::span<const float>> r = h.model->forward_canvas(std::span<const CanvasSeq>(&s, 1), h.kv, *h.pool);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("expected 32 tokens"), std::string::npos) << r.error().message();
    std::vector<int32_t> canvas(32, 1);
    canvas[3] = 100000;
    s.canvas = canvas;
    EXPECT_FALSE(h.model->forward_canvas(std::span<const CanvasSeq>(&s, 1), h.kv, *h.pool).has_value());
    canvas[3] = 1;
    const std::vector<float> sc(7, 0.0f);
    s.self_cond_logits = sc;
    EXPECT_FALSE(h.model->forward_canvas(std::span<const CanvasSeq>(&s, 1), h.kv, *h.pool).has_value());
}

}  // namespace
}  // namespace gannet::model
