// Forward-pass tests on small random-weight models of every architecture (label slow: they write
// GGUF files and run whole models, though each takes well under a second).
#include "model/model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "model/perplexity.h"
#include "model/test_models.h"

namespace gannet::model {
namespace {

std::string temp_path(const std::string& name) {
    // ctest runs each test case as its own process, in parallel: names carry the pid.
    return (std::filesystem::temp_directory_path() / ("gannet_model_test_" + std::to_string(getpid()) + "_" + name))
        .string();
}

std::unique_ptr<Model> load_test_model(const TestModelOptions& opt) {
    const std::string path = temp_path(opt.arch + "_" + tensor::dtype_name(opt.dtype) + ".gguf");
    EXPECT_TRUE(write_test_model(opt, path).ok());
    Result<std::unique_ptr<Model>> m = Model::load(path);
    EXPECT_TRUE(m.has_value()) << m.error().to_string();
    std::filesystem::remove(path);  // the mapping stays valid after unlink
    return std::move(m).value();
}

std::vector<int32_t> iota_positions(int32_t first, size_t n) {
    std::vector<int32_t> p(n);
    for (size_t i = 0; i < n; ++i) {
        p[i] = first + static_cast<int32_t>(i);
    }
    return p;
}

// max|a - b| / max|b| over one position's logits.
double rel_err(std::span<const float> a, std::span<const float> b) {
    double max_diff = 0.0;
    double max_ref = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(static_cast<double>(a[i]) - b[i]));
        max_ref = std::max(max_ref, std::abs(static_cast<double>(b[i])));
    }
    return max_diff / max_ref;
}

const std::vector<int32_t> kTokens = {1, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190};

class ArchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchTest, ForwardGivesFiniteVariedLogits) {
    std::unique_ptr<Model> m = load_test_model({.arch = GetParam()});
    ThreadPool pool(2);
    KvCache cache = m->create_cache(64).value();
    const std::vector<int32_t> pos = iota_positions(0, kTokens.size());
    Result<std::span<const float>> r = m->forward(kTokens, pos, cache, LogitsMode::kLast, pool);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    ASSERT_EQ(r->size(), static_cast<size_t>(m->config().n_vocab));
    float lo = r->front(), hi = r->front();
    for (float v : *r) {
        ASSERT_TRUE(std::isfinite(v));
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    EXPECT_GT(hi - lo, 0.1f);
    EXPECT_EQ(cache.n_pos(), static_cast<int64_t>(kTokens.size()));
}

TEST_P(ArchTest, IncrementalDecodeMatchesFullSequenceForward) {
    std::unique_ptr<Model> m = load_test_model({.arch = GetParam()});
    const int64_t n_vocab = m->config().n_vocab;
    ThreadPool pool(2);
    KvCache full_cache = m->create_cache(64).value();
    const std::vector<int32_t> pos = iota_positions(0, kTokens.size());
    std::span<const float> full_view = m->forward(kTokens, pos, full_cache, LogitsMode::kAll, pool).value();
    const std::vector<float> full(full_view.begin(), full_view.end());

    KvCache cache = m->create_cache(64).value();
    const size_t n_prefill = 5;
    std::span<const float> last =
        m->forward(std::span(kTokens).first(n_prefill), std::span(pos).first(n_prefill), cache, LogitsMode::kLast, pool)
            .value();
    EXPECT_LE(rel_err(last, std::span(full).subspan((n_prefill - 1) * n_vocab, n_vocab)), 1e-5);
    for (size_t t = n_prefill; t < kTokens.size(); ++t) {
        last =
            m->forward(std::span(kTokens).subspan(t, 1), std::span(pos).subspan(t, 1), cache, LogitsMode::kLast, pool)
                .value();
        EXPECT_LE(rel_err(last, std::span(full).subspan(t * n_vocab, n_vocab)), 1e-5) << "position " << t;
    }
}

TEST_P(ArchTest, RewindingTheCacheReproducesLogits) {
    std::unique_ptr<Model> m = load_test_model({.arch = GetParam()});
    ThreadPool pool(1);
    KvCache cache = m->create_cache(32).value();
    const std::vector<int32_t> pos = iota_positions(0, kTokens.size());
    std::span<const float> a = m->forward(kTokens, pos, cache, LogitsMode::kLast, pool).value();
    const std::vector<float> first(a.begin(), a.end());
    const std::vector<int32_t> other = {1, 5, 6};
    ASSERT_TRUE(m->forward(other, iota_positions(4, 3), cache, LogitsMode::kLast, pool).has_value());
    cache.set_n_pos(4);
    std::span<const float> b =
        m->forward(std::span(kTokens).subspan(4), std::span(pos).subspan(4), cache, LogitsMode::kLast, pool).value();
    EXPECT_LE(rel_err(b, first), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Archs, ArchTest, ::testing::Values("llama", "qwen2", "qwen3", "gemma3"));

TEST(ModelTest, QuantizedAndHalfModelsStayCloseToF32) {
    std::unique_ptr<Model> ref = load_test_model({.arch = "llama", .dtype = tensor::DType::kF32});
    ThreadPool pool(2);
    const std::vector<int32_t> pos = iota_positions(0, kTokens.size());
    KvCache ref_cache = ref->create_cache(32).value();
    std::span<const float> ref_view = ref->forward(kTokens, pos, ref_cache, LogitsMode::kLast, pool).value();
    const std::vector<float> want(ref_view.begin(), ref_view.end());
    // Q8_0 also quantizes the activations to int8 in matmul, and a random network amplifies
    // perturbations, hence the loose bound; it still catches a wrong block layout (errors ~1).
    for (auto [dtype, tol] : {std::pair{tensor::DType::kF16, 5e-3}, std::pair{tensor::DType::kBF16, 3e-2},
                              std::pair{tensor::DType::kQ8_0, 1e-1}}) {
        std::unique_ptr<Model> m = load_test_model({.arch = "llama", .dtype = dtype});
        KvCache cache = m->create_cache(32).value();
        std::span<const float> got = m->forward(kTokens, pos, cache, LogitsMode::kLast, pool).value();
        const double err = rel_err(got, want);
        EXPECT_LE(err, tol) << tensor::dtype_name(dtype);
        std::printf("%s rel err %.2e\n", tensor::dtype_name(dtype), err);
        EXPECT_STREQ(m->dtype_name(), tensor::dtype_name(dtype));
    }
}

TEST(ModelTest, PerplexityScoresTheSecondHalfOfEachWindow) {
    std::unique_ptr<Model> m = load_test_model({.arch = "qwen2"});
    ThreadPool pool(2);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 37; ++i) {
        tokens.push_back(3 + (i * 7) % 200);
    }
    const PerplexityResult r = evaluate_perplexity(*m, tokens, 16, /*bos_id=*/1, pool).value();
    EXPECT_EQ(r.n_windows, 2);                // 37 tokens: two windows of 16, 5 left over
    EXPECT_EQ(r.n_scored, 2 * (16 - 1 - 8));  // positions 8..14 predict tokens 9..15
    // Recompute both windows by hand: BOS first, logits at i predict the original token i + 1.
    double nll = 0.0;
    const int64_t n_vocab = m->config().n_vocab;
    for (int w = 0; w < 2; ++w) {
        KvCache cache = m->create_cache(16).value();
        std::vector<int32_t> window(tokens.begin() + 16 * w, tokens.begin() + 16 * (w + 1));
        window[0] = 1;
        std::span<const float> logits =
            m->forward(window, iota_positions(0, 16), cache, LogitsMode::kAll, pool).value();
        for (int i = 8; i < 15; ++i) {
            nll += negative_log_likelihood(logits.subspan(i * n_vocab, n_vocab), tokens[16 * w + i + 1]);
        }
    }
    EXPECT_NEAR(r.mean_nll, nll / 14, 1e-9);
    EXPECT_NEAR(r.perplexity, std::exp(r.mean_nll), 1e-9);
    Result<PerplexityResult> short_text = evaluate_perplexity(*m, std::span(tokens).first(10), 16, 1, pool);
    ASSERT_FALSE(short_text.has_value());
    EXPECT_NE(short_text.error().message().find("the text has 10 tokens, need at least one window of 16"),
              std::string::npos);
}

TEST(ModelTest, TiedEmbeddingsUseTokenEmbd) {
    std::unique_ptr<Model> m = load_test_model({.arch = "qwen3", .is_tied = true});
    EXPECT_EQ(m->weights().output.data, m->weights().token_embd.data);
    ThreadPool pool(1);
    KvCache cache = m->create_cache(8).value();
    EXPECT_TRUE(
        m->forward(std::vector<int32_t>{1, 2}, iota_positions(0, 2), cache, LogitsMode::kAll, pool).has_value());
}

TEST(ModelTest, Gemma3LayersFollowTheSlidingPattern) {
    std::unique_ptr<Model> m = load_test_model({.arch = "gemma3"});
    const ModelConfig& c = m->config();
    EXPECT_EQ(c.sliding_window, 4);
    for (int64_t l = 0; l < 5; ++l) {
        EXPECT_TRUE(c.is_sliding(l)) << l;
    }
    EXPECT_FALSE(c.is_sliding(5));
    EXPECT_FLOAT_EQ(c.embd_scale, 8.0f);
    EXPECT_FLOAT_EQ(c.attn_scale, 0.25f);
}

TEST(ModelTest, BadInputsAreErrors) {
    std::unique_ptr<Model> m = load_test_model({.arch = "llama", .n_ctx = 16});
    ThreadPool pool(1);
    Result<KvCache> too_big = m->create_cache(17);
    ASSERT_FALSE(too_big.has_value());
    EXPECT_NE(too_big.error().message().find("context of 17 tokens is outside [1, 16]"), std::string::npos);
    KvCache cache = m->create_cache(8).value();
    const std::vector<int32_t> nine(9, 3);
    Result<std::span<const float>> r = m->forward(nine, iota_positions(0, 9), cache, LogitsMode::kLast, pool);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("position 8 is beyond the context of 8 tokens"), std::string::npos)
        << r.error().message();
    r = m->forward(std::vector<int32_t>{100000}, iota_positions(0, 1), cache, LogitsMode::kLast, pool);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("token id 100000 out of range"), std::string::npos) << r.error().message();
    r = m->forward(std::vector<int32_t>{1}, iota_positions(3, 1), cache, LogitsMode::kLast, pool);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("first position 3 leaves a gap after 0 cached"), std::string::npos)
        << r.error().message();
}

