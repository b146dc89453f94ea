// Whole-model parity of the one CUDA forward (CudaModel::forward_batch through the CUDA runner) with
// the CPU backend: every fixture architecture in f32, f16 and bf16, a prompt long enough for the
// cuBLAS prefill path (all rows of logits) followed by decode steps (matvec and the CUDA graph),
// top-1 identical and relative L2 error <= 1e-2; the default model too (head_dim 64: its prompt
// goes through the paged flash kernel). Plus graph vs. no graph, fused vs. unfused decode ops,
// repacked vs. GGUF Q4_0 (bit-identical), and bad input.
#include "model/cuda/cuda_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "model/test_models.h"
#include "runner/cuda/cuda_runner.h"
#include "runner/runner.h"
#include "tensor/dtype.h"

namespace gannet::model::cuda {
namespace {

using runner::CudaRunner;

constexpr double kMaxRelErr = 1e-2;
constexpr int32_t kBlockSize = 16;

double rel_err(std::span<const float> got, std::span<const float> want) {
    double num = 0.0;
    double den = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double d = static_cast<double>(got[i]) - want[i];
        num += d * d;
        den += static_cast<double>(want[i]) * want[i];
    }
    return std::sqrt(num / std::max(den, 1e-30));
}

int64_t argmax(std::span<const float> v) {
    return std::max_element(v.begin(), v.end()) - v.begin();
}

// One decode step of a single sequence through the runner (the scheduler's shape: one token at pos).
Result<std::span<const float>> decode(CudaRunner& r, const int32_t& token, int32_t pos,
                                      const std::vector<kvcache::BlockId>& table) {
    sched::SchedulerOutput out;
    out.seqs.push_back(
        {.seq_id = 0,
         .tokens = std::span(&token, 1),
         .pos = pos,
         .block_table = std::span<const kvcache::BlockId>(table).first(static_cast<size_t>(pos / kBlockSize + 1)),
         .is_logits_needed = true});
    return r.run(out);
}

std::vector<kvcache::BlockId> all_blocks(int32_t n) {
    std::vector<kvcache::BlockId> t(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
        t[static_cast<size_t>(i)] = i;
    }
    return t;
}

// Compares CPU and GPU logits for a prompt of n_prompt tokens (all rows) then n_decode single steps.
void check_parity(const std::string& path, int64_t n_prompt, int64_t n_decode) {
    SCOPED_TRACE(path);
    auto loaded = Model::load(path);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    Model& cpu = **loaded;
    const ModelConfig& c = cpu.config();
    auto gpu_or = CudaModel::create(cpu, {});
    if (!gpu_or.has_value() && gpu_or.error().code() == ErrorCode::kUnimplemented) {
        GTEST_SKIP() << gpu_or.error().message();
    }
    ASSERT_TRUE(gpu_or.has_value()) << gpu_or.error().message();
    const auto n_blocks = static_cast<int32_t>((n_prompt + n_decode + kBlockSize - 1) / kBlockSize);
    auto gpu_runner = CudaRunner::create(**gpu_or, {.n_blocks = n_blocks, .block_size = kBlockSize});
    ASSERT_TRUE(gpu_runner.has_value()) << gpu_runner.error().message();
    CudaRunner& gpu = **gpu_runner;
    // The CPU reference is the one CPU forward, for one sequence (runner::Runner::run_sequence).
    auto runner_or = runner::Runner::create(cpu, {.n_blocks = n_blocks, .block_size = kBlockSize, .n_threads = 2});
    ASSERT_TRUE(runner_or.has_value()) << runner_or.error().message();
    runner::Runner& ref = **runner_or;

    std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
    for (int64_t i = 0; i < n_prompt; ++i) {
        tokens[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919 + 13) % c.n_vocab);
    }
    auto want_or = ref.run_sequence(tokens, 0, LogitsMode::kAll);
    ASSERT_TRUE(want_or.has_value()) << want_or.error().message();
    const std::vector<float> want(want_or->begin(), want_or->end());
    auto got_or = gpu.run_sequence(tokens, 0, LogitsMode::kAll);
    ASSERT_TRUE(got_or.has_value()) << got_or.error().message();
    double worst = 0.0;
    for (int64_t r = 0; r < n_prompt; ++r) {
        const auto w = std::span<const float>(want).subspan(static_cast<size_t>(r * c.n_vocab), c.n_vocab);
        const auto g = got_or->subspan(static_cast<size_t>(r * c.n_vocab), c.n_vocab);
        EXPECT_EQ(argmax(g), argmax(w)) << "prompt row " << r;
        worst = std::max(worst, rel_err(g, w));
    }
    const std::vector<kvcache::BlockId> table = all_blocks(n_blocks);
    int32_t next = static_cast<int32_t>(argmax(std::span<const float>(want).last(c.n_vocab)));
    for (int64_t i = 0; i < n_decode; ++i) {
        const int32_t pos = static_cast<int32_t>(n_prompt + i);
        auto w_or = ref.run_sequence(std::span(&next, 1), pos, LogitsMode::kLast);
        ASSERT_TRUE(w_or.has_value()) << w_or.error().message();
        const std::vector<float> w(w_or->begin(), w_or->end());
        auto g_or = decode(gpu, next, pos, table);
        ASSERT_TRUE(g_or.has_value()) << g_or.error().message();
        EXPECT_EQ(argmax(*g_or), argmax(w)) << "decode step " << i;
        worst = std::max(worst, rel_err(*g_or, w));
        next = static_cast<int32_t>(argmax(w));
    }
    std::printf("parity %s: worst relative L2 error %.3g\n", path.c_str(), worst);
    EXPECT_LE(worst, kMaxRelErr);
}

