// The exp-free top-k block selection (block_select.h): both rules (the deployed kernels' local
// block inside the k, transformers' top-k plus the local block), the ordering contract (by score,
// then forced blocks, own block last, -1 after), and the ranges the attention walks.
#include "model/block_select.h"

#include <gtest/gtest.h>

#include <vector>

namespace gannet::model {
namespace {

std::vector<int32_t> pick(const std::vector<float>& scores, int32_t own, const SelectRule& rule) {
    std::vector<int32_t> out(static_cast<size_t>(rule.max_selected()));
    std::vector<int32_t> scratch(scores.size());
    const int32_t n = select_top_blocks(scores.data(), own, rule, scratch.data(), out);
    for (int32_t i = n; i < static_cast<int32_t>(out.size()); ++i) {
        EXPECT_EQ(out[static_cast<size_t>(i)], -1);
    }
    out.resize(static_cast<size_t>(n));
    return out;
}

TEST(BlockSelect, LocalInsideTopkKeepsKBlocksWithOwnLast) {
    //                         0    1    2    3    4    5    6 (own)
    const std::vector<float> s = {0.5f, 9.0f, 1.0f, 7.0f, 3.0f, 8.0f, -100.0f};
    const SelectRule r{.topk = 4, .init_blocks = 0, .local_blocks = 1, .is_local_in_topk = true};
    EXPECT_EQ(pick(s, 6, r), (std::vector<int32_t>{1, 5, 3, 6}));  // 3 by score, then own
}

TEST(BlockSelect, TransformersRuleIsTopkOverAllPlusOwn) {
    const std::vector<float> low_own = {0.5f, 9.0f, 1.0f, 7.0f, 3.0f, 8.0f, -100.0f};
    const SelectRule r{.topk = 4, .init_blocks = 0, .local_blocks = 1, .is_local_in_topk = false};
    EXPECT_EQ(pick(low_own, 6, r), (std::vector<int32_t>{1, 5, 3, 4, 6}));  // k + 1 blocks
    const std::vector<float> high_own = {0.5f, 9.0f, 1.0f, 7.0f, 3.0f, 8.0f, 100.0f};
    EXPECT_EQ(pick(high_own, 6, r), (std::vector<int32_t>{1, 5, 3, 6}));  // own took a slot
}

TEST(BlockSelect, InitAndLocalWindowsAreForcedTiesGoToTheLowerId) {
    const std::vector<float> s = {0.0f, 2.0f, 2.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    const SelectRule r{.topk = 5, .init_blocks = 1, .local_blocks = 2, .is_local_in_topk = true};
    EXPECT_EQ(pick(s, 7, r), (std::vector<int32_t>{1, 2, 0, 6, 7}));
}

TEST(BlockSelect, FewBlocksAreAllKept) {
    const std::vector<float> s = {3.0f, 1.0f, 2.0f};
    EXPECT_EQ(pick(s, 2, quest_rule(16)), (std::vector<int32_t>{0, 1, 2}));
    const SelectRule hf{.topk = 16, .init_blocks = 0, .local_blocks = 1, .is_local_in_topk = false};
    EXPECT_EQ(pick(s, 2, hf), (std::vector<int32_t>{0, 1, 2}));
}

TEST(BlockSelect, RangesAreAscendingAndClippedAtTheQuery) {
    const std::vector<int32_t> ids = {5, 1, 6, -1, -1};
    std::vector<int32_t> sort(ids.size());
    std::vector<int64_t> ranges(2 * ids.size());
    const int32_t n = selection_ranges(ids, 128, 6 * 128 + 9, sort.data(), ranges.data());
    ASSERT_EQ(n, 3);
    EXPECT_EQ(std::vector<int64_t>(ranges.begin(), ranges.begin() + 6),
              (std::vector<int64_t>{128, 256, 640, 768, 768, 778}));
}

}  // namespace
}  // namespace gannet::model