// Copies a test model's metadata and tensors into a new writer, letting `edit` drop or replace
// tensors or metadata, so each file-level error can be produced exactly.
std::string write_edited(
    const std::string& name,
    const std::function<bool(gguf::Writer&, const gguf::TensorInfo&, std::span<const uint8_t>)>& edit) {
    const std::string src = temp_path(name + "_src.gguf");
    EXPECT_TRUE(write_test_model({.arch = "llama"}, src).ok());
    gguf::File f = gguf::File::open(src).value();
    gguf::Writer w;
    for (const auto& [key, value] : f.metadata()) {
        w.set_value(key, value);
    }
    for (const gguf::TensorInfo& t : f.tensors()) {
        if (!edit(w, t, f.tensor_data(t))) {
            EXPECT_TRUE(w.add_tensor(t.name, t.dtype, t.shape, f.tensor_data(t)).ok());
        }
    }
    const std::string out = temp_path(name + ".gguf");
    EXPECT_TRUE(w.write(out).ok());
    std::filesystem::remove(src);
    return out;
}

TEST(ModelTest, MissingTensorIsNamed) {
    const std::string path = write_edited("missing", [](gguf::Writer&, const gguf::TensorInfo& t, auto) {
        return t.name == "blk.1.ffn_up.weight";  // dropped
    });
    Result<std::unique_ptr<Model>> m = Model::load(path);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(m.error().message(), "model: missing tensor 'blk.1.ffn_up.weight'");
    std::filesystem::remove(path);
}

TEST(ModelTest, ShapeMismatchNamesBothShapes) {
    const std::string path = write_edited("shape", [](gguf::Writer& w, const gguf::TensorInfo& t, auto data) {
        if (t.name != "blk.0.attn_k.weight") {
            return false;
        }
        const int64_t shape[2] = {t.shape[1], t.shape[0]};  // transposed
        EXPECT_TRUE(w.add_tensor(t.name, t.dtype, shape, data).ok());
        return true;
    });
    Result<std::unique_ptr<Model>> m = Model::load(path);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().message(), "model: tensor 'blk.0.attn_k.weight' has shape [32, 64], expected [64, 32]");
    std::filesystem::remove(path);
}

// llama 3 rope scaling arrives as rope_freqs.weight: factors of 1 change nothing, others do.
TEST(ModelTest, RopeFreqsTensorDividesTheAngles) {
    auto logits_with_factor = [](float factor) {
        const std::string path = write_edited(
            "rope_freqs", [factor](gguf::Writer& w, const gguf::TensorInfo& t, std::span<const uint8_t> data) {
                if (t.name != "output_norm.weight") {
                    return false;
                }
                EXPECT_TRUE(w.add_tensor(t.name, t.dtype, t.shape, data).ok());
                const std::vector<float> factors(8, factor);  // head_dim 16: 8 pairs
                const int64_t shape[1] = {8};
                EXPECT_TRUE(w.add_tensor_f32("rope_freqs.weight", tensor::DType::kF32, shape, factors).ok());
                return true;
            });
        std::unique_ptr<Model> m = Model::load(path).value();
        std::filesystem::remove(path);
        EXPECT_EQ(m->weights().rope_freqs.size(), 8u);
        ThreadPool pool(1);
        KvCache cache = m->create_cache(32).value();
        std::span<const float> v =
            m->forward(kTokens, iota_positions(0, kTokens.size()), cache, LogitsMode::kLast, pool).value();
        return std::vector<float>(v.begin(), v.end());
    };
    std::unique_ptr<Model> plain = load_test_model({.arch = "llama"});
    ThreadPool pool(1);
    KvCache cache = plain->create_cache(32).value();
    std::span<const float> v =
        plain->forward(kTokens, iota_positions(0, kTokens.size()), cache, LogitsMode::kLast, pool).value();
    const std::vector<float> want(v.begin(), v.end());
    EXPECT_EQ(logits_with_factor(1.0f), want);
    EXPECT_GT(rel_err(logits_with_factor(8.0f), want), 1e-3);
}

TEST(ModelTest, UnknownArchitectureIsUnimplemented) {
    gguf::Writer w;
    w.set_string("general.architecture", "mamba");
    const std::string path = temp_path("mamba.gguf");
    ASSERT_TRUE(w.write(path).ok());
    Result<std::unique_ptr<Model>> m = Model::load(path);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(m.error().message(), "model: unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, gemma3)");
    std::filesystem::remove(path);
}

TEST(ModelTest, MissingHyperparameterIsNamed) {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.context_length", 16);
    const std::string path = temp_path("nohp.gguf");
    ASSERT_TRUE(w.write(path).ok());
    Result<std::unique_ptr<Model>> m = Model::load(path);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().message(), "model: missing metadata key 'llama.embedding_length'");
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace gannet::model