std::string fixture(const std::string& name) {
    return source_dir() + "/tests/fixtures/models/" + name + ".gguf";
}

class CudaModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaModelParity, MatchesCpu) {
    check_parity(fixture(GetParam()), 19, 6);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaModelParity,
                         ::testing::Values("llama-f32", "llama-f16", "llama-bf16", "qwen2-f32", "qwen2-f16",
                                           "qwen2-bf16", "qwen3-f32", "qwen3-f16", "qwen3-bf16", "gemma3-f32",
                                           "gemma3-f16", "gemma3-bf16"));

TEST(CudaModel, DefaultModelMatchesCpu) {
    check_parity(source_dir() + "/models/gannet-default.gguf", 48, 8);
}

// Logits of a prompt (all rows), then a 5-token chunk (matvec path, several tokens), then greedy
// one-token steps (graph), for one option set.
std::vector<std::vector<float>> run_steps(const Model& cpu, const CudaModelOptions& o) {
    std::vector<std::vector<float>> out;
    auto m_or = CudaModel::create(cpu, o);
    EXPECT_TRUE(m_or.has_value()) << m_or.error().message();
    if (!m_or.has_value()) {
        return out;
    }
    auto r_or = CudaRunner::create(**m_or, {.n_blocks = 2, .block_size = kBlockSize});
    EXPECT_TRUE(r_or.has_value()) << r_or.error().message();
    if (!r_or.has_value()) {
        return out;
    }
    CudaRunner& r = **r_or;
    const int32_t n_vocab = static_cast<int32_t>(cpu.config().n_vocab);
    int32_t pos = 0;
    for (int64_t n : {11, 5}) {
        std::vector<int32_t> tokens;
        const int32_t first = pos;
        for (int64_t i = 0; i < n; ++i, ++pos) {
            tokens.push_back((pos * 7919 + 13) % n_vocab);
        }
        auto l = r.run_sequence(tokens, first, LogitsMode::kAll);
        EXPECT_TRUE(l.has_value()) << l.error().message();
        if (!l.has_value()) {
            return out;
        }
        out.emplace_back(l->begin(), l->end());
    }
    const std::vector<kvcache::BlockId> table = all_blocks(2);
    int32_t next = static_cast<int32_t>(argmax(std::span<const float>(out.back()).last(static_cast<size_t>(n_vocab))));
    for (int i = 0; i < 6; ++i, ++pos) {
        auto l = decode(r, next, pos, table);
        EXPECT_TRUE(l.has_value()) << l.error().message();
        if (!l.has_value()) {
            return out;
        }
        out.emplace_back(l->begin(), l->end());
        next = static_cast<int32_t>(argmax(*l));
    }
    return out;
}

// Decode steps replayed from a captured graph give the same bits as the same launches made directly.
TEST(CudaModel, GraphReplayEqualsDirectLaunches) {
    for (const char* name : {"llama-f16", "gemma3-bf16"}) {
        SCOPED_TRACE(name);
        auto cpu = Model::load(fixture(name));
        ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
        const std::vector<std::vector<float>> graph = run_steps(**cpu, {.use_graph = true});
        const std::vector<std::vector<float>> direct = run_steps(**cpu, {.use_graph = false});
        ASSERT_EQ(graph.size(), 8u);
        ASSERT_EQ(direct.size(), graph.size());
        for (size_t i = 0; i < graph.size(); ++i) {
            EXPECT_TRUE(graph[i] == direct[i]) << "step " << i;
        }
    }
}

