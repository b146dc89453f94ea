#include "kvcache/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace gannet::kvcache {
namespace {

std::vector<TokenId> iota_tokens(int32_t n, TokenId first) {
    std::vector<TokenId> t(static_cast<size_t>(n));
    std::iota(t.begin(), t.end(), first);
    return t;
}

BlockManager make(int32_t n_blocks, int32_t block_size, PrefixCaching mode = PrefixCaching::kOn) {
    return BlockManager::create({.n_blocks = n_blocks, .block_size = block_size, .prefix_caching = mode}).value();
}

// Starts `tokens` in a fresh table, as if fully computed by the step that follows.
BlockTable start_and_compute(BlockManager& m, const std::vector<TokenId>& tokens, std::vector<BlockCopy>& copies) {
    BlockTable t(m.block_size());
    Result<int32_t> r = m.start(t, tokens, /*n_reserve=*/0, copies);
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    m.commit(t, tokens, static_cast<int32_t>(tokens.size()));
    m.finish_step();
    return t;
}

TEST(BlockManagerTest, CreateRejectsBadConfig) {
    EXPECT_EQ(BlockManager::create({.n_blocks = 0}).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(BlockManager::create({.n_blocks = 4, .block_size = 0}).error().code(), ErrorCode::kInvalidArgument);
}

TEST(BlockManagerTest, StartReservesBlocksForEveryToken) {
    BlockManager m = make(8, 16);
    BlockTable t(16);
    std::vector<BlockCopy> copies;
    EXPECT_EQ(m.start(t, iota_tokens(40, 0), 0, copies).value(), 0);
    EXPECT_EQ(t.n_tokens(), 40);
    EXPECT_EQ(t.n_blocks(), 3);
    EXPECT_EQ(m.n_free(), 5);
    EXPECT_TRUE(copies.empty());
    EXPECT_EQ(t.block_for_pos(39), t.blocks()[2]);
    EXPECT_EQ(t.slot_for_pos(39), 7);
}

TEST(BlockManagerTest, SharedPromptHitsThePrefixCache) {
    BlockManager m = make(8, 16);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> system = iota_tokens(32, 100);
    std::vector<TokenId> a = system;
    a.insert(a.end(), {1, 2, 3, 4, 5, 6, 7, 8});
    BlockTable ta = start_and_compute(m, a, copies);

    std::vector<TokenId> b = system;
    b.insert(b.end(), {9, 9, 9});
    EXPECT_EQ(m.n_cached_prefix_tokens(b), 32);
    BlockTable tb(16);
    EXPECT_EQ(m.start(tb, b, 0, copies).value(), 32);  // two full blocks need no compute

    EXPECT_EQ(tb.blocks()[0], ta.blocks()[0]);
    EXPECT_EQ(tb.blocks()[1], ta.blocks()[1]);
    EXPECT_NE(tb.blocks()[2], ta.blocks()[2]);  // the partial block is never shared
    EXPECT_EQ(m.refcount(ta.blocks()[0]), 3);   // a, b and the cache
    EXPECT_TRUE(copies.empty());
    std::vector<const BlockTable*> live = {&ta, &tb};
    EXPECT_TRUE(m.verify(live).ok());
}

TEST(BlockManagerTest, UncomputedBlocksAreNotShared) {
    BlockManager m = make(8, 4);
    std::vector<BlockCopy> copies;
    BlockTable ta(4);
    ASSERT_TRUE(m.start(ta, iota_tokens(9, 0), 0, copies).has_value());
    m.commit(ta, iota_tokens(9, 0), 5);  // only block 0 is full and computed
    BlockTable tb(4);
    EXPECT_EQ(m.start(tb, iota_tokens(9, 0), 0, copies).value(), 4);
    EXPECT_EQ(m.n_cached(), 1);
}

TEST(BlockManagerTest, FullyCachedPromptCopiesTheLastBlockAtTheDivergencePoint) {
    BlockManager m = make(8, 16);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> prompt = iota_tokens(32, 0);
    BlockTable ta = start_and_compute(m, prompt, copies);
    const BlockId a0 = ta.blocks()[0];
    const BlockId a1 = ta.blocks()[1];
    m.free(ta);

    BlockTable tb(16);
    // The last token is recomputed for its logits, and its slot is in a shared cached block.
    EXPECT_EQ(m.start(tb, prompt, 0, copies).value(), 31);
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].src, a1);
    EXPECT_EQ(copies[0].dst, tb.blocks()[1]);
    EXPECT_NE(tb.blocks()[1], a1);
    EXPECT_EQ(tb.blocks()[0], a0);
    EXPECT_EQ(m.refcount(a1), 2);  // the cache and the pending copy
    std::vector<const BlockTable*> live = {&tb};
    EXPECT_TRUE(m.verify(live).ok());

