// Runner::run_reference / commit_reference (MarginGate's verifier) over a real tiny model: the
// reference recomputes the last token alone without touching what run() wrote, and commit_reference
// replaces that position's K/V, in every layer and head, with the reference's; nothing else of the
// block changes. Label slow: it loads a model file.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/test_paths.h"
#include "runner/runner.h"

namespace gannet::runner {
namespace {

constexpr int32_t kBlockSize = 4;

// Every K and V row of `slot` in `block`, over all layers and kv heads, concatenated.
std::vector<std::byte> rows_at(const kvcache::KvStorage& kv, kvcache::BlockId block, int32_t slot) {
    const kvcache::KvCacheLayout& lay = kv.layout();
    std::vector<std::byte> out;
    for (int32_t l = 0; l < lay.n_layers; ++l) {
        for (int32_t h = 0; h < lay.n_kv_heads; ++h) {
            for (const std::byte* tile : {kv.k(block, l, h), kv.v(block, l, h)}) {
                const std::byte* row = tile + static_cast<size_t>(slot) * lay.row_bytes();
                out.insert(out.end(), row, row + lay.row_bytes());
            }
        }
    }
    return out;
}

// A batched column that drifted: large values in every layer's K and V row of `slot` (f32 cache).
void scribble(kvcache::KvStorage& kv, kvcache::BlockId block, int32_t slot) {
    const kvcache::KvCacheLayout& lay = kv.layout();
    for (int32_t l = 0; l < lay.n_layers; ++l) {
        for (int32_t h = 0; h < lay.n_kv_heads; ++h) {
            for (std::byte* tile : {kv.k(block, l, h), kv.v(block, l, h)}) {
                float* row = reinterpret_cast<float*>(tile + static_cast<size_t>(slot) * lay.row_bytes());
                for (int32_t i = 0; i < lay.head_dim; ++i) {
                    row[i] = 40.0f + static_cast<float>(i);
                }
            }
        }
    }
}

TEST(ReferencePathTest, RecomputesAloneAndCommitReplacesThePositionsKv) {
    auto m = model::Model::load(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    auto r = Runner::create(**m, {.n_blocks = 8, .block_size = kBlockSize});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    Runner& runner = **r;
    const size_t n_vocab = static_cast<size_t>(runner.n_vocab());
    // Six tokens: positions 0-3 in block 5, 4-5 in block 2; the last token (pos 5) is what is verified.
    const std::vector<int32_t> tokens = {1, 7, 9, 20, 4, 11};
    const std::vector<kvcache::BlockId> table = {5, 2};
    sched::SchedulerOutput out;
    out.seqs.push_back({.seq_id = 1, .tokens = tokens, .pos = 0, .block_table = table, .is_logits_needed = true});
    auto fast = runner.run(out);
    ASSERT_TRUE(fast.has_value()) << fast.error().to_string();
    const std::vector<float> fast_logits(fast->begin(), fast->end());
    const std::vector<std::byte> clean = rows_at(runner.storage(), 2, 1);
    const std::vector<std::byte> before = rows_at(runner.storage(), 2, 0);

    scribble(runner.storage(), 2, 1);
    const std::vector<std::byte> drifted = rows_at(runner.storage(), 2, 1);
    ASSERT_NE(drifted, clean);

    auto ref = runner.run_reference(out.seqs[0]);
    ASSERT_TRUE(ref.has_value()) << ref.error().to_string();
    ASSERT_EQ(ref->size(), n_vocab);
    // The CPU forward is row-independent, so the lone token gives the batched logits bit for bit.
    EXPECT_EQ(0, std::memcmp(ref->data(), fast_logits.data(), n_vocab * sizeof(float)));
    EXPECT_EQ(rows_at(runner.storage(), 2, 1), drifted) << "run_reference must hold its K/V aside";

    ASSERT_TRUE(runner.commit_reference().ok());
    EXPECT_EQ(rows_at(runner.storage(), 2, 1), clean) << "the drifted column survived the override";
    EXPECT_EQ(rows_at(runner.storage(), 2, 0), before);
    // Nothing pending any more.
    Status again = runner.commit_reference();
    EXPECT_EQ(again.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(again.message().find("without a pending run_reference"), std::string::npos) << again.message();
}

TEST(ReferencePathTest, ANewStepDropsAPendingReference) {
    auto m = model::Model::load(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    auto r = Runner::create(**m, {.n_blocks = 4, .block_size = kBlockSize});
    ASSERT_TRUE(r.has_value());
    const std::vector<int32_t> tokens = {3, 5};
    const std::vector<kvcache::BlockId> table = {0};
    sched::SchedulerOutput out;
    out.seqs.push_back({.seq_id = 1, .tokens = tokens, .pos = 0, .block_table = table, .is_logits_needed = true});
    ASSERT_TRUE((*r)->run(out).has_value());
    ASSERT_TRUE((*r)->run_reference(out.seqs[0]).has_value());
    ASSERT_TRUE((*r)->run(sched::SchedulerOutput{}).has_value());
    EXPECT_EQ((*r)->commit_reference().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE((*r)->check_reference_path().ok());
    EXPECT_TRUE((*r)->is_batch_invariant());
}

}  // namespace
}  // namespace gannet::runner