// fuse_decode_ops (int8 x written by rms_norm / glu, residual adds inside the matvec) is the same
// arithmetic as the separate launches: logits bit-identical, for quantized models (int8 paths),
// 16-bit ones (f32 paths, accumulate only), post-norm (gemma3) and bias (qwen2) architectures.
TEST(CudaModel, FusedDecodeOpsAreBitIdentical) {
    std::vector<std::string> paths = {fixture("llama-f16"), fixture("gemma3-bf16"), fixture("qwen2-f32"),
                                      fixture("qwen3-bf16")};
    for (tensor::DType dtype : {tensor::DType::kQ4_0, tensor::DType::kQ8_0, tensor::DType::kQ4_1}) {
        TestModelOptions o;
        o.arch = "llama";
        o.dtype = dtype;
        o.n_layers = 3;
        o.n_embd = 256;
        o.n_ff = 768;
        o.n_heads = 4;
        o.n_kv_heads = 2;
        const std::string path =
            testing::TempDir() + "/gannet-fused-" + std::string(tensor::dtype_name(dtype)) + ".gguf";
        const Status st = write_test_model(o, path);
        ASSERT_TRUE(st.ok()) << st.to_string();
        paths.push_back(path);
    }
    for (const std::string& path : paths) {
        SCOPED_TRACE(path);
        auto cpu = Model::load(path);
        ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
        const std::vector<std::vector<float>> fused = run_steps(**cpu, {.fuse_decode_ops = true});
        const std::vector<std::vector<float>> plain = run_steps(**cpu, {.fuse_decode_ops = false});
        ASSERT_EQ(fused.size(), 8u);
        ASSERT_EQ(plain.size(), fused.size());
        for (size_t i = 0; i < fused.size(); ++i) {
            EXPECT_TRUE(fused[i] == plain[i]) << "step " << i;
        }
    }
}

// repack_q4_0 (device Q4_0 matrices in WeightLayout::kQ4_0Split) changes where the bytes are, not
// the arithmetic: prompt (gemm tiles), multi-token and graph decode logits bit-identical, for an
// untied and a tied (token_embd stays GGUF for the lookup) model, fused and unfused.
TEST(CudaModel, RepackedQ4_0IsBitIdentical) {
    for (bool is_tied : {false, true}) {
        TestModelOptions o;
        o.arch = "llama";
        o.dtype = tensor::DType::kQ4_0;
        o.n_layers = 3;
        o.is_tied = is_tied;
        o.n_embd = 256;
        o.n_ff = 672;
        o.n_heads = 4;
        o.n_kv_heads = 2;
        const std::string path = testing::TempDir() + "/gannet-repack-" + (is_tied ? "tied" : "untied") + ".gguf";
        const Status st = write_test_model(o, path);
        ASSERT_TRUE(st.ok()) << st.to_string();
        SCOPED_TRACE(path);
        auto cpu = Model::load(path);
        ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
        for (bool fuse : {true, false}) {
            SCOPED_TRACE(fuse ? "fused" : "unfused");
            const std::vector<std::vector<float>> split =
                run_steps(**cpu, {.fuse_decode_ops = fuse, .repack_q4_0 = true});
            const std::vector<std::vector<float>> gguf =
                run_steps(**cpu, {.fuse_decode_ops = fuse, .repack_q4_0 = false});
            ASSERT_EQ(split.size(), 8u);
            ASSERT_EQ(gguf.size(), split.size());
            for (size_t i = 0; i < split.size(); ++i) {
                EXPECT_TRUE(split[i] == gguf[i]) << "step " << i;
            }
        }
    }
}

TEST(CudaModel, RejectsBadInput) {
    auto cpu = Model::load(fixture("llama-bf16"));
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
    EXPECT_EQ(CudaModel::create(**cpu, {.vram_budget_bytes = -2}).error().code(), ErrorCode::kInvalidArgument);
    auto m = CudaModel::create(**cpu, {});
    ASSERT_TRUE(m.has_value());
    auto r = CudaRunner::create(**m, {.n_blocks = 1, .block_size = kBlockSize});
    ASSERT_TRUE(r.has_value());
    const int32_t bad_id = static_cast<int32_t>((*cpu)->config().n_vocab);
    const int32_t zero = 0;
    EXPECT_EQ((*r)->run_sequence(std::span(&bad_id, 1), 0, LogitsMode::kLast).error().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((*r)->run_sequence(std::span(&zero, 1), kBlockSize, LogitsMode::kLast).error().code(),
              ErrorCode::kInvalidArgument);  // beyond the cache
    EXPECT_EQ((*r)->run_sequence({}, 0, LogitsMode::kLast).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE((*r)->run_sequence(std::span(&zero, 1), 0, LogitsMode::kLast).has_value());
}

}  // namespace
}  // namespace gannet::model::cuda