    m.finish_step();
    EXPECT_EQ(m.refcount(a1), 1);
    EXPECT_TRUE(m.is_evictable(a1));
    m.commit(tb, prompt, 32);  // the copy duplicates a cached hash: it stays private
    EXPECT_FALSE(m.is_cached(tb.blocks()[1]));
    EXPECT_TRUE(m.verify(live).ok());
}

TEST(BlockManagerTest, ForkThenAppendCopiesTheSharedPartialBlock) {
    BlockManager m = make(8, 16);
    std::vector<BlockCopy> copies;
    BlockTable parent = start_and_compute(m, iota_tokens(20, 0), copies);
    BlockTable child = m.fork(parent);
    EXPECT_EQ(m.refcount(parent.blocks()[1]), 2);

    ASSERT_TRUE(m.append_slots(child, 1, copies).ok());
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0], (BlockCopy{parent.blocks()[1], child.blocks()[1]}));
    EXPECT_EQ(child.blocks()[0], parent.blocks()[0]);  // the full block stays shared
    EXPECT_EQ(child.n_tokens(), 21);

    // The parent's block is now its own (the pending copy source does not count): no second copy.
    ASSERT_TRUE(m.append_slots(parent, 1, copies).ok());
    EXPECT_EQ(copies.size(), 1u);
    m.finish_step();
    std::vector<const BlockTable*> live = {&parent, &child};
    EXPECT_TRUE(m.verify(live).ok());
}

TEST(BlockManagerTest, AppendAfterAFullSharedBlockNeedsNoCopy) {
    BlockManager m = make(8, 4);
    std::vector<BlockCopy> copies;
    BlockTable parent = start_and_compute(m, iota_tokens(8, 0), copies);
    BlockTable child = m.fork(parent);
    ASSERT_TRUE(m.append_slots(child, 1, copies).ok());
    EXPECT_TRUE(copies.empty());
    EXPECT_EQ(child.n_blocks(), 3);
}

TEST(BlockManagerTest, EvictionTakesTheLeastRecentlyReleasedBlock) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> x = {1, 1, 1, 1, 7}, y = {2, 2, 2, 2, 7}, z = {3, 3, 3, 3, 7};
    BlockTable tx = start_and_compute(m, x, copies);
    m.free(tx);
    BlockTable ty = start_and_compute(m, y, copies);
    m.free(ty);
    BlockTable tz = start_and_compute(m, z, copies);
    m.free(tz);
    // Touch x: a hit takes it out of the LRU, the release puts it back as most recent.
    BlockTable tx2(4);
    ASSERT_EQ(m.start(tx2, x, 0, copies).value(), 4);
    m.free(tx2);
    EXPECT_EQ(m.n_cached(), 3);
    EXPECT_EQ(m.n_free(), 1);

    BlockTable big(4);
    ASSERT_EQ(m.start(big, iota_tokens(8, 50), 0, copies).value(), 0);  // 2 blocks: evicts 1
    EXPECT_EQ(m.n_evictions(), 1);
    EXPECT_EQ(m.n_cached_prefix_tokens(y), 0);  // y was released longest ago
    EXPECT_EQ(m.n_cached_prefix_tokens(z), 4);
    EXPECT_EQ(m.n_cached_prefix_tokens(x), 4);

    ASSERT_TRUE(m.append_slots(big, 4, copies).ok());  // one more block: evicts z
    EXPECT_EQ(m.n_cached_prefix_tokens(z), 0);
    EXPECT_EQ(m.n_cached_prefix_tokens(x), 4);
    std::vector<const BlockTable*> live = {&big};
    EXPECT_TRUE(m.verify(live).ok());
}

TEST(BlockManagerTest, FreeReleasesTheTailFirstSoChainsStayReachable) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> a = iota_tokens(13, 0);  // 3 full blocks + 1 token
    BlockTable ta = start_and_compute(m, a, copies);
    m.free(ta);
    EXPECT_EQ(m.n_cached(), 3);

    BlockTable other(4);
    ASSERT_TRUE(
        m.start(other, std::vector<TokenId>{9, 9, 9, 9, 9}, 0, copies).has_value());  // 2 blocks: 1 free + 1 evicted
    EXPECT_EQ(m.n_cached_prefix_tokens(a), 8);                                        // the head of the chain survives
}

