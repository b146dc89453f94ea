#include "tensor/quant_k.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/half.h"
#include "tensor/quant.h"

// Each test builds one super-block by hand, sets a few scales and quant bits at positions worked
// out from ggml's layout, and checks those elements (and untouched neighbours) against values
// computed by hand in the comments.

namespace gannet::tensor {
namespace {

constexpr uint16_t kHalfOne = 0x3c00;      // 1.0
constexpr uint16_t kHalfHalf = 0x3800;     // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;  // 0.25

template <typename Block>
std::vector<float> decode(DType dtype, const Block& b) {
    std::vector<float> y(kQK_K);
    EXPECT_TRUE(dequantize_row(dtype, &b, y.data(), kQK_K).ok());
    return y;
}

TEST(QuantKTest, Q2_KDecodesHandBuiltBlock) {
    BlockQ2_K b{};
    b.d = kHalfOne;
    b.dmin = kHalfQuarter;
    b.scales[0] = 0x21;  // sub-block 0 (elements 0..15): scale 1, min 2
    b.scales[1] = 0x03;  // elements 16..31: scale 3, min 0
    b.scales[2] = 0x11;  // elements 32..47: scale 1, min 1
    b.scales[8] = 0x45;  // elements 128..143: scale 5, min 4
    b.qs[0] = 0xe7;      // 2-bit fields 3, 1, 2, 3 for elements 0, 32, 64, 96
    b.qs[16] = 0x02;     // element 16: q = 2
    b.qs[32] = 0x01;     // second half starts at qs[32]: element 128, q = 1
    const std::vector<float> y = decode(DType::kQ2_K, b);
    EXPECT_EQ(y[0], 2.5f);    // 1 * 1 * 3 - 0.25 * 2
    EXPECT_EQ(y[1], -0.5f);   // q = 0: only the min
    EXPECT_EQ(y[16], 6.0f);   // 3 * 2
    EXPECT_EQ(y[32], 0.75f);  // 1 * 1 - 0.25 * 1
    EXPECT_EQ(y[64], 0.0f);   // sub-block 4 has scale 0, min 0
    EXPECT_EQ(y[128], 4.0f);  // 5 * 1 - 0.25 * 4
    EXPECT_EQ(y[129], -1.0f);
}

TEST(QuantKTest, Q3_KDecodesHandBuiltBlock) {
    BlockQ3_K b{};
    b.d = kHalfHalf;
    // Sub-block 0 scale 35 (= 3 after the -32 bias): low nibble in scales[0], top bits 0b10 in scales[8].
    b.scales[0] = 0x03;
    b.scales[8] = 0x02;
    // Sub-block 9 scale 30 (= -2): low nibble 0xe in scales[1] high nibble, top bits 0b01 in
    // scales[9 % 4 + 8] at bit 2 * (9 / 4) = 4.
    b.scales[1] = 0xe0;
    b.scales[9] = 0x10;
    b.qs[0] = 0x02;      // element 0: low bits 2
    b.hmask[0] = 0x01;   // element 0: high bit set -> no -4
    b.qs[48] = 0x03;     // element 144 = 128 + 16: qs[32 + 16], low bits 3
    b.hmask[16] = 0x10;  // element 144: bit 144 / 32 = 4 of hmask[144 % 32]
    const std::vector<float> y = decode(DType::kQ3_K, b);
    EXPECT_EQ(y[0], 3.0f);     // 0.5 * 3 * 2
    EXPECT_EQ(y[1], -6.0f);    // 0.5 * 3 * (0 - 4)
    EXPECT_EQ(y[144], -3.0f);  // 0.5 * -2 * 3
    EXPECT_EQ(y[145], 4.0f);   // 0.5 * -2 * (0 - 4)
    EXPECT_EQ(y[32], 64.0f);   // untouched sub-block: scale 0 - 32, q = 0 - 4 -> 0.5 * -32 * -4
}

// Sub-block 0: scale 2, min 3. Sub-block 5: scale 21 = 0b01'0101, min 42 = 0b10'1010, split
// into low nibbles in scales[9] and top 2 bits in the spare bits 6..7 of scales[1] and scales[5].
template <typename Block>
void set_k4_scales(Block* b) {
    b->scales[0] = 2;
    b->scales[4] = 3;
    b->scales[9] = 0xa5;
    b->scales[1] = 0x40;
    b->scales[5] = 0x80;
}

TEST(QuantKTest, PackedK4ScalesUnpack) {
    BlockQ4_K b{};
    set_k4_scales(&b);
    uint8_t sc = 0;
    uint8_t m = 0;
    scale_min_k4(0, b.scales, &sc, &m);
    EXPECT_EQ(sc, 2);
    EXPECT_EQ(m, 3);
    scale_min_k4(1, b.scales, &sc, &m);  // bits 6..7 of scales[1]/[5] belong to sub-block 5
    EXPECT_EQ(sc, 0);
    EXPECT_EQ(m, 0);
    scale_min_k4(5, b.scales, &sc, &m);
    EXPECT_EQ(sc, 21);
    EXPECT_EQ(m, 42);
}

TEST(QuantKTest, Q4_KDecodesHandBuiltBlock) {
    BlockQ4_K b{};
    b.d = kHalfOne;
    b.dmin = kHalfHalf;
    set_k4_scales(&b);
    b.qs[0] = 0x07;   // element 0 (low nibble); element 32 is the high nibble (0)
    b.qs[64] = 0x90;  // element 160 = chunk 2, second half: high nibble of qs[64]
    const std::vector<float> y = decode(DType::kQ4_K, b);
    EXPECT_EQ(y[0], 12.5f);  // 1 * 2 * 7 - 0.5 * 3
    EXPECT_EQ(y[1], -1.5f);
    EXPECT_EQ(y[32], 0.0f);     // sub-block 1: scale 0, min 0
    EXPECT_EQ(y[160], 168.0f);  // 21 * 9 - 0.5 * 42
    EXPECT_EQ(y[161], -21.0f);
    EXPECT_EQ(y[128], 0.0f);  // sub-block 4 (low nibble of qs[64] = 0, scale 0)
}

TEST(QuantKTest, Q5_KAddsTheHighBit) {
    BlockQ5_K b{};
    b.d = kHalfOne;
    b.dmin = kHalfHalf;
    set_k4_scales(&b);
    b.qs[0] = 0x07;
    b.qs[64] = 0x90;
    b.qh[0] = 0x20;  // bit 160 / 32 = 5 of qh[160 % 32]: element 160 gets +16
    b.qh[1] = 0x01;  // bit 0 of qh[1]: element 1 gets +16
    const std::vector<float> y = decode(DType::kQ5_K, b);
    EXPECT_EQ(y[0], 12.5f);     // as Q4_K
    EXPECT_EQ(y[1], 30.5f);     // 2 * 16 - 1.5
    EXPECT_EQ(y[160], 504.0f);  // 21 * 25 - 21
    EXPECT_EQ(y[161], -21.0f);
}

TEST(QuantKTest, Q6_KDecodesHandBuiltBlock) {
    BlockQ6_K b{};
    b.d = kHalfHalf;
    b.scales[0] = 2;
    b.scales[5] = -3;
    b.scales[15] = 1;
    b.ql[0] = 0x0f;    // element 0: low 4 bits 15
    b.qh[0] = 0x02;    // element 0: top bits 2 -> q = 47
    b.ql[16] = 0x30;   // element 80 = quarter 2, l = 16: high nibble of ql[16]
    b.ql[127] = 0xa0;  // element 255 = half 1, quarter 3, l = 31: high nibble of ql[64 + 32 + 31]
    b.qh[63] = 0xc0;   // element 255: bits 6..7 of qh[32 + 31]
    const std::vector<float> y = decode(DType::kQ6_K, b);
    EXPECT_EQ(y[0], 15.0f);    // 0.5 * 2 * (47 - 32)
    EXPECT_EQ(y[1], -32.0f);   // 0.5 * 2 * (0 - 32)
    EXPECT_EQ(y[80], 43.5f);   // 0.5 * -3 * (3 - 32)
    EXPECT_EQ(y[255], 13.0f);  // 0.5 * 1 * ((10 | 3 << 4) - 32)
    EXPECT_EQ(y[64], 0.0f);    // scales[4] = 0
}

TEST(QuantKTest, Q8_KRoundsHalfToEven) {
    std::vector<float> x(kQK_K, 0.0f);
    x[0] = 127.0f;  // extreme: iscale = -127 / 127 = -1, d = -1
    x[1] = 2.5f;    // -2.5 rounds to even: -2 (Q8_0's roundf would give -3)
    x[2] = -3.5f;   // 3.5 -> 4
    x[17] = 1.0f;
    BlockQ8_K b{};
    ASSERT_TRUE(quantize_row(DType::kQ8_K, x.data(), &b, kQK_K).ok());
    EXPECT_EQ(b.d, -1.0f);
    EXPECT_EQ(b.qs[0], -127);
    EXPECT_EQ(b.qs[1], -2);
    EXPECT_EQ(b.qs[2], 4);
    EXPECT_EQ(b.bsums[0], -127 - 2 + 4);
    EXPECT_EQ(b.bsums[1], -1);
    const std::vector<float> y = decode(DType::kQ8_K, b);
    EXPECT_EQ(y[0], 127.0f);
    EXPECT_EQ(y[1], 2.0f);
    EXPECT_EQ(y[2], -4.0f);
}

TEST(QuantKTest, Q8_KOfZerosIsAllZero) {
    std::vector<float> x(2 * kQK_K, 0.0f);
    BlockQ8_K b[2];
    std::memset(b, 0x5a, sizeof(b));
    ASSERT_TRUE(quantize_row(DType::kQ8_K, x.data(), b, 2 * kQK_K).ok());
    const std::vector<uint8_t> zeros(sizeof(b), 0);
    EXPECT_EQ(std::memcmp(b, zeros.data(), sizeof(b)), 0);
}

TEST(QuantKTest, RowsOfSeveralBlocksAdvance) {
    BlockQ4_K b[2]{};
    b[1].d = kHalfOne;
    set_k4_scales(&b[1]);
    b[1].qs[0] = 0x01;
    std::vector<float> y(2 * kQK_K);
    ASSERT_TRUE(dequantize_row(DType::kQ4_K, b, y.data(), 2 * kQK_K).ok());
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_EQ(y[kQK_K], 2.0f);  // block 1, element 0: 1 * 2 * 1 (dmin 0)
}

}  // namespace
}  // namespace gannet::tensor
