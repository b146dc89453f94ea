// Forward-pass tests on small random-weight models of every architecture (label slow: they write
// GGUF files and run whole models, though each takes well under a second). Every forward here is
// the one program, Model::forward_batch, driven for one sequence by runner::Runner::run_sequence.
#include "model/model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "model/perplexity.h"
#include "model/test_models.h"
#include "runner/runner.h"
#include "tokenizer/tokenizer.h"

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

// One sequence over a private paged cache of n_blocks blocks of 16 positions.
class Seq {
public:
    explicit Seq(Model& m, int n_threads = 1, int32_t n_blocks = 4) {
        Result<std::unique_ptr<runner::Runner>> r =
            runner::Runner::create(m, {.n_blocks = n_blocks, .block_size = 16, .n_threads = n_threads});
        EXPECT_TRUE(r.has_value()) << r.error().to_string();
        runner_ = std::move(r).value();
    }
    Result<std::span<const float>> run(std::span<const int32_t> tokens, int32_t pos, LogitsMode mode) {
        return runner_->run_sequence(tokens, pos, mode);
    }
    std::vector<float> values(std::span<const int32_t> tokens, int32_t pos, LogitsMode mode) {
        Result<std::span<const float>> r = run(tokens, pos, mode);
        EXPECT_TRUE(r.has_value()) << r.error().to_string();
        return r.has_value() ? std::vector<float>(r->begin(), r->end()) : std::vector<float>();
    }

private:
    std::unique_ptr<runner::Runner> runner_;
};

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
    Seq seq(*m, 2);
    Result<std::span<const float>> r = seq.run(kTokens, 0, LogitsMode::kLast);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    ASSERT_EQ(r->size(), static_cast<size_t>(m->config().n_vocab));
    float lo = r->front(), hi = r->front();
    for (float v : *r) {
        ASSERT_TRUE(std::isfinite(v));
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    EXPECT_GT(hi - lo, 0.1f);
}

TEST_P(ArchTest, IncrementalDecodeMatchesFullSequenceForward) {
    std::unique_ptr<Model> m = load_test_model({.arch = GetParam()});
    const int64_t n_vocab = m->config().n_vocab;
    Seq full_seq(*m, 2);
    const std::vector<float> full = full_seq.values(kTokens, 0, LogitsMode::kAll);
    ASSERT_EQ(full.size(), kTokens.size() * static_cast<size_t>(n_vocab));

    Seq seq(*m, 2);
    const size_t n_prefill = 5;
    std::vector<float> last = seq.values(std::span(kTokens).first(n_prefill), 0, LogitsMode::kLast);
    EXPECT_LE(rel_err(last, std::span(full).subspan((n_prefill - 1) * n_vocab, n_vocab)), 1e-5);
    for (size_t t = n_prefill; t < kTokens.size(); ++t) {
        last = seq.values(std::span(kTokens).subspan(t, 1), static_cast<int32_t>(t), LogitsMode::kLast);
        EXPECT_LE(rel_err(last, std::span(full).subspan(t * n_vocab, n_vocab)), 1e-5) << "position " << t;
    }
}