TEST(BlockManagerTest, StartIsAllOrNothing) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    BlockTable ta = start_and_compute(m, std::vector<TokenId>{5, 5, 5, 5, 6}, copies);  // 2 blocks, first cached
    m.free(ta);
    BlockTable hold(4);
    ASSERT_TRUE(m.start(hold, iota_tokens(5, 20), 0, copies).has_value());  // 2 free blocks
    EXPECT_EQ(m.n_available(), 2);

    std::vector<TokenId> b = iota_tokens(13, 30);
    BlockTable tb(4);
    Result<int32_t> r = m.start(tb, b, 0, copies);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_TRUE(tb.empty());
    EXPECT_EQ(m.n_available(), 2);
    std::vector<const BlockTable*> live = {&hold};
    EXPECT_TRUE(m.verify(live).ok());
}

TEST(BlockManagerTest, ReserveKeepsBlocksBack) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    BlockTable t(4);
    EXPECT_FALSE(m.start(t, iota_tokens(12, 0), /*n_reserve=*/2, copies).has_value());
    EXPECT_TRUE(m.start(t, iota_tokens(12, 0), /*n_reserve=*/1, copies).has_value());
}

TEST(BlockManagerTest, HitsOnEvictableBlocksDoNotCountAsAvailable) {
    BlockManager m = make(3, 4);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> p = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    BlockTable ta = start_and_compute(m, p, copies);
    m.free(ta);  // 2 cached evictable + 1 free
    BlockTable tb(4);
    // p hits both cached blocks and needs 1 new one; reserving 1 more would need a 4th block.
    EXPECT_FALSE(m.start(tb, p, /*n_reserve=*/1, copies).has_value());
    EXPECT_EQ(m.start(tb, p, /*n_reserve=*/0, copies).value(), 8);
}

TEST(BlockManagerTest, DuplicateComputedBlocksStayPrivate) {
    BlockManager m = make(8, 4);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> p = {1, 2, 3, 4, 5};
    BlockTable ta(4), tb(4);
    ASSERT_EQ(m.start(ta, p, 0, copies).value(), 0);
    ASSERT_EQ(m.start(tb, p, 0, copies).value(), 0);  // neither is computed yet: no hit
    m.commit(ta, p, 5);
    m.commit(tb, p, 5);
    EXPECT_TRUE(m.is_cached(ta.blocks()[0]));
    EXPECT_FALSE(m.is_cached(tb.blocks()[0]));
    m.free(tb);
    EXPECT_EQ(m.n_free(), 6);  // tb's two blocks went straight back to the free list
}

TEST(BlockManagerTest, PrefixCachingOffNeverShares) {
    BlockManager m = make(8, 4, PrefixCaching::kOff);
    std::vector<BlockCopy> copies;
    const std::vector<TokenId> p = iota_tokens(9, 0);
    BlockTable ta = start_and_compute(m, p, copies);
    m.free(ta);
    EXPECT_EQ(m.n_cached(), 0);
    EXPECT_EQ(m.n_free(), 8);
    BlockTable tb(4);
    EXPECT_EQ(m.start(tb, p, 0, copies).value(), 0);
}

TEST(BlockManagerTest, VerifyReportsALeakedTable) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    BlockTable t = start_and_compute(m, iota_tokens(5, 0), copies);
    Status st = m.verify({});  // t not listed: its blocks look leaked
    EXPECT_EQ(st.code(), ErrorCode::kInternal);
    EXPECT_NE(st.message().find("refcount"), std::string::npos) << st.message();
}

TEST(BlockManagerDeathTest, StartIntoAUsedTableIsABug) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    BlockTable t = start_and_compute(m, iota_tokens(5, 0), copies);
    EXPECT_DEATH((void)m.start(t, iota_tokens(5, 0), 0, copies), "check failed");
}

TEST(BlockManagerDeathTest, CommitPastTheReservedSlotsIsABug) {
    BlockManager m = make(4, 4);
    std::vector<BlockCopy> copies;
    BlockTable t(4);
    ASSERT_TRUE(m.start(t, iota_tokens(5, 0), 0, copies).has_value());
    EXPECT_DEATH(m.commit(t, iota_tokens(9, 0), 9), "check failed");
}

}  // namespace
}  // namespace gannet::kvcache
