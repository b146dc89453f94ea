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

// Row, tile and block sizes per type for head_dim 64, block_size 16: f32 4 B/value, f16 2, bf16 2,
// q8_0 two 34-byte blocks per row, q4_0 two 18-byte blocks per row.
TEST(KvCacheLayoutTest, RowAndTileBytesPerType) {
    const struct {
        KvDType dtype;
        size_t row_bytes;
    } cases[] = {
        {KvDType::kF32, 256}, {KvDType::kF16, 128}, {KvDType::kBF16, 128}, {KvDType::kQ8_0, 68}, {KvDType::kQ4_0, 36}};
    for (const auto& c : cases) {
        const KvCacheLayout l{
            .n_blocks = 3, .n_layers = 2, .n_kv_heads = 2, .head_dim = 64, .block_size = 16, .dtype = c.dtype};
        SCOPED_TRACE(kv_dtype_name(c.dtype));
        ASSERT_TRUE(l.validate().ok());
        EXPECT_EQ(l.row_bytes(), c.row_bytes);
        EXPECT_EQ(l.tile_bytes(), 16 * c.row_bytes);
        EXPECT_EQ(l.block_bytes(), 2u * 2 * 2 * 16 * c.row_bytes);
        EXPECT_EQ(l.total_bytes(), 3 * l.block_bytes());
        // Slot s of a tile starts s rows in; K tiles of a layer come before its V tiles.
        EXPECT_EQ(l.k_offset(0, 0, 0, 5), 5 * c.row_bytes);
        EXPECT_EQ(l.k_offset(0, 0, 1, 0), l.tile_bytes());
        EXPECT_EQ(l.v_offset(0, 0, 0, 0), 2 * l.tile_bytes());
        EXPECT_EQ(l.k_offset(0, 1, 0, 0), 4 * l.tile_bytes());
        EXPECT_EQ(l.v_offset(2, 1, 1, 15), 2 * l.block_bytes() + 7 * l.tile_bytes() + 15 * c.row_bytes);
        EXPECT_EQ(l.v_offset(2, 1, 1, 15) + l.row_bytes(), l.total_bytes());
    }
}

TEST(KvCacheLayoutTest, EveryQuantizedRowIsItsOwnRange) {
    const KvCacheLayout l{
        .n_blocks = 2, .n_layers = 2, .n_kv_heads = 3, .head_dim = 32, .block_size = 4, .dtype = KvDType::kQ4_0};
    ASSERT_TRUE(l.validate().ok());
    std::vector<int> hits(l.total_bytes(), 0);
    for (BlockId b = 0; b < l.n_blocks; ++b) {
        for (int32_t layer = 0; layer < l.n_layers; ++layer) {
            for (int32_t h = 0; h < l.n_kv_heads; ++h) {
                for (int32_t s = 0; s < l.block_size; ++s) {
                    for (size_t off : {l.k_offset(b, layer, h, s), l.v_offset(b, layer, h, s)}) {
                        for (size_t i = 0; i < l.row_bytes(); ++i) {
                            ++hits[off + i];
                        }
                    }
                }
            }
        }
    }
    for (int n : hits) {
        ASSERT_EQ(n, 1);
    }
}

TEST(KvCacheLayoutTest, BlockTypesNeedHeadDimMultipleOf32) {
    for (KvDType d : {KvDType::kQ8_0, KvDType::kQ4_0}) {
        KvCacheLayout l = small_layout();  // head_dim 8
        l.dtype = d;
        const Status st = l.validate();
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(st.message().find("head_dim 8 is not a multiple of 32"), std::string::npos) << st.message();
        EXPECT_NE(st.message().find(kv_dtype_name(d)), std::string::npos) << st.message();
        l.head_dim = 96;
        EXPECT_TRUE(l.validate().ok());
    }
    KvCacheLayout l = small_layout();
    l.dtype = KvDType::kF16;
    EXPECT_TRUE(l.validate().ok());  // element types take any head_dim
    l.dtype = static_cast<KvDType>(99);
    EXPECT_EQ(l.validate().code(), ErrorCode::kInvalidArgument);
}

// What `gannet serve` sizes its default cache by: a byte budget. q8_0 stores 32 values in 34 bytes
// against f32's 128, so the same budget holds 128/34 = 3.76x the blocks (and tokens).
TEST(KvCacheLayoutTest, Q8BudgetHoldsAbout3_7TimesTheTokensOfF32) {
    KvCacheLayout l{.n_blocks = 1, .n_layers = 22, .n_kv_heads = 4, .head_dim = 64, .block_size = 16};
    const uint64_t budget = uint64_t{1} << 30;
    l.dtype = KvDType::kF32;
    const int64_t n_f32 = n_blocks_in_budget(l, budget);
    l.dtype = KvDType::kQ8_0;
    const int64_t n_q8 = n_blocks_in_budget(l, budget);
    l.dtype = KvDType::kQ4_0;
    const int64_t n_q4 = n_blocks_in_budget(l, budget);
    l.dtype = KvDType::kF16;
    const int64_t n_f16 = n_blocks_in_budget(l, budget);
    EXPECT_EQ(n_f32, static_cast<int64_t>(budget / (22 * 2 * 4 * 16 * 64 * 4)));
    EXPECT_NEAR(static_cast<double>(n_q8) / static_cast<double>(n_f32), 128.0 / 34.0, 0.01);
    EXPECT_NEAR(static_cast<double>(n_q4) / static_cast<double>(n_f32), 128.0 / 18.0, 0.01);
    EXPECT_NEAR(static_cast<double>(n_f16) / static_cast<double>(n_f32), 2.0, 0.01);
    l.n_layers = 1 << 20;
    EXPECT_EQ(n_blocks_in_budget(l, 1000), 0);
}

TEST(KvStorageTest, QuantizedStorageSizeAndBlockCopy) {
    const KvCacheLayout l{
        .n_blocks = 3, .n_layers = 1, .n_kv_heads = 1, .head_dim = 32, .block_size = 2, .dtype = KvDType::kQ8_0};
    KvStorage s = KvStorage::create(l).value();
    EXPECT_EQ(s.size_bytes(), 3u * 2 * 2 * 34);
    for (size_t i = 0; i < l.block_bytes(); ++i) {
        s.k(0, 0, 0)[i] = static_cast<std::byte>(i + 1);
    }
    const BlockCopy copy{.src = 0, .dst = 2};
    s.copy_blocks(std::span(&copy, 1));
    EXPECT_EQ(std::memcmp(s.k(0, 0, 0), s.k(2, 0, 0), l.block_bytes()), 0);
    EXPECT_EQ(s.v(2, 0, 0) + l.tile_bytes(), s.k(0, 0, 0) + 3 * l.block_bytes());  // block 2 ends the buffer
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