TEST_P(ArchTest, RewindingTheCacheReproducesLogits) {
    std::unique_ptr<Model> m = load_test_model({.arch = GetParam()});
    Seq seq(*m);
    const std::vector<float> first = seq.values(kTokens, 0, LogitsMode::kLast);
    const std::vector<int32_t> other = {1, 5, 6};
    ASSERT_TRUE(seq.run(other, 4, LogitsMode::kLast).has_value());  // overwrites positions 4..6
    const std::vector<float> b = seq.values(std::span(kTokens).subspan(4), 4, LogitsMode::kLast);
    EXPECT_LE(rel_err(b, first), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Archs, ArchTest, ::testing::Values("llama", "qwen2", "qwen3", "gemma3"));

TEST(ModelTest, QuantizedAndHalfModelsStayCloseToF32) {
    std::unique_ptr<Model> ref = load_test_model({.arch = "llama", .dtype = tensor::DType::kF32});
    const std::vector<float> want = Seq(*ref, 2).values(kTokens, 0, LogitsMode::kLast);
    // Q8_0 also quantizes the activations to int8 in matmul, and a random network amplifies
    // perturbations, hence the loose bound; it still catches a wrong block layout (errors ~1).
    for (auto [dtype, tol] : {std::pair{tensor::DType::kF16, 5e-3}, std::pair{tensor::DType::kBF16, 3e-2},
                              std::pair{tensor::DType::kQ8_0, 1e-1}}) {
        std::unique_ptr<Model> m = load_test_model({.arch = "llama", .dtype = dtype});
        const std::vector<float> got = Seq(*m, 2).values(kTokens, 0, LogitsMode::kLast);
        const double err = rel_err(got, want);
        EXPECT_LE(err, tol) << tensor::dtype_name(dtype);
        std::printf("%s rel err %.2e\n", tensor::dtype_name(dtype), err);
        EXPECT_STREQ(m->dtype_name(), tensor::dtype_name(dtype));
    }
}

TEST(ModelTest, PerplexityScoresTheSecondHalfOfEachWindow) {
    std::unique_ptr<Model> m = load_test_model({.arch = "qwen2"});
    std::vector<int32_t> tokens;
    for (int i = 0; i < 37; ++i) {
        tokens.push_back(3 + (i * 7) % 200);
    }
    const int64_t n_vocab = m->config().n_vocab;
    Seq runs(*m, 2);
    const WindowLogits window_logits = [&](std::span<const int32_t> window) {
        return runs.run(window, 0, LogitsMode::kAll);
    };
    const PerplexityResult r = evaluate_perplexity(window_logits, n_vocab, tokens, 16, /*bos_id=*/1).value();
    EXPECT_EQ(r.n_windows, 2);                // 37 tokens: two windows of 16, 5 left over
    EXPECT_EQ(r.n_scored, 2 * (16 - 1 - 8));  // positions 8..14 predict tokens 9..15
    // Recompute both windows by hand: BOS first, logits at i predict the original token i + 1.
    double nll = 0.0;
    for (int w = 0; w < 2; ++w) {
        std::vector<int32_t> window(tokens.begin() + 16 * w, tokens.begin() + 16 * (w + 1));
        window[0] = 1;
        Seq seq(*m, 2);
        const std::vector<float> all = seq.values(window, 0, LogitsMode::kAll);
        const std::span<const float> logits(all);
        for (int i = 8; i < 15; ++i) {
            nll += negative_log_likelihood(logits.subspan(i * n_vocab, n_vocab), tokens[16 * w + i + 1]);
        }
    }
    EXPECT_NEAR(r.mean_nll, nll / 14, 1e-9);
    EXPECT_NEAR(r.perplexity, std::exp(r.mean_nll), 1e-9);
    Result<PerplexityResult> short_text =
        evaluate_perplexity(window_logits, n_vocab, std::span(tokens).first(10), 16, 1);
    ASSERT_FALSE(short_text.has_value());
    EXPECT_NE(short_text.error().message().find("the text has 10 tokens, need at least one window of 16"),
              std::string::npos);
}

TEST(ModelTest, TiedEmbeddingsUseTokenEmbd) {
    std::unique_ptr<Model> m = load_test_model({.arch = "qwen3", .is_tied = true});
    EXPECT_EQ(m->weights().output.data, m->weights().token_embd.data);
    EXPECT_TRUE(Seq(*m).run(std::vector<int32_t>{1, 2}, 0, LogitsMode::kAll).has_value());
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
    Seq seq(*m, 1, /*n_blocks=*/1);
    const std::vector<int32_t> seventeen(17, 3);
    Result<std::span<const float>> r = seq.run(seventeen, 0, LogitsMode::kLast);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("17 tokens at position 0 do not fit the cache of 16 positions"),
              std::string::npos)
        << r.error().message();
    r = seq.run(std::vector<int32_t>{100000}, 0, LogitsMode::kLast);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("token id 100000 out of range"), std::string::npos) << r.error().message();
    r = seq.run(std::vector<int32_t>{1}, -1, LogitsMode::kLast);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    r = seq.run({}, 0, LogitsMode::kLast);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
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
        return Seq(*m).values(kTokens, 0, LogitsMode::kLast);
    };
    std::unique_ptr<Model> plain = load_test_model({.arch = "llama"});
    const std::vector<float> want = Seq(*plain).values(kTokens, 0, LogitsMode::kLast);
    EXPECT_EQ(logits_with_factor(1.0f), want);
    EXPECT_GT(rel_err(logits_with_factor(8.0f), want), 1e-3);
}

// Benchmark vocabularies: padding tokens are normal word pieces, each decoding to its own text
// (placeholder tokens would stream as nothing), and text made of them encodes back to them.
TEST(ModelTest, PaddedVocabularyIsMadeOfWords) {
    const std::string path = temp_path("vocab.gguf");
    ASSERT_TRUE(write_test_model({.arch = "llama", .n_vocab = 2000}, path).ok());
    std::unique_ptr<Model> m = Model::load(path).value();
    std::filesystem::remove(path);
    EXPECT_EQ(m->config().n_vocab, 2000);
    std::unique_ptr<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::from_gguf(m->file()).value();
    ASSERT_EQ(tok->n_vocab(), 2000);
    std::set<std::string> texts;
    for (int32_t id = 1000; id < 2000; ++id) {
        const std::string text = tok->decode_token(id, tokenizer::Tokenizer::RenderSpecial::kNo);
        ASSERT_GE(text.size(), 2u) << id;
        EXPECT_EQ(text[0], ' ') << id;
        EXPECT_TRUE(texts.insert(text).second) << "duplicate " << text;
    }
    for (int32_t id : {400, 1000, 1999}) {
        const std::string text = tok->decode_token(id, tokenizer::Tokenizer::RenderSpecial::kNo);
        // SentencePiece prepends the space itself.
        EXPECT_EQ(tok->encode(text.substr(1), tokenizer::AddBos::kNo), std::vector<int32_t>{id}) << text;
    }
}

TEST(ModelTest, UnknownArchitectureIsUnimplemented) {
    gguf::Writer w;
    w.set_string("general.architecture", "mamba");
    const std::string path = temp_path("mamba.gguf");
    ASSERT_TRUE(w.write(path).ok());
    Result<std::unique_ptr<Model>> m = Model::load(path);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(m.error().message(),
              "model: unsupported architecture 'mamba' (supported: llama, qwen2, qwen3, gemma3, gemma4, "
              "diffusion_gemma, minimax-m3)");
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
