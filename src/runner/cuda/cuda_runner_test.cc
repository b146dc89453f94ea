// CudaRunner against the CPU Runner on the fixture models: the same scheduler steps (prefill
// chunks mixed with decodes, sequences joining late; the decode-only steps replayed as CUDA graphs)
// give close logits (relative L2 <= 1e-3 per row in f32, 1e-2 in f16/bf16), identical greedy tokens
// (f32) and the same K/V in the cache, with f32 and f16 caches on both sides. run_sequence's logits
// of every position match the CPU runner's. Batch invariance with
// is_deterministic: a sequence decoded alone and in batches of 1..16 gives bit-identical logits.
// Block copies (copy-on-write) on the device; bad input.
#include "runner/cuda/cuda_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/test_paths.h"
#include "runner/runner.h"

namespace gannet::runner {
namespace {

using model::Model;
using model::cuda::CudaModel;

constexpr int32_t kBlockSize = 16;

std::string fixture(const std::string& name) {
    return source_dir() + "/tests/fixtures/models/" + name + ".gguf";
}

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

int32_t argmax(std::span<const float> v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// One sequence as the scheduler would drive it: known tokens, a block table, how many are cached.
struct TestSeq {
    std::vector<int32_t> tokens;
    std::vector<kvcache::BlockId> table;
    int32_t n_done = 0;
    int32_t start_step = 0;  // joins the batch at this step
    int32_t max_tokens = 0;  // stops once it knows this many tokens
};

std::vector<int32_t> prompt(int32_t n, int32_t seed, int64_t n_vocab) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
        p[static_cast<size_t>(i)] = static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + seed * 131 + 13) % n_vocab);
    }
    return p;
}

// The step at `step`: every active sequence schedules up to `chunk` of its uncached tokens (a decode
// is one), blocks are handed out from next_block. Spans point into seqs.
sched::SchedulerOutput build_step(std::vector<TestSeq>& seqs, int32_t step, int32_t chunk, int32_t& next_block,
                                  std::vector<size_t>& order) {
    sched::SchedulerOutput out;
    order.clear();
    for (size_t i = 0; i < seqs.size(); ++i) {
        TestSeq& s = seqs[i];
        const int32_t known = static_cast<int32_t>(s.tokens.size());
        if (step < s.start_step || s.n_done >= known || known >= s.max_tokens) {
            continue;
        }
        const int32_t n = std::min(chunk, known - s.n_done);
        while (static_cast<int32_t>(s.table.size()) * kBlockSize < s.n_done + n) {
            s.table.push_back(next_block++);
        }
        out.seqs.push_back(sched::ScheduledSeq{
            .seq_id = static_cast<sched::SeqId>(i),
            .tokens = std::span<const int32_t>(s.tokens).subspan(static_cast<size_t>(s.n_done), static_cast<size_t>(n)),
            .pos = s.n_done,
            .block_table = s.table,
            .is_logits_needed = s.n_done + n == known});
        out.n_tokens += n;
        order.push_back(i);
    }
    return out;
}

// After a step: advance n_done; the sequences that got logits append `next[r]`.
void finish_step(std::vector<TestSeq>& seqs, const sched::SchedulerOutput& out, const std::vector<size_t>& order,
                 const std::vector<int32_t>& next) {
    size_t r = 0;
    for (size_t k = 0; k < out.seqs.size(); ++k) {
        TestSeq& s = seqs[order[k]];
        s.n_done += static_cast<int32_t>(out.seqs[k].tokens.size());
        if (out.seqs[k].is_logits_needed) {
            s.tokens.push_back(next[r++]);
        }
    }
}

