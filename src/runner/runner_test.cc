// Runner over a real tiny model: the paged batched forward matches the contiguous forward, and a
// sequence's greedy tokens are identical whether it runs alone or in batches of 1-16.
#include "runner/runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "base/test_paths.h"
#include "model/test_models.h"
#include "sampling/sampler.h"

namespace gannet::runner {
namespace {

std::string fixture(const char* name) { return source_dir() + "/tests/fixtures/models/" + name; }

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
                                           int32_t max_batch_tokens, int n_threads) {
    sched::SchedulerConfig sc;
    sc.max_batch_tokens = max_batch_tokens;
    sc.blocks.n_blocks = 256;
    sc.blocks.block_size = 16;
    auto sched = sched::Scheduler::create(sc);
    EXPECT_TRUE(sched.has_value());
    auto runner = Runner::create(m, {.n_blocks = 256, .block_size = 16, .n_threads = n_threads});
    EXPECT_TRUE(runner.has_value()) << runner.error().message();
    std::map<sched::SeqId, int> ids;
    std::map<int, std::vector<int32_t>> outs;
    for (int i : which) {
        auto id = sched->add_request({.prompt = prompt_for(i, static_cast<int32_t>(m.config().n_vocab)),
                                      .max_new_tokens = n_new});
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

TEST_P(RunnerModelTest, PagedForwardMatchesContiguousForward) {
    auto m = load_model(GetParam());
    ASSERT_TRUE(m.has_value()) << m.error().message();
    ThreadPool pool(2);
    const std::vector<int32_t> prompt = prompt_for(3, static_cast<int32_t>((*m)->config().n_vocab));
    std::vector<int32_t> pos(prompt.size());
    for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int32_t>(i);
    auto cache = (*m)->create_cache(64);
    ASSERT_TRUE(cache.has_value());
    auto ref = (*m)->forward(prompt, pos, *cache, model::LogitsMode::kLast, pool);
    ASSERT_TRUE(ref.has_value());
    std::vector<float> expected(ref->begin(), ref->end());
    auto runner = Runner::create(**m, {.n_blocks = 8, .block_size = 4, .n_threads = 2});
    ASSERT_TRUE(runner.has_value());
    std::vector<kvcache::BlockId> table = {5, 2, 7, 0, 1, 3, 4, 6};
    const model::BatchSeq seq{.tokens = prompt, .pos = 0, .block_table = table, .is_logits_needed = true};
    auto got = (*m)->forward_batch(std::span<const model::BatchSeq>(&seq, 1), (*runner)->storage(), pool);
    ASSERT_TRUE(got.has_value()) << got.error().message();
    ASSERT_EQ(got->size(), expected.size());
    // The paged attention sums in another order than kernels::attention. Float weights: elementwise
    // agreement. q4_0/q8_0 matmuls quantize activations to int8 per row, which can round that float
    // noise to a neighbouring step, so there the bound is on the relative L2 error.
    if (GetParam().find("-q") == std::string::npos) {
        for (size_t i = 0; i < expected.size(); ++i) {
            ASSERT_NEAR((*got)[i], expected[i], 1e-3f) << i;
        }
    } else {
        double err = 0.0, norm = 0.0;
        for (size_t i = 0; i < expected.size(); ++i) {
            err += ((*got)[i] - expected[i]) * ((*got)[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        EXPECT_LT(std::sqrt(err / norm), 2e-2) << "relative L2 error";
        EXPECT_EQ(sampling::argmax(*got), sampling::argmax(expected));
    }
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
        for (int i = 0; i < batch; ++i) which.push_back((i * 5 + batch) % 16);
        // A small token budget forces chunked prefill mixed with decodes.
        for (int32_t budget : {512, 7}) {
            auto got = decode(**m, which, n_new, budget, 2);
            for (int i : which) {
                EXPECT_EQ(got[i], alone[i]) << "prompt " << i << " batch " << batch << " budget " << budget;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Models, RunnerModelTest,
                         ::testing::Values("llama-f32", "llama-f16", "qwen2-bf16", "qwen3-f32", "gemma3-f32",
                                           "llama-q8_0", "llama-q4_0"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                             std::string n = param_info.param;
                             for (char& ch : n) if (ch == '-') ch = '_';
                             return n;
                         });

}  // namespace
}  // namespace gannet::runner
