// Runner over a real tiny model: a shuffled block table gives the same logits as blocks in order,
// a sequence's greedy tokens are identical whether it runs alone or in batches of 1-16, and the
// quantized cache types stay close to f32.
#include "runner/runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "base/test_paths.h"
#include "model/test_models.h"
#include "sampling/sampler.h"

namespace gannet::runner {
namespace {

std::string fixture(const char* name) {
    return source_dir() + "/tests/fixtures/models/" + name;
}

// The reference fixtures cover f32/f16/bf16 and every architecture (gemma3: sliding windows,
// softcaps, QK-norm); q8_0/q4_0 models are generated (their matmul quantizes activations per row).
Result<std::unique_ptr<model::Model>> load_model(const std::string& name) {
    if (name == "llama-q8_0" || name == "llama-q4_0") {
        model::TestModelOptions o;
        o.dtype = name == "llama-q8_0" ? tensor::DType::kQ8_0 : tensor::DType::kQ4_0;
        o.n_embd = 128;
        o.n_ff = 256;
        const std::string path = ::testing::TempDir() + "/runner_" + name + ".gguf";
        GANNET_RETURN_IF_ERROR(model::write_test_model(o, path));
        return model::Model::load(path);
    }
    return model::Model::load(fixture((name + ".gguf").c_str()));
}

class RunnerModelTest : public ::testing::TestWithParam<std::string> {};

std::vector<int32_t> prompt_for(int i, int32_t n_vocab) {
    std::vector<int32_t> p;
    for (int j = 0; j < 5 + (i * 7) % 23; ++j) {
        p.push_back((i * 131 + j * 17 + 3) % n_vocab);
    }
    return p;
}

// Runs every prompt through scheduler + runner with greedy sampling; returns generated tokens by index.
std::map<int, std::vector<int32_t>> decode(model::Model& m, const std::vector<int>& which, int n_new,
                                           int32_t max_batch_tokens, int n_threads,
                                           tensor::DType kv_type = tensor::DType::kF32) {
    sched::SchedulerConfig sc;
    sc.max_batch_tokens = max_batch_tokens;
    sc.blocks.n_blocks = 256;
    sc.blocks.block_size = 16;
    auto sched = sched::Scheduler::create(sc);
    EXPECT_TRUE(sched.has_value());
    auto runner = Runner::create(m, {.n_blocks = 256, .block_size = 16, .n_threads = n_threads, .kv_type = kv_type});
    EXPECT_TRUE(runner.has_value()) << runner.error().message();
    std::map<sched::SeqId, int> ids;
    std::map<int, std::vector<int32_t>> outs;
    for (int i : which) {
        auto id = sched->add_request(
            {.prompt = prompt_for(i, static_cast<int32_t>(m.config().n_vocab)), .max_new_tokens = n_new});
        EXPECT_TRUE(id.has_value());
        ids[*id] = i;
    }
    int64_t now = 0;
    while (sched->has_work()) {
        const sched::SchedulerOutput& out = sched->step(++now);
        auto logits = (*runner)->run(out);
        EXPECT_TRUE(logits.has_value()) << logits.error().message();
        std::vector<sched::SampledToken> sampled;
        size_t row = 0;
        for (const sched::ScheduledSeq& s : out.seqs) {
            if (!s.is_logits_needed) {
                continue;
            }
            std::span<const float> r = logits->subspan(row++ * static_cast<size_t>(m.config().n_vocab),
                                                       static_cast<size_t>(m.config().n_vocab));
            const int32_t tok = sampling::argmax(r);
            auto& o = outs[ids[s.seq_id]];
            o.push_back(tok);
            sampled.push_back({.seq_id = s.seq_id, .token = tok, .is_finished = static_cast<int>(o.size()) >= n_new});
        }
        sched->on_step_done(sampled);
    }
    return outs;
}

// Where the blocks are does not matter: the prompt over a shuffled table of 4-token blocks gives
// bit-identical logits to run_sequence over blocks 0, 1, 2, ... (the same program reads the same
// rows in the same order).
TEST_P(RunnerModelTest, ShuffledBlockTableGivesTheSameLogits) {
    auto m = load_model(GetParam());
    ASSERT_TRUE(m.has_value()) << m.error().message();
    ThreadPool pool(2);
    const std::vector<int32_t> prompt = prompt_for(3, static_cast<int32_t>((*m)->config().n_vocab));
    auto in_order = Runner::create(**m, {.n_blocks = 8, .block_size = 4, .n_threads = 2});
    ASSERT_TRUE(in_order.has_value());
    auto ref = (*in_order)->run_sequence(prompt, 0, model::LogitsMode::kLast);
    ASSERT_TRUE(ref.has_value()) << ref.error().message();
    std::vector<float> expected(ref->begin(), ref->end());
    auto runner = Runner::create(**m, {.n_blocks = 8, .block_size = 4, .n_threads = 2});
    ASSERT_TRUE(runner.has_value());
    std::vector<kvcache::BlockId> table = {5, 2, 7, 0, 1, 3, 4, 6};
    const model::BatchSeq seq{.tokens = prompt, .pos = 0, .block_table = table, .is_logits_needed = true};
    auto got = (*m)->forward_batch(std::span<const model::BatchSeq>(&seq, 1), (*runner)->storage(), pool);
    ASSERT_TRUE(got.has_value()) << got.error().message();
    ASSERT_EQ(got->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ((*got)[i], expected[i]) << i;
    }
}

// run_sequence with every row: row i equals the last-row logits of the first i + 1 tokens.
TEST_P(RunnerModelTest, AllRowsOfAPrefillAreEachPrefixsLastRow) {
    auto m = load_model(GetParam());
    ASSERT_TRUE(m.has_value()) << m.error().message();
    const int64_t n_vocab = (*m)->config().n_vocab;
    const std::vector<int32_t> prompt = prompt_for(5, static_cast<int32_t>(n_vocab));
    auto runner = Runner::create(**m, {.n_blocks = 8, .block_size = 16, .n_threads = 2});
    ASSERT_TRUE(runner.has_value());
    auto all_view = (*runner)->run_sequence(prompt, 0, model::LogitsMode::kAll);
    ASSERT_TRUE(all_view.has_value()) << all_view.error().message();
    const std::vector<float> all(all_view->begin(), all_view->end());
    ASSERT_EQ(all.size(), prompt.size() * static_cast<size_t>(n_vocab));
    for (size_t n : {size_t{1}, prompt.size() / 2, prompt.size()}) {
        auto last = (*runner)->run_sequence(std::span(prompt).first(n), 0, model::LogitsMode::kLast);
        ASSERT_TRUE(last.has_value());
        for (int64_t i = 0; i < n_vocab; ++i) {
            ASSERT_EQ((*last)[static_cast<size_t>(i)], all[(n - 1) * static_cast<size_t>(n_vocab) + i]) << n;
        }
    }
    EXPECT_EQ((*runner)->run_sequence(prompt, 120, model::LogitsMode::kLast).error().code(),
              ErrorCode::kInvalidArgument);  // 8 blocks of 16 end at 128
}

// OutputKind::kHidden: the rows the output projection reads. Projecting them through the model's
// output matrix gives the logits of the same prefill (llama has no final softcap), and a batch may
// not mix the two kinds.
TEST(RunnerTest, HiddenRowsProjectToTheLogits) {
    auto m = model::Model::load(fixture("llama-f32.gguf"));
    ASSERT_TRUE(m.has_value()) << m.error().message();
    const model::ModelConfig& c = (*m)->config();
    const std::vector<int32_t> prompt = prompt_for(7, static_cast<int32_t>(c.n_vocab));
    auto runner = Runner::create(**m, {.n_blocks = 8, .block_size = 16, .n_threads = 2});
    ASSERT_TRUE(runner.has_value());
    auto logits_view = (*runner)->run_sequence(prompt, 0, model::LogitsMode::kAll);
    ASSERT_TRUE(logits_view.has_value());
    const std::vector<float> logits(logits_view->begin(), logits_view->end());
    auto hidden = (*runner)->run_sequence(prompt, 0, model::LogitsMode::kAll, model::OutputKind::kHidden);
    ASSERT_TRUE(hidden.has_value()) << hidden.error().message();
    ASSERT_EQ(hidden->size(), prompt.size() * static_cast<size_t>(c.n_embd));
    std::vector<float> projected(logits.size());
    ThreadPool pool(1);
    ASSERT_TRUE(model::project((*m)->weights().output, hidden->data(), projected.data(),
                               static_cast<int64_t>(prompt.size()), pool)
                    .ok());
    for (size_t i = 0; i < logits.size(); ++i) {
        ASSERT_NEAR(projected[i], logits[i], 1e-4f * (1.0f + std::fabs(logits[i]))) << i;
    }
    auto last = (*runner)->run_sequence(prompt, 0, model::LogitsMode::kLast, model::OutputKind::kHidden);
    ASSERT_TRUE(last.has_value());
    ASSERT_EQ(last->size(), static_cast<size_t>(c.n_embd));
    std::vector<int32_t> toks(4, 1);
    const std::vector<kvcache::BlockId> table_a = {0}, table_b = {1};
    const model::BatchSeq mixed[] = {{.tokens = toks, .pos = 0, .block_table = table_a, .is_logits_needed = true},
                                     {.tokens = toks,
                                      .pos = 0,
                                      .block_table = table_b,
                                      .is_logits_needed = true,
                                      .output = model::OutputKind::kHidden}};
    EXPECT_EQ((*m)->forward_batch(mixed, (*runner)->storage(), pool).error().code(), ErrorCode::kInvalidArgument);
}

TEST(RunnerTest, RejectsShortBlockTable) {
    auto m = model::Model::load(fixture("llama-f32.gguf"));
    ASSERT_TRUE(m.has_value());
    ThreadPool pool(1);
    auto runner = Runner::create(**m, {.n_blocks = 4, .block_size = 4, .n_threads = 1});
    ASSERT_TRUE(runner.has_value());
    std::vector<int32_t> toks(9, 1);
    std::vector<kvcache::BlockId> table = {0, 1};
    const model::BatchSeq seq{.tokens = toks, .pos = 0, .block_table = table, .is_logits_needed = true};
    auto got = (*m)->forward_batch(std::span<const model::BatchSeq>(&seq, 1), (*runner)->storage(), pool);
    EXPECT_EQ(got.error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(RunnerModelTest, TokensDoNotDependOnBatchMates) {
    auto m = load_model(GetParam());
    ASSERT_TRUE(m.has_value());
    const int n_new = 12;
    std::map<int, std::vector<int32_t>> alone;
    for (int i = 0; i < 16; ++i) {
        alone[i] = decode(**m, {i}, n_new, 512, 2)[i];
        ASSERT_EQ(alone[i].size(), static_cast<size_t>(n_new));
    }
    for (int batch : {1, 2, 3, 5, 8, 16}) {
        std::vector<int> which;
        for (int i = 0; i < batch; ++i)
            which.push_back((i * 5 + batch) % 16);
        // A small token budget forces chunked prefill mixed with decodes.
        for (int32_t budget : {512, 7}) {
            auto got = decode(**m, which, n_new, budget, 2);
            for (int i : which) {
                EXPECT_EQ(got[i], alone[i]) << "prompt " << i << " batch " << batch << " budget " << budget;
            }
        }
    }
}

// ---- KV cache types (--kv-type): f16, q8_0 and q4_0 rows against the exact f32 cache. ----

// Generated f32-weight models with head_dim 32 (n_embd 128 over 4 heads, 2 kv heads), so q8_0/q4_0
// rows are one block per head; gemma3 adds sliding windows and softcaps, qwen3 QK-norm.
Result<std::unique_ptr<model::Model>> load_wide(const std::string& arch) {
    model::TestModelOptions o;
    o.arch = arch;
    o.n_embd = 128;
    o.n_ff = 256;
    o.n_heads = 4;
    o.n_kv_heads = 2;
    const std::string path = ::testing::TempDir() + "/runner_kv_" + arch + ".gguf";
    GANNET_RETURN_IF_ERROR(model::write_test_model(o, path));
    return model::Model::load(path);
}

struct KvTypeCase {
    std::string arch;
    tensor::DType kv_type;
};

class KvTypeTest : public ::testing::TestWithParam<KvTypeCase> {};

// Logit rows of a 40-token prompt (positions 0..39, all rows, one prefill) plus 8 decode steps of
// fixed ids, through run_sequence over a cache of kv_type. Returns 48 rows of n_vocab.
std::vector<std::vector<float>> sequence_rows(model::Model& m, tensor::DType kv_type) {
    std::vector<std::vector<float>> rows;
    const int32_t n_vocab = static_cast<int32_t>(m.config().n_vocab);
    std::vector<int32_t> prompt;
    for (int32_t i = 0; i < 40; ++i) {
        prompt.push_back((i * 37 + 11) % n_vocab);
    }
    auto runner = Runner::create(m, {.n_blocks = 4, .block_size = 16, .n_threads = 2, .kv_type = kv_type});
    EXPECT_TRUE(runner.has_value()) << runner.error().message();
    auto all = (*runner)->run_sequence(prompt, 0, model::LogitsMode::kAll);
    EXPECT_TRUE(all.has_value());
    for (size_t r = 0; r < prompt.size(); ++r) {
        rows.emplace_back(all->begin() + static_cast<std::ptrdiff_t>(r * n_vocab),
                          all->begin() + static_cast<std::ptrdiff_t>((r + 1) * n_vocab));
    }
    for (int32_t step = 0; step < 8; ++step) {
        const int32_t id = (step * 53 + 7) % n_vocab;  // fixed ids, so both paths see the same tokens
        auto l = (*runner)->run_sequence(std::span(&id, 1), 40 + step, model::LogitsMode::kLast);
        EXPECT_TRUE(l.has_value());
        rows.emplace_back(l->begin(), l->end());
    }
    return rows;
}

// Rows 23, 39 and 40..47 of sequence_rows through the paged cache of kv_type: the prompt in two
// chunks (24 + 16 tokens, so the second starts mid-block) with the last row of each, then the 8
// decode steps, over a shuffled block table.
std::vector<std::vector<float>> paged_rows(model::Model& m, tensor::DType kv_type, ThreadPool& pool) {
    std::vector<std::vector<float>> rows;
    const int32_t n_vocab = static_cast<int32_t>(m.config().n_vocab);
    auto runner = Runner::create(m, {.n_blocks = 8, .block_size = 16, .n_threads = 2, .kv_type = kv_type});
    EXPECT_TRUE(runner.has_value()) << runner.error().message();
    const std::vector<kvcache::BlockId> table = {6, 1, 4, 0};
    std::vector<int32_t> tokens;
    for (int32_t i = 0; i < 40; ++i) {
        tokens.push_back((i * 37 + 11) % n_vocab);
    }
    for (int32_t step = 0; step < 8; ++step) {
        tokens.push_back((step * 53 + 7) % n_vocab);
    }
    const std::pair<int32_t, size_t> calls[] = {{0, 24}, {24, 16}, {40, 1}, {41, 1}, {42, 1},
                                                {43, 1}, {44, 1},  {45, 1}, {46, 1}, {47, 1}};
    for (const auto& [p, n] : calls) {
        const model::BatchSeq seq{.tokens = std::span(tokens).subspan(static_cast<size_t>(p), n),
                                  .pos = p,
                                  .block_table = table,
                                  .is_logits_needed = true};
        auto l = m.forward_batch(std::span(&seq, 1), (*runner)->storage(), pool);
        EXPECT_TRUE(l.has_value()) << l.error().message();
        rows.emplace_back(l->begin(), l->end());
    }
    return rows;
}

// The rows of sequence_rows that paged_rows returns.
std::vector<std::vector<float>> paged_subset(const std::vector<std::vector<float>>& all) {
    std::vector<std::vector<float>> rows = {all[23], all[39]};
    rows.insert(rows.end(), all.begin() + 40, all.end());
    return rows;
}

struct RowDiff {
    double rel_l2 = 0.0;   // ||a - b|| / ||b|| over all rows
    double max_abs = 0.0;  // largest elementwise difference
    int n_top1_same = 0;
    int n_rows = 0;
};

RowDiff diff_rows(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
    RowDiff d;
    double err = 0.0, norm = 0.0;
    for (size_t r = 0; r < a.size(); ++r) {
        for (size_t i = 0; i < a[r].size(); ++i) {
            const double e = static_cast<double>(a[r][i]) - b[r][i];
            err += e * e;
            norm += static_cast<double>(b[r][i]) * b[r][i];
            d.max_abs = std::max(d.max_abs, std::abs(e));
        }
        d.n_top1_same += sampling::argmax(a[r]) == sampling::argmax(b[r]) ? 1 : 0;
        ++d.n_rows;
    }
    d.rel_l2 = std::sqrt(err / norm);
    return d;
}

// Bounds, from the row quantizers' own error on Gaussian-like rows (kv_quant_test.cc: q8_0 ~0.3%
// relative RMS, q4_0 ~7%, f16 ~0.03%) carried through softmax(q.k) v and two or six layers: the
// logit error grows to a few times the K/V error (measured rel L2: f16 1.7-4.4e-4, q8_0 0.8-1.1e-2,
// q4_0 0.16-0.18), so the bounds are f16 < 1e-3, q8_0 < 2e-2, q4_0 < 0.25. Top-1 must agree on
// every row for f16, on >= 90% for q8_0 (measured 45-47/48) and >= 60% for q4_0 (32-35/48): these
// random-weight models have flat logits, where a small error swaps near-ties.
TEST_P(KvTypeTest, CacheTypeStaysCloseToF32) {
    auto m = load_wide(GetParam().arch);
    ASSERT_TRUE(m.has_value()) << m.error().message();
    const auto ref = sequence_rows(**m, tensor::DType::kF32);
    const auto got = sequence_rows(**m, GetParam().kv_type);
    const RowDiff d = diff_rows(got, ref);
    std::printf("%s %s vs f32: rel L2 %.2e, max abs %.2e, top-1 same %d/%d\n", GetParam().arch.c_str(),
                tensor::dtype_name(GetParam().kv_type), d.rel_l2, d.max_abs, d.n_top1_same, d.n_rows);
    switch (GetParam().kv_type) {
        case tensor::DType::kF16:
            EXPECT_LT(d.rel_l2, 1e-3);
            EXPECT_EQ(d.n_top1_same, d.n_rows);
            break;
        case tensor::DType::kQ8_0:
            EXPECT_LT(d.rel_l2, 2e-2);
            EXPECT_GE(d.n_top1_same * 10, d.n_rows * 9);
            break;
        default:
            EXPECT_LT(d.rel_l2, 0.25);
            EXPECT_GE(d.n_top1_same * 10, d.n_rows * 6);
            break;
    }
    EXPECT_GT(d.rel_l2, 0.0) << "the cache type made no difference: was it used?";
}

// Same type, two schedules: the prompt in two chunks over a shuffled table against one prefill over
// blocks in order. Every token row is computed on its own (matmul rows, per-(token, head)
// attention over the same stored rows), so the rows are bit-identical.
TEST_P(KvTypeTest, ChunkedPrefillMatchesOnePrefill) {
    auto m = load_wide(GetParam().arch);
    ASSERT_TRUE(m.has_value()) << m.error().message();
    ThreadPool pool(2);
    const auto one = paged_subset(sequence_rows(**m, GetParam().kv_type));
    const auto chunked = paged_rows(**m, GetParam().kv_type, pool);
    const RowDiff d = diff_rows(chunked, one);
    EXPECT_EQ(d.max_abs, 0.0);
    EXPECT_EQ(d.n_top1_same, d.n_rows);
}

// The quantized paged cache keeps the batch invariance of the f32 one: a sequence's greedy tokens
// are the same alone and in a batch with chunked prefill.
TEST_P(KvTypeTest, TokensDoNotDependOnBatchMates) {
    auto m = load_wide(GetParam().arch);
    ASSERT_TRUE(m.has_value());
    std::map<int, std::vector<int32_t>> alone;
    for (int i : {0, 3, 5, 9}) {
        alone[i] = decode(**m, {i}, 6, 512, 2, GetParam().kv_type)[i];
    }
    auto got = decode(**m, {0, 3, 5, 9}, 6, 7, 2, GetParam().kv_type);
    for (int i : {0, 3, 5, 9}) {
        EXPECT_EQ(got[i], alone[i]) << "prompt " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Types, KvTypeTest,
    ::testing::Values(KvTypeCase{"llama", tensor::DType::kF16}, KvTypeCase{"llama", tensor::DType::kQ8_0},
                      KvTypeCase{"llama", tensor::DType::kQ4_0}, KvTypeCase{"qwen3", tensor::DType::kQ8_0},
                      KvTypeCase{"gemma3", tensor::DType::kF16}, KvTypeCase{"gemma3", tensor::DType::kQ8_0},
                      KvTypeCase{"gemma3", tensor::DType::kQ4_0}),
    [](const ::testing::TestParamInfo<KvTypeCase>& p) {
        return p.param.arch + "_" + tensor::dtype_name(p.param.kv_type);
    });

// The fixtures have head_dim 16: half a q8_0 block. The runner refuses with a message that says so.
TEST(KvTypeErrorTest, HeadDimNotAMultipleOf32IsRejected) {
    auto m = model::Model::load(fixture("llama-f32.gguf"));
    ASSERT_TRUE(m.has_value());
    for (tensor::DType t : {tensor::DType::kQ8_0, tensor::DType::kQ4_0}) {
        auto runner = Runner::create(**m, {.n_blocks = 4, .block_size = 16, .n_threads = 1, .kv_type = t});
        ASSERT_FALSE(runner.has_value());
        EXPECT_NE(runner.error().message().find("head_dim 16 is not a multiple of 32"), std::string::npos)
            << runner.error().message();
    }
    EXPECT_TRUE(Runner::create(**m, {.kv_type = tensor::DType::kF16}).has_value());  // element types are fine
    EXPECT_EQ(Runner::create(**m, {.kv_type = tensor::DType::kQ5_K}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(Runner::create(**m, {.kv_type = tensor::DType::kBF16}).error().code(), ErrorCode::kInvalidArgument);
}

// f16 on the head_dim-16 reference fixtures (every architecture): within 1e-3 of the f32 cache.
TEST(KvTypeErrorTest, F16CacheOnFixturesIsWithin1e3) {
    for (const char* name : {"llama-f32", "qwen2-f32", "qwen3-f32", "gemma3-f32"}) {
        auto m = model::Model::load(fixture((std::string(name) + ".gguf").c_str()));
        ASSERT_TRUE(m.has_value());
        ThreadPool pool(2);
        const RowDiff d = diff_rows(sequence_rows(**m, tensor::DType::kF16), sequence_rows(**m, tensor::DType::kF32));
        std::printf("%s f16 vs f32: rel L2 %.2e, max abs %.2e, top-1 same %d/%d\n", name, d.rel_l2, d.max_abs,
                    d.n_top1_same, d.n_rows);
        EXPECT_LT(d.rel_l2, 1e-3) << name;
        const RowDiff p = diff_rows(paged_rows(**m, tensor::DType::kF16, pool),
                                    paged_subset(sequence_rows(**m, tensor::DType::kF16)));
        EXPECT_EQ(p.max_abs, 0.0) << name;
    }
}

INSTANTIATE_TEST_SUITE_P(Models, RunnerModelTest,
                         ::testing::Values("llama-f32", "llama-f16", "qwen2-bf16", "qwen3-f32", "gemma3-f32",
                                           "llama-q8_0", "llama-q4_0"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                             std::string n = param_info.param;
                             for (char& ch : n)
                                 if (ch == '-')
                                     ch = '_';
                             return n;
                         });

}  // namespace
}  // namespace gannet::runner