// f32 models: relative L2 <= 1e-3 and identical greedy tokens. f16/bf16 (matvec and GEMM on half
// weights, rounded activations): <= 1e-2, as model_cuda_test, and the CPU's tokens drive both.
void check_against_cpu(const std::string& name, kvcache::KvDType kv_dtype) {
    SCOPED_TRACE(name + " kv " + kvcache::kv_dtype_name(kv_dtype));
    const bool is_f16_kv = kv_dtype == kvcache::KvDType::kF16;
    const bool is_f32 = name.find("f32") != std::string::npos;
    const double tol = is_f32 ? 1e-3 : 1e-2;
    auto loaded = Model::load(fixture(name));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    Model& cpu_model = **loaded;
    const int64_t n_vocab = cpu_model.config().n_vocab;
    auto gpu_model = CudaModel::create(cpu_model, {});
    ASSERT_TRUE(gpu_model.has_value()) << gpu_model.error().message();
    const int32_t n_blocks = 128;
    auto cpu = Runner::create(cpu_model, {.n_blocks = n_blocks,
                                          .block_size = kBlockSize,
                                          .n_threads = 2,
                                          .kv_type = is_f16_kv ? tensor::DType::kF16 : tensor::DType::kF32});
    ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
    auto gpu = CudaRunner::create(**gpu_model, {.n_blocks = n_blocks, .block_size = kBlockSize, .kv_dtype = kv_dtype});
    ASSERT_TRUE(gpu.has_value()) << gpu.error().message();

    // Prompts of awkward lengths: 1 token, a block minus one, exactly a block, a block plus one,
    // several blocks (past a short sliding window), and two that join later.
    const int64_t n_ctx = std::min<int64_t>(cpu_model.config().n_ctx_train, 256);
    const int32_t long_len = static_cast<int32_t>(std::max<int64_t>(2, std::min<int64_t>(150, n_ctx - 20)));
    const std::vector<int32_t> lens = {1, 15, 16, 17, long_len, 5, 33};
    const std::vector<int32_t> starts = {0, 0, 0, 0, 0, 3, 6};
    std::vector<TestSeq> seqs;
    for (size_t i = 0; i < lens.size(); ++i) {
        seqs.push_back(TestSeq{.tokens = prompt(lens[i], static_cast<int32_t>(i), n_vocab),
                               .table = {},
                               .n_done = 0,
                               .start_step = starts[i],
                               .max_tokens = lens[i] + 10});
    }
    int32_t next_block = 0;
    std::vector<size_t> order;
    double worst = 0.0;
    int64_t n_rows_checked = 0;
    for (int32_t step = 0; step < 40; ++step) {
        sched::SchedulerOutput out = build_step(seqs, step, 12, next_block, order);
        if (out.seqs.empty()) {
            break;
        }
        ASSERT_LE(next_block, n_blocks);
        auto g = (*gpu)->run(out);
        ASSERT_TRUE(g.has_value()) << g.error().message();
        const std::vector<float> gl(g->begin(), g->end());
        auto c = (*cpu)->run(out);
        ASSERT_TRUE(c.has_value()) << c.error().message();
        ASSERT_EQ(gl.size(), c->size());
        std::vector<int32_t> next;
        for (size_t r = 0; r * static_cast<size_t>(n_vocab) < gl.size(); ++r) {
            const auto gr =
                std::span<const float>(gl).subspan(r * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab));
            const auto cr = c->subspan(r * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab));
            const double e = rel_err(gr, cr);
            worst = std::max(worst, e);
            ASSERT_LE(e, tol) << "step " << step << " row " << r;
            if (is_f32) {
                ASSERT_EQ(argmax(gr), argmax(cr)) << "step " << step << " row " << r;
            }
            next.push_back(argmax(cr));
            ++n_rows_checked;
        }
        finish_step(seqs, out, order, next);
    }
    EXPECT_GT(n_rows_checked, 60);
    for (const TestSeq& s : seqs) {
        EXPECT_EQ(s.n_done, s.max_tokens - 1) << "every sequence decoded to the end";
    }

    // The caches hold the same keys and values in the same slots.
    auto dev = (*gpu)->download_kv();
    ASSERT_TRUE(dev.has_value()) << dev.error().message();
    const kvcache::KvCacheLayout& lay = (*gpu)->layout();
    const kvcache::KvStorage& host = (*cpu)->storage();
    double kv_worst = 0.0;
    for (const TestSeq& s : seqs) {
        for (int32_t p = 0; p < s.n_done; ++p) {
            const kvcache::BlockId b = s.table[static_cast<size_t>(p / kBlockSize)];
            for (int32_t l = 0; l < lay.n_layers; ++l) {
                for (int32_t h = 0; h < lay.n_kv_heads; ++h) {
                    for (int kv = 0; kv < 2; ++kv) {
                        const size_t off =
                            kv == 0 ? lay.k_offset(b, l, h, p % kBlockSize) : lay.v_offset(b, l, h, p % kBlockSize);
                        const std::byte* want_row = (kv == 0 ? host.k(b, l, h) : host.v(b, l, h))
                                                    + static_cast<size_t>(p % kBlockSize) * lay.row_bytes();
                        std::vector<float> want(static_cast<size_t>(lay.head_dim));
                        std::vector<float> got(static_cast<size_t>(lay.head_dim));
                        for (size_t d = 0; d < want.size(); ++d) {
                            if (is_f16_kv) {
                                uint16_t w16 = 0;
                                uint16_t g16 = 0;
                                std::memcpy(&w16, want_row + d * 2, 2);
                                std::memcpy(&g16, dev->data() + off + d * 2, 2);
                                want[d] = fp16_to_fp32(w16);
                                got[d] = fp16_to_fp32(g16);
                            } else {
                                std::memcpy(&want[d], want_row + d * 4, 4);
                                std::memcpy(&got[d], dev->data() + off + d * 4, 4);
                            }
                        }
                        kv_worst = std::max(kv_worst, rel_err(got, want));
                    }
                }
            }
        }
    }
    std::printf("cuda runner %s: %lld logit rows, worst relative L2 error %.3g, kv %.3g\n", name.c_str(),
                static_cast<long long>(n_rows_checked), worst, kv_worst);
    EXPECT_LE(kv_worst, tol);
}

class CudaRunnerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaRunnerParity, MatchesCpuRunner) {
    check_against_cpu(GetParam(), kvcache::KvDType::kF32);
}

TEST(CudaRunner, F16CacheMatchesCpuRunner) {
    for (const char* name : {"llama-f32", "gemma3-f16", "qwen2-bf16"}) {
        check_against_cpu(name, kvcache::KvDType::kF16);
    }
}

// gannet logits / perplexity: one sequence, every position's logits, in two calls (a prompt, then
// a continuation over the cached prefix) against the CPU runner's run_sequence.
TEST(CudaRunner, RunSequenceMatchesCpu) {
    for (const char* name : {"llama-f32", "qwen3-f16"}) {
        SCOPED_TRACE(name);
        auto loaded = Model::load(fixture(name));
        ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
        const int64_t n_vocab = (*loaded)->config().n_vocab;
        auto gpu_model = CudaModel::create(**loaded, {});
        ASSERT_TRUE(gpu_model.has_value()) << gpu_model.error().message();
        auto cpu = Runner::create(**loaded, {.n_blocks = 8, .block_size = kBlockSize, .n_threads = 2});
        ASSERT_TRUE(cpu.has_value()) << cpu.error().message();
        auto gpu = CudaRunner::create(**gpu_model, {.n_blocks = 8, .block_size = kBlockSize});
        ASSERT_TRUE(gpu.has_value()) << gpu.error().message();
        const std::vector<int32_t> tokens = prompt(40, 3, n_vocab);
        const auto first = std::span<const int32_t>(tokens).first(23);
        const auto rest = std::span<const int32_t>(tokens).subspan(23);
        for (auto [part, pos] : {std::pair{first, 0}, std::pair{rest, 23}}) {
            auto g = (*gpu)->run_sequence(part, pos, model::LogitsMode::kAll);
            ASSERT_TRUE(g.has_value()) << g.error().message();
            const std::vector<float> got(g->begin(), g->end());
            auto c = (*cpu)->run_sequence(part, pos, model::LogitsMode::kAll);
            ASSERT_TRUE(c.has_value()) << c.error().message();
            ASSERT_EQ(got.size(), part.size() * static_cast<size_t>(n_vocab));
            ASSERT_EQ(got.size(), c->size());
            for (size_t r = 0; r < part.size(); ++r) {
                const auto gr = std::span<const float>(got).subspan(r * n_vocab, n_vocab);
                const auto cr = c->subspan(r * n_vocab, n_vocab);
                EXPECT_LE(rel_err(gr, cr), 1e-2) << "row " << r;
            }
        }
        auto last = (*gpu)->run_sequence(std::span<const int32_t>(tokens).first(1), 40, model::LogitsMode::kLast);
        ASSERT_TRUE(last.has_value()) << last.error().message();
        EXPECT_EQ(last->size(), static_cast<size_t>(n_vocab));
        EXPECT_EQ(
            (*gpu)
                ->run_sequence(std::span<const int32_t>(tokens).first(1), 8 * kBlockSize, model::LogitsMode::kLast)
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaRunnerParity,
                         ::testing::Values("llama-f32", "qwen2-f32", "qwen3-f32", "gemma3-f32", "llama-f16",
                                           "qwen3-bf16"));

// Target sequence (prompt of 9) decoded for 12 tokens alone, then inside batches of 1..16 with
// other sequences of varied lengths joining at different steps (so its decodes share steps with
// prefill chunks): with is_deterministic its logits are bit-identical every step.
void check_batch_invariance(const std::string& name) {
    SCOPED_TRACE(name);
    auto loaded = Model::load(fixture(name));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    const int64_t n_vocab = (*loaded)->config().n_vocab;
    auto gpu_model = CudaModel::create(**loaded, {});
    ASSERT_TRUE(gpu_model.has_value()) << gpu_model.error().message();
    const int32_t n_gen = 12;

    auto decode = [&](int32_t batch, std::vector<std::vector<float>>& target_logits) {
        auto runner =
            CudaRunner::create(**gpu_model, {.n_blocks = 256, .block_size = kBlockSize, .is_deterministic = true});
        ASSERT_TRUE(runner.has_value()) << runner.error().message();
        std::vector<TestSeq> seqs;
        const size_t target = static_cast<size_t>(batch / 2);
        for (int32_t i = 0; i < batch; ++i) {
            if (static_cast<size_t>(i) == target) {
                seqs.push_back(TestSeq{.tokens = prompt(9, 100, n_vocab),
                                       .table = {},
                                       .n_done = 0,
                                       .start_step = 0,
                                       .max_tokens = 9 + n_gen});
            } else {
                const int32_t len = (3 + 11 * i) % 37 + 1;
                seqs.push_back(TestSeq{.tokens = prompt(len, i, n_vocab),
                                       .table = {},
                                       .n_done = 0,
                                       .start_step = i % 4,
                                       .max_tokens = len + n_gen});
            }
        }
        int32_t next_block = 0;
        std::vector<size_t> order;
        for (int32_t step = 0; step < 64; ++step) {
            sched::SchedulerOutput out = build_step(seqs, step, 16, next_block, order);
            if (out.seqs.empty()) {
                break;
            }
            auto l = (*runner)->run(out);
            ASSERT_TRUE(l.has_value()) << l.error().message();
            std::vector<int32_t> next;
            size_t r = 0;
            for (size_t k = 0; k < out.seqs.size(); ++k) {
                if (!out.seqs[k].is_logits_needed) {
                    continue;
                }
                const auto row = l->subspan(r * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab));
                if (order[k] == target) {
                    target_logits.emplace_back(row.begin(), row.end());
                }
                next.push_back(argmax(row));
                ++r;
            }
            finish_step(seqs, out, order, next);
        }
    };
    std::vector<std::vector<float>> alone;
    decode(1, alone);
    ASSERT_EQ(alone.size(), static_cast<size_t>(n_gen));
    for (int32_t batch = 2; batch <= 16; ++batch) {
        SCOPED_TRACE(batch);
        std::vector<std::vector<float>> together;
        decode(batch, together);
        ASSERT_EQ(together.size(), alone.size());
        for (size_t i = 0; i < alone.size(); ++i) {
            ASSERT_EQ(argmax(together[i]), argmax(alone[i])) << "token " << i;
            ASSERT_TRUE(std::memcmp(together[i].data(), alone[i].data(), alone[i].size() * sizeof(float)) == 0)
                << "logits of token " << i << " differ in a batch of " << batch;
        }
    }
}

TEST(CudaRunner, DeterministicIsBatchInvariant) {
    for (const char* name : {"llama-f32", "qwen3-f16", "gemma3-bf16"}) {
        check_batch_invariance(name);
    }
}

// MarginGate's reference path: the last token of a batched step recomputed alone on the
// deterministic path. Its logits match a deterministic runner decoding the sequence alone; its K/V
// wait in the scratch block, and only commit_reference() copies them over the batch's.
TEST(CudaRunner, ReferencePathRecomputesAloneAndCommits) {
    auto loaded = Model::load(fixture("llama-f32"));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    const int64_t n_vocab = (*loaded)->config().n_vocab;
    auto gpu_model = CudaModel::create(**loaded, {});
    ASSERT_TRUE(gpu_model.has_value()) << gpu_model.error().message();
    const std::vector<int32_t> a_prompt = prompt(20, 7, n_vocab);
    const std::vector<int32_t> b_prompt = prompt(20, 8, n_vocab);
    const std::vector<kvcache::BlockId> a_table = {0, 1};
    const std::vector<kvcache::BlockId> b_table = {2, 3};
    const int32_t x = 5;
    sched::SchedulerOutput a_prefill;
    a_prefill.seqs.push_back(
        {.seq_id = 0, .tokens = a_prompt, .pos = 0, .block_table = a_table, .is_logits_needed = true});
    sched::SchedulerOutput a_step;
    a_step.seqs.push_back(
        {.seq_id = 0, .tokens = std::span(&x, 1), .pos = 20, .block_table = a_table, .is_logits_needed = true});

    auto det = CudaRunner::create(**gpu_model, {.n_blocks = 8, .block_size = kBlockSize, .is_deterministic = true});
    ASSERT_TRUE(det.has_value()) << det.error().message();
    ASSERT_TRUE((*det)->run(a_prefill).has_value());
    auto alone = (*det)->run(a_step);
    ASSERT_TRUE(alone.has_value()) << alone.error().message();
    const std::vector<float> want(alone->begin(), alone->end());

    auto r = CudaRunner::create(**gpu_model, {.n_blocks = 8, .block_size = kBlockSize});
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_TRUE((*r)->check_reference_path().ok());
    sched::SchedulerOutput prefill = a_prefill;
    prefill.seqs.push_back(
        {.seq_id = 1, .tokens = b_prompt, .pos = 0, .block_table = b_table, .is_logits_needed = true});
    ASSERT_TRUE((*r)->run(prefill).has_value());
    sched::SchedulerOutput step = a_step;
    step.seqs.push_back(
        {.seq_id = 1, .tokens = std::span(&x, 1), .pos = 20, .block_table = b_table, .is_logits_needed = true});
    auto batched = (*r)->run(step);
    ASSERT_TRUE(batched.has_value()) << batched.error().message();
    const std::vector<float> a_row(batched->begin(), batched->begin() + n_vocab);

    const kvcache::KvCacheLayout& lay = (*r)->layout();
    auto slot_rows = [&lay](const std::vector<std::byte>& kv, kvcache::BlockId b, int32_t slot) {
        std::vector<std::byte> rows;
        for (int32_t l = 0; l < lay.n_layers; ++l) {
            for (int32_t h = 0; h < lay.n_kv_heads; ++h) {
                for (size_t off : {lay.k_offset(b, l, h, slot), lay.v_offset(b, l, h, slot)}) {
                    rows.insert(rows.end(), kv.begin() + static_cast<std::ptrdiff_t>(off),
                                kv.begin() + static_cast<std::ptrdiff_t>(off + lay.row_bytes()));
                }
            }
        }
        return rows;
    };
    auto before = (*r)->download_kv();
    ASSERT_TRUE(before.has_value());
    auto ref = (*r)->run_reference(step.seqs[0]);
    ASSERT_TRUE(ref.has_value()) << ref.error().message();
    ASSERT_EQ(ref->size(), static_cast<size_t>(n_vocab));
    EXPECT_LE(rel_err(*ref, want), 1e-4) << "the reference is the deterministic path alone";
    EXPECT_LE(rel_err(*ref, a_row), 1e-3) << "and close to the batched row";
    EXPECT_EQ(argmax(*ref), argmax(want));
    auto pending = (*r)->download_kv();
    ASSERT_TRUE(pending.has_value());
    EXPECT_EQ(slot_rows(*pending, 1, 4), slot_rows(*before, 1, 4)) << "run_reference holds its K/V aside";
    const kvcache::BlockId scratch = 8;
    EXPECT_EQ(slot_rows(*pending, scratch, 3), slot_rows(*before, 1, 3)) << "the scratch starts as a copy";
    ASSERT_TRUE((*r)->commit_reference().ok());
    auto after = (*r)->download_kv();
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(slot_rows(*after, 1, 4), slot_rows(*pending, scratch, 4)) << "commit copies the reference's K/V";
    EXPECT_EQ((*r)->commit_reference().code(), ErrorCode::kInvalidArgument) << "nothing pending any more";
}

// Copy-on-write: A's 20 cached tokens fill block 0 and 4 of block 1. B shares block 0 and gets a
// copy of block 1 (block 2) in the same step that both decode a different token at position 20.
TEST(CudaRunner, BlockCopiesOnDevice) {
    auto loaded = Model::load(fixture("llama-f32"));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    const int64_t n_vocab = (*loaded)->config().n_vocab;
    auto gpu_model = CudaModel::create(**loaded, {});
    ASSERT_TRUE(gpu_model.has_value()) << gpu_model.error().message();
    const std::vector<int32_t> a_prompt = prompt(20, 7, n_vocab);
    const std::vector<kvcache::BlockId> a_table = {0, 1};
    const std::vector<kvcache::BlockId> b_table = {0, 2};
    const int32_t x = 5;
    const int32_t y = 9;
    sched::SchedulerOutput prefill;
    prefill.seqs.push_back(
        {.seq_id = 0, .tokens = a_prompt, .pos = 0, .block_table = a_table, .is_logits_needed = true});

    // Reference: A alone decodes x at 20.
    auto ref = CudaRunner::create(**gpu_model, {.n_blocks = 8, .block_size = kBlockSize, .is_deterministic = true});
    ASSERT_TRUE(ref.has_value());
    ASSERT_TRUE((*ref)->run(prefill).has_value());
    sched::SchedulerOutput ref_step;
    ref_step.seqs.push_back(
        {.seq_id = 0, .tokens = std::span(&x, 1), .pos = 20, .block_table = a_table, .is_logits_needed = true});
    auto ref_logits = (*ref)->run(ref_step);
    ASSERT_TRUE(ref_logits.has_value()) << ref_logits.error().message();
    const std::vector<float> want(ref_logits->begin(), ref_logits->end());

    auto cpu = Runner::create(**loaded, {.n_blocks = 8, .block_size = kBlockSize, .n_threads = 2});
    ASSERT_TRUE(cpu.has_value());
    auto gpu = CudaRunner::create(**gpu_model, {.n_blocks = 8, .block_size = kBlockSize, .is_deterministic = true});
    ASSERT_TRUE(gpu.has_value());
    ASSERT_TRUE((*gpu)->run(prefill).has_value());
    ASSERT_TRUE((*cpu)->run(prefill).has_value());
    sched::SchedulerOutput cow;
    cow.block_copies.push_back({.src = 1, .dst = 2});
    cow.seqs.push_back(
        {.seq_id = 0, .tokens = std::span(&y, 1), .pos = 20, .block_table = a_table, .is_logits_needed = true});
    cow.seqs.push_back(
        {.seq_id = 1, .tokens = std::span(&x, 1), .pos = 20, .block_table = b_table, .is_logits_needed = true});
    auto g = (*gpu)->run(cow);
    ASSERT_TRUE(g.has_value()) << g.error().message();
    const std::vector<float> got(g->begin(), g->end());
    auto c = (*cpu)->run(cow);
    ASSERT_TRUE(c.has_value()) << c.error().message();
    ASSERT_EQ(got.size(), static_cast<size_t>(2 * n_vocab));
    const auto b_row = std::span<const float>(got).subspan(static_cast<size_t>(n_vocab));
    EXPECT_TRUE(std::memcmp(b_row.data(), want.data(), want.size() * sizeof(float)) == 0)
        << "B on the copied block equals A alone decoding the same token";
    EXPECT_LE(rel_err(got, *c), 1e-3);

    // Block 2 holds A's first 4 slots of block 1, then B's own token where A has y.
    auto dev = (*gpu)->download_kv();
    ASSERT_TRUE(dev.has_value());
    const kvcache::KvCacheLayout& lay = (*gpu)->layout();
    const size_t row = static_cast<size_t>(lay.head_dim) * sizeof(float);
    for (int32_t l = 0; l < lay.n_layers; ++l) {
        for (int32_t slot = 0; slot < 5; ++slot) {
            const int same =
                std::memcmp(dev->data() + lay.k_offset(1, l, 0, slot), dev->data() + lay.k_offset(2, l, 0, slot), row);
            if (slot < 4) {
                EXPECT_EQ(same, 0) << "layer " << l << " slot " << slot;
            } else {
                EXPECT_NE(same, 0) << "layer " << l << " slot " << slot;
            }
        }
    }
}

TEST(CudaRunner, RejectsBadInput) {
    auto loaded = Model::load(fixture("llama-f32"));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    const int32_t n_vocab = static_cast<int32_t>((*loaded)->config().n_vocab);
    auto gpu_model = CudaModel::create(**loaded, {});
    ASSERT_TRUE(gpu_model.has_value()) << gpu_model.error().message();
    EXPECT_EQ(CudaRunner::create(**gpu_model, {.n_blocks = 0}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(CudaRunner::create(**gpu_model, {.block_size = 0}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(CudaRunner::create(std::unique_ptr<CudaModel>(), {}).error().code(), ErrorCode::kInvalidArgument);
    auto r = CudaRunner::create(**gpu_model, {.n_blocks = 4, .block_size = kBlockSize});
    ASSERT_TRUE(r.has_value());

    sched::SchedulerOutput empty;
    auto e = (*r)->run(empty);
    ASSERT_TRUE(e.has_value()) << e.error().message();
    EXPECT_TRUE(e->empty());

    const int32_t ok = 1;
    const int32_t bad = n_vocab;
    const std::vector<kvcache::BlockId> table = {0};
    const std::vector<kvcache::BlockId> bad_table = {4};
    auto one = [&](const int32_t* tok, int32_t pos, std::span<const kvcache::BlockId> t) {
        sched::SchedulerOutput out;
        out.seqs.push_back(
            {.seq_id = 0, .tokens = std::span(tok, 1), .pos = pos, .block_table = t, .is_logits_needed = true});
        return out;
    };
    EXPECT_EQ((*r)->run(one(&bad, 0, table)).error().code(), ErrorCode::kInvalidArgument);     // token id
    EXPECT_EQ((*r)->run(one(&ok, 0, bad_table)).error().code(), ErrorCode::kInvalidArgument);  // block id
    EXPECT_EQ((*r)->run(one(&ok, 16, table)).error().code(), ErrorCode::kInvalidArgument);     // table too short
    EXPECT_EQ((*r)->run(one(&ok, -1, table)).error().code(), ErrorCode::kInvalidArgument);     // position
    sched::SchedulerOutput copy = one(&ok, 0, table);
    copy.block_copies.push_back({.src = 0, .dst = 4});
    EXPECT_EQ((*r)->run(copy).error().code(), ErrorCode::kInvalidArgument);  // copy target
    // Still usable after the errors.
    auto good = (*r)->run(one(&ok, 0, table));
    ASSERT_TRUE(good.has_value()) << good.error().message();
    EXPECT_EQ(good->size(), static_cast<size_t>(n_vocab));
    for (float v : *good) {
        ASSERT_TRUE(std::isfinite(v));
    }
}

}  // namespace
}  // namespace gannet::runner
