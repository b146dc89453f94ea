#include "kvcache/prefix_cache.h"

#include <gtest/gtest.h>

#include <vector>

namespace gannet::kvcache {
namespace {

const std::vector<TokenId> kA = {1, 2, 3, 4};
const std::vector<TokenId> kB = {5, 6, 7, 8};

TEST(PrefixCacheTest, ChainHashDependsOnParentAndEveryToken) {
    const uint64_t root = PrefixCache(1, 4).root_hash();
    const uint64_t h = PrefixCache::chain_hash(root, kA);
    EXPECT_EQ(h, PrefixCache::chain_hash(root, kA));
    EXPECT_NE(h, PrefixCache::chain_hash(root + 1, kA));
    for (size_t i = 0; i < kA.size(); ++i) {
        std::vector<TokenId> t = kA;
        t[i] += 1;
        EXPECT_NE(h, PrefixCache::chain_hash(root, t)) << "token " << i;
    }
    // Same tokens in another position of the chain give another key.
    EXPECT_NE(PrefixCache::chain_hash(h, kB), PrefixCache::chain_hash(root, kB));
}

TEST(PrefixCacheTest, SeedChangesTheRoot) {
    EXPECT_NE(PrefixCache(1, 4, /*hash_seed=*/1).root_hash(), PrefixCache(1, 4, /*hash_seed=*/2).root_hash());
}

TEST(PrefixCacheTest, FindReturnsTheInsertedBlock) {
    PrefixCache cache(/*n_blocks=*/4, /*block_size=*/4);
    const uint64_t h = PrefixCache::chain_hash(cache.root_hash(), kA);
    ASSERT_TRUE(cache.insert(2, h, cache.root_hash(), kA));
    EXPECT_EQ(cache.find(h, cache.root_hash(), kA), 2);
    EXPECT_TRUE(cache.is_cached(2));
    EXPECT_EQ(cache.n_cached(), 1);
}

TEST(PrefixCacheTest, FindRejectsAHashCollision) {
    PrefixCache cache(/*n_blocks=*/4, /*block_size=*/4);
    const uint64_t h = PrefixCache::chain_hash(cache.root_hash(), kA);
    ASSERT_TRUE(cache.insert(0, h, cache.root_hash(), kA));
    // Pretend kB hashed to h: the stored tokens and parent disagree, so it must not hit.
    EXPECT_EQ(cache.find(h, cache.root_hash(), kB), kNoBlock);
    EXPECT_EQ(cache.find(h, cache.root_hash() + 1, kA), kNoBlock);
}

TEST(PrefixCacheTest, SecondInsertOfAHashKeepsTheFirstBlock) {
    PrefixCache cache(/*n_blocks=*/4, /*block_size=*/4);
    const uint64_t h = PrefixCache::chain_hash(cache.root_hash(), kA);
    ASSERT_TRUE(cache.insert(0, h, cache.root_hash(), kA));
    EXPECT_FALSE(cache.insert(1, h, cache.root_hash(), kA));
    EXPECT_FALSE(cache.is_cached(1));
    EXPECT_EQ(cache.find(h, cache.root_hash(), kA), 0);
}

TEST(PrefixCacheTest, LruOrderIsReleaseOrder) {
    PrefixCache cache(/*n_blocks=*/4, /*block_size=*/4);
    for (BlockId b = 0; b < 3; ++b) {
        std::vector<TokenId> t = {b, b, b, b};
        ASSERT_TRUE(cache.insert(b, PrefixCache::chain_hash(cache.root_hash(), t), cache.root_hash(), t));
    }
    cache.mark_unreferenced(2);
    cache.mark_unreferenced(0);
    cache.mark_unreferenced(1);
    EXPECT_EQ(cache.lru(), 2);
    EXPECT_EQ(cache.n_evictable(), 3);

    cache.mark_referenced(2);  // reused: leaves the LRU
    EXPECT_EQ(cache.lru(), 0);
    cache.mark_unreferenced(2);  // released again: now the most recent
    cache.mark_referenced(0);
    cache.mark_referenced(1);
    EXPECT_EQ(cache.lru(), 2);
    cache.mark_referenced(2);
    EXPECT_EQ(cache.lru(), kNoBlock);
    EXPECT_EQ(cache.n_evictable(), 0);
}

TEST(PrefixCacheTest, EraseLeavesIndexAndLru) {
    PrefixCache cache(/*n_blocks=*/2, /*block_size=*/4);
    const uint64_t h = PrefixCache::chain_hash(cache.root_hash(), kA);
    ASSERT_TRUE(cache.insert(1, h, cache.root_hash(), kA));
    cache.mark_unreferenced(1);
    cache.erase(1);
    EXPECT_FALSE(cache.is_cached(1));
    EXPECT_EQ(cache.lru(), kNoBlock);
    EXPECT_EQ(cache.n_evictable(), 0);
    EXPECT_EQ(cache.find(h, cache.root_hash(), kA), kNoBlock);
    EXPECT_TRUE(cache.insert(0, h, cache.root_hash(), kA));  // the hash is free again
}

TEST(PrefixCacheDeathTest, MisuseIsABug) {
    PrefixCache cache(/*n_blocks=*/2, /*block_size=*/4);
    EXPECT_DEATH(cache.mark_unreferenced(0), "check failed");  // not cached
    EXPECT_DEATH(cache.erase(0), "check failed");
    EXPECT_DEATH((void)cache.find(0, 0, std::vector<TokenId>{1, 2}), "check failed");  // not a full block
}

}  // namespace
}  // namespace gannet::kvcache
