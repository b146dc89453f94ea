#include "kvcache/block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace gannet::kvcache {
namespace {

TEST(BlockPoolTest, AllocateIsAllOrNothing) {
    BlockPool pool(/*n_blocks=*/4);
    ASSERT_TRUE(pool.allocate(3).has_value());

    Result<std::vector<BlockId>> r = pool.allocate(2);  // only 1 left

    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_EQ(pool.n_free(), 1);  // the failed call took nothing
}

TEST(BlockPoolTest, AllocatedBlocksAreDistinctWithRefcountOne) {
    BlockPool pool(/*n_blocks=*/8);
    std::vector<BlockId> blocks = pool.allocate(8).value();
    std::vector<BlockId> sorted = blocks;
    std::ranges::sort(sorted);
    EXPECT_EQ(std::ranges::adjacent_find(sorted), sorted.end());
    for (BlockId b : blocks) {
        EXPECT_EQ(pool.refcount(b), 1);
    }
    EXPECT_EQ(pool.n_free(), 0);
    EXPECT_EQ(pool.n_used(), 8);
}

TEST(BlockPoolTest, RetainedBlockIsFreedOnlyByTheLastRelease) {
    BlockPool pool(/*n_blocks=*/2);
    std::vector<BlockId> blocks = pool.allocate(1).value();
    pool.retain(blocks);
    EXPECT_EQ(pool.refcount(blocks[0]), 2);

    pool.release(blocks);
    EXPECT_EQ(pool.n_free(), 1);  // still held once

    pool.release(blocks);
    EXPECT_EQ(pool.n_free(), 2);
    EXPECT_EQ(pool.refcount(blocks[0]), 0);
}

TEST(BlockPoolTest, FreeListIsLifo) {
    BlockPool pool(/*n_blocks=*/4);
    std::vector<BlockId> blocks = pool.allocate(4).value();
    pool.release(blocks[1]);
    pool.release(blocks[3]);

    // The most recently freed block comes back first: its memory is the likeliest to be in cache.
    EXPECT_EQ(pool.allocate(1).value(), std::vector<BlockId>{blocks[3]});
    EXPECT_EQ(pool.allocate(1).value(), std::vector<BlockId>{blocks[1]});
}

TEST(BlockPoolTest, AllocateZeroTakesNothing) {
    BlockPool pool(/*n_blocks=*/1);
    EXPECT_TRUE(pool.allocate(0).value().empty());
    EXPECT_EQ(pool.n_free(), 1);
}

TEST(BlockPoolTest, ExhaustedMessageNamesNeedAndFree) {
    BlockPool pool(/*n_blocks=*/3);
    Result<std::vector<BlockId>> r = pool.allocate(5);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("need 5, 3 free of 3"), std::string::npos) << r.error().message();
}

TEST(BlockPoolDeathTest, DoubleReleaseIsABug) {
    BlockPool pool(/*n_blocks=*/1);
    std::vector<BlockId> blocks = pool.allocate(1).value();
    pool.release(blocks);
    EXPECT_DEATH(pool.release(blocks), "check failed");
}

TEST(BlockPoolDeathTest, RetainingAFreeBlockIsABug) {
    BlockPool pool(/*n_blocks=*/2);
    EXPECT_DEATH(pool.retain(BlockId{0}), "check failed");
}

TEST(BlockPoolDeathTest, OutOfRangeBlockIsABug) {
    BlockPool pool(/*n_blocks=*/2);
    EXPECT_DEATH(pool.release(BlockId{2}), "check failed");
    EXPECT_DEATH((void)pool.refcount(-1), "check failed");
}

}  // namespace
}  // namespace gannet::kvcache
