#include "kvcache/kv_storage.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace gannet::kvcache {
namespace {

KvCacheLayout small_layout() {
    return {.n_blocks = 4, .n_layers = 2, .n_kv_heads = 3, .head_dim = 8, .block_size = 4, .dtype = KvDType::kF32};
}

TEST(KvCacheLayoutTest, OffsetsTileTheCacheWithoutOverlap) {
    const KvCacheLayout l = small_layout();
    ASSERT_TRUE(l.validate().ok());
    EXPECT_EQ(l.tile_bytes(), 4u * 8 * 4);
    EXPECT_EQ(l.block_bytes(), 2u * 2 * 3 * l.tile_bytes());
    EXPECT_EQ(l.total_bytes(), 4 * l.block_bytes());
    // Every (block, layer, K/V, head, slot) vector gets its own head_dim * 4 bytes, and together they cover it all.
    std::vector<int> hits(l.total_bytes() / (8 * 4), 0);
    for (BlockId b = 0; b < l.n_blocks; ++b) {
        for (int32_t layer = 0; layer < l.n_layers; ++layer) {
            for (int32_t h = 0; h < l.n_kv_heads; ++h) {
                for (int32_t s = 0; s < l.block_size; ++s) {
                    ++hits[l.k_offset(b, layer, h, s) / 32];
                    ++hits[l.v_offset(b, layer, h, s) / 32];
                    EXPECT_EQ(l.k_offset(b, layer, h, s) % 32, 0u);
                }
            }
        }
    }
    for (int n : hits) {
        ASSERT_EQ(n, 1);
    }
    // A block is one contiguous range: what makes copy-on-write a single memcpy.
    EXPECT_EQ(l.k_offset(1, 0, 0, 0), l.block_bytes());
}

TEST(KvCacheLayoutTest, ValidateNamesTheBadField) {
    KvCacheLayout l = small_layout();
    l.head_dim = 0;
    Status st = l.validate();
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("head_dim must be >= 1, got 0"), std::string::npos) << st.message();
}

TEST(KvCacheLayoutTest, ValidateRejectsOverflow) {
    KvCacheLayout l = small_layout();
    l.n_blocks = 1 << 30;
    l.n_layers = 1 << 20;
    l.head_dim = 1 << 20;
    EXPECT_EQ(l.validate().code(), ErrorCode::kInvalidArgument);
}

TEST(KvStorageTest, CreateRejectsABadLayout) {
    KvCacheLayout l = small_layout();
    l.n_kv_heads = -1;
    EXPECT_EQ(KvStorage::create(l).error().code(), ErrorCode::kInvalidArgument);
}

TEST(KvStorageTest, TilesAreAlignedAndZeroed) {
    KvStorage s = KvStorage::create(small_layout()).value();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s.k(0, 0, 0)) % 64, 0u);
    const float* v = reinterpret_cast<const float*>(s.v(3, 1, 2));
    for (int i = 0; i < 4 * 8; ++i) {
        EXPECT_EQ(v[i], 0.0f);
    }
}

TEST(KvStorageTest, CopyBlocksCopiesKVAndSummaryOfThatBlockOnly) {
    KvStorage s = KvStorage::create(small_layout()).value();
    const KvCacheLayout& l = s.layout();
    float* k = reinterpret_cast<float*>(s.k(1, 1, 2));
    k[5] = 3.5f;
    float* v = reinterpret_cast<float*>(s.v(1, 0, 0));
    v[0] = -1.0f;
    const std::vector<float> key(8, 2.0f);
    s.summaries().add_key(1, 1, 2, 0, key);

    const std::vector<BlockCopy> copies = {{1, 3}};
    s.copy_blocks(copies);

    EXPECT_EQ(reinterpret_cast<const float*>(s.k(3, 1, 2))[5], 3.5f);
    EXPECT_EQ(reinterpret_cast<const float*>(s.v(3, 0, 0))[0], -1.0f);
    EXPECT_EQ(s.summaries().at(3, 1, 2)[0], 2.0f);
    EXPECT_EQ(reinterpret_cast<const float*>(s.k(2, 1, 2))[5], 0.0f);  // neighbours untouched
    EXPECT_EQ(reinterpret_cast<const float*>(s.k(0, 1, 2))[5], 0.0f);
    EXPECT_EQ(s.size_bytes(), l.total_bytes());
}

TEST(KeySummariesTest, MinMaxStartsAfreshAtSlotZeroAndIsIdempotent) {
    KvCacheLayout l = small_layout();
    l.head_dim = 2;
    KeySummaries ks = KeySummaries::create(l).value();
    ks.add_key(2, 0, 1, 0, std::vector<float>{1.0f, -1.0f});
    ks.add_key(2, 0, 1, 1, std::vector<float>{3.0f, -5.0f});
    ks.add_key(2, 0, 1, 1, std::vector<float>{3.0f, -5.0f});  // a recomputed slot changes nothing
    std::span<const float> s = ks.at(2, 0, 1);
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s[0], 1.0f);  // min
    EXPECT_EQ(s[1], -5.0f);
    EXPECT_EQ(s[2], 3.0f);  // max
    EXPECT_EQ(s[3], -1.0f);

    // The block is reused by another sequence: slot 0 discards the stale summary.
    ks.add_key(2, 0, 1, 0, std::vector<float>{0.5f, 0.5f});
    EXPECT_EQ(ks.at(2, 0, 1)[0], 0.5f);
    EXPECT_EQ(ks.at(2, 0, 1)[2], 0.5f);
    EXPECT_EQ(ks.at(2, 1, 1)[0], 0.0f);  // other layers untouched
}

TEST(KeySummariesTest, NoneStoresNothing) {
    KvCacheLayout l = small_layout();
    l.key_summary = KeySummaryKind::kNone;
    KeySummaries ks = KeySummaries::create(l).value();
    EXPECT_TRUE(ks.data().empty());
    ks.add_key(0, 0, 0, 0, std::vector<float>(8, 1.0f));
    EXPECT_TRUE(ks.at(0, 0, 0).empty());
}

TEST(KeySummariesDeathTest, WrongKeyWidthIsABug) {
    KeySummaries ks = KeySummaries::create(small_layout()).value();
    EXPECT_DEATH(ks.add_key(0, 0, 0, 0, std::vector<float>(3, 1.0f)), "check failed");
}

}  // namespace
}  // namespace gannet::kvcache
