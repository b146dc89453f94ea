#include "tensor/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "base/half.h"

namespace gannet::tensor {
namespace {

// x[j] = j - 16 for j in 0..31: the extreme is -16, so every format's scale is easy to derive.
std::vector<float> ramp() {
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) {
        x[j] = static_cast<float>(j - 16);
    }
    return x;
}

TEST(QuantTest, Q8_0MatchesHandComputedBlock) {
    const std::vector<float> x = ramp();
    BlockQ8_0 b{};
    ASSERT_TRUE(quantize_row(DType::kQ8_0, x.data(), &b, 32).ok());
    // d = 16/127 = 0.12598 -> fp16 0x3008 (2^-3 * (1 + 8/1024)); 1/d = 7.9375 exactly, so
    // q = round((j - 16) * 7.9375). At x = +-8 the product is +-63.5: roundf goes away from zero.
    EXPECT_EQ(b.d, 0x3008);
    const int8_t expected[32] = {-127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8,
                                 0,    8,    16,   24,   32,  40,  48,  56,  64,  71,  79,  87,  95,  103, 111, 119};
    EXPECT_EQ(std::memcmp(b.qs, expected, 32), 0);

    float y[32];
    ASSERT_TRUE(dequantize_row(DType::kQ8_0, &b, y, 32).ok());
    const float d = fp16_to_fp32(0x3008);
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(y[j], static_cast<float>(expected[j]) * d) << j;
    }
}

TEST(QuantTest, Q8_0OfZerosIsZeroScale) {
    const std::vector<float> x(64, 0.0f);
    BlockQ8_0 b[2];
    std::memset(b, 0xab, sizeof(b));
    ASSERT_TRUE(quantize_row(DType::kQ8_0, x.data(), b, 64).ok());
    for (const BlockQ8_0& blk : b) {
        EXPECT_EQ(blk.d, 0);
        for (int8_t q : blk.qs) {
            EXPECT_EQ(q, 0);
        }
    }
}

TEST(QuantTest, Q4_0MatchesHandComputedBlock) {
    const std::vector<float> x = ramp();
    BlockQ4_0 b{};
    ASSERT_TRUE(quantize_row(DType::kQ4_0, x.data(), &b, 32).ok());
    // Signed extreme -16: d = -16 / -8 = 2 (fp16 0x4000), id = 0.5, q = min(15, trunc(x/2 + 8.5)):
    // j = 0 -> 0, 1 -> 1, 2 -> 1 (1.5 truncates), 3 -> 2, ..., 31 -> 16 clamped to 15.
    EXPECT_EQ(b.d, 0x4000);
    int q[32];
    for (int j = 0; j < 32; ++j) {
        q[j] = std::min(15, (j + 1) / 2);
    }
    EXPECT_EQ(q[0], 0);
    EXPECT_EQ(q[2], 1);
    EXPECT_EQ(q[31], 15);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(b.qs[j], q[j] | (q[j + 16] << 4)) << j;  // element j low nibble, j + 16 high
    }
    float y[32];
    ASSERT_TRUE(dequantize_row(DType::kQ4_0, &b, y, 32).ok());
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(y[j], static_cast<float>((q[j] - 8) * 2)) << j;
    }
}

TEST(QuantTest, Q5_0OfRampIsExact) {
    const std::vector<float> x = ramp();
    BlockQ5_0 b{};
    ASSERT_TRUE(quantize_row(DType::kQ5_0, x.data(), &b, 32).ok());
    // d = -16 / -16 = 1, q = trunc(x + 16.5) = j; elements 16..31 have bit 4 set -> qh = 0xffff0000.
    EXPECT_EQ(b.d, 0x3c00);
    const uint8_t qh[4] = {0x00, 0x00, 0xff, 0xff};
    EXPECT_EQ(std::memcmp(b.qh, qh, 4), 0);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(b.qs[j], j | (j << 4)) << j;
    }
    float y[32];
    ASSERT_TRUE(dequantize_row(DType::kQ5_0, &b, y, 32).ok());
    EXPECT_EQ(std::vector<float>(y, y + 32), x);
}

TEST(QuantTest, Q5_1AndQ4_1UseTheMinimum) {
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) {
        x[j] = static_cast<float>(j) + 3.0f;  // min 3, max 34
    }
    BlockQ5_1 b5{};
    ASSERT_TRUE(quantize_row(DType::kQ5_1, x.data(), &b5, 32).ok());
    EXPECT_EQ(b5.d, 0x3c00);  // (34 - 3) / 31 = 1
    EXPECT_EQ(b5.m, 0x4200);  // 3.0
    float y[32];
    ASSERT_TRUE(dequantize_row(DType::kQ5_1, &b5, y, 32).ok());
    EXPECT_EQ(std::vector<float>(y, y + 32), x);

    BlockQ4_1 b4{};
    ASSERT_TRUE(quantize_row(DType::kQ4_1, x.data(), &b4, 32).ok());
    EXPECT_EQ(b4.m, 0x4200);
    const float d = fp16_to_fp32(b4.d);
    EXPECT_NEAR(d, 31.0f / 15.0f, 1e-3);
    ASSERT_TRUE(dequantize_row(DType::kQ4_1, &b4, y, 32).ok());
    for (int j = 0; j < 32; ++j) {
        EXPECT_NEAR(y[j], x[j], d / 2 + 0.02f) << j;
    }
}

TEST(QuantTest, Q4_1DecodesAHandBuiltBlock) {
    BlockQ4_1 b{};
    b.d = 0x3800;  // 0.5
    b.m = 0xbc00;  // -1
    b.qs[0] = 0x3a;
    float y[32];
    ASSERT_TRUE(dequantize_row(DType::kQ4_1, &b, y, 32).ok());
    EXPECT_EQ(y[0], 4.0f);   // 10 * 0.5 - 1
    EXPECT_EQ(y[16], 0.5f);  // 3 * 0.5 - 1
    EXPECT_EQ(y[1], -1.0f);
}

TEST(QuantTest, Q8_1StoresScaledSum) {
    const std::vector<float> x = ramp();
    BlockQ8_1 b{};
    ASSERT_TRUE(quantize_row(DType::kQ8_1, x.data(), &b, 32).ok());
    int sum = 0;
    for (int8_t q : b.qs) {
        sum += q;
    }
    EXPECT_EQ(sum, -127 - 119 - 111 - 103 - 95 - 87 - 79 - 71 - 64 - 56 - 48 - 40 - 32 - 24 - 16 - 8 + 0 + 8 + 16 + 24
                       + 32 + 40 + 48 + 56 + 64 + 71 + 79 + 87 + 95 + 103 + 111 + 119);
    EXPECT_EQ(b.s, fp32_to_fp16(static_cast<float>(sum) * (16.0f / 127)));
}

TEST(QuantTest, RandomRowsRoundTripWithinHalfAStep) {
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    const int64_t n = 32 * 64;
    std::vector<float> x(n);
    for (float& v : x) {
        v = dist(rng);
    }
    std::vector<float> y(n);
    struct Case {
        DType dtype;
        int levels;  // steps across [-amax, amax] that a value may be off by up to half of
    };
    for (const Case& c : {Case{DType::kQ8_0, 254}, Case{DType::kQ8_1, 254}, Case{DType::kQ5_0, 32},
                          Case{DType::kQ5_1, 31}, Case{DType::kQ4_0, 16}, Case{DType::kQ4_1, 15}}) {
        SCOPED_TRACE(dtype_name(c.dtype));
        std::vector<uint8_t> q(row_size_bytes(c.dtype, n));
        ASSERT_TRUE(quantize_row(c.dtype, x.data(), q.data(), n).ok());
        ASSERT_TRUE(dequantize_row(c.dtype, q.data(), y.data(), n).ok());
        for (int64_t b = 0; b < n / 32; ++b) {
            float amax = 0;
            for (int j = 0; j < 32; ++j) {
                amax = std::max(amax, std::fabs(x[b * 32 + j]));
            }
            // Q4_0/Q5_0 put the signed extreme on the lowest level, so +amax clamps at the top level and
            // can be off by a whole step.
            const float step = 2 * amax / static_cast<float>(c.levels);
            const bool clamps = c.dtype == DType::kQ4_0 || c.dtype == DType::kQ5_0;
            const float tol = (clamps ? step : step / 2) * 1.01f + amax * 2e-3f;
            for (int j = 0; j < 32; ++j) {
                ASSERT_NEAR(y[b * 32 + j], x[b * 32 + j], tol) << "block " << b << " elem " << j;
            }
        }
    }
}

TEST(QuantTest, HalfTypesRoundTrip) {
    const float x[4] = {1.0f, -2.5f, 65504.0f, 1e-8f};
    uint16_t h[4];
    float y[4];
    ASSERT_TRUE(quantize_row(DType::kF16, x, h, 4).ok());
    ASSERT_TRUE(dequantize_row(DType::kF16, h, y, 4).ok());
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -2.5f);
    EXPECT_EQ(y[2], 65504.0f);
    EXPECT_EQ(h[3], fp32_to_fp16(1e-8f));
    ASSERT_TRUE(quantize_row(DType::kBF16, x, h, 4).ok());
    EXPECT_EQ(h[0], 0x3f80);
    ASSERT_TRUE(dequantize_row(DType::kBF16, h, y, 4).ok());
    EXPECT_EQ(y[1], -2.5f);
}

TEST(QuantTest, IntegerTypesWiden) {
    const int32_t i32[3] = {-5, 0, 1 << 20};
    float y[3];
    ASSERT_TRUE(dequantize_row(DType::kI32, i32, y, 3).ok());
    EXPECT_EQ(y[0], -5.0f);
    EXPECT_EQ(y[2], 1048576.0f);
    const int8_t i8[2] = {-128, 127};
    ASSERT_TRUE(dequantize_row(DType::kI8, i8, y, 2).ok());
    EXPECT_EQ(y[0], -128.0f);
}

TEST(QuantTest, PartialBlockIsInvalidArgument) {
    std::vector<float> x(33, 1.0f);
    std::vector<uint8_t> q(64);
    Status s = quantize_row(DType::kQ8_0, x.data(), q.data(), 33);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("33"), std::string::npos) << s.message();
    EXPECT_EQ(dequantize_row(DType::kQ4_K, q.data(), x.data(), 32).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_row(DType::kF32, q.data(), x.data(), -1).code(), ErrorCode::kInvalidArgument);
}

TEST(QuantTest, MissingQuantizerIsUnimplemented) {
    std::vector<float> x(256, 1.0f);
    std::vector<uint8_t> q(row_size_bytes(DType::kQ4_K, 256));
    EXPECT_EQ(quantize_row(DType::kQ4_K, x.data(), q.data(), 256).code(), ErrorCode::kUnimplemented);
    EXPECT_FALSE(can_quantize(DType::kQ6_K));
    EXPECT_TRUE(can_quantize(DType::kQ8_0));
    EXPECT_TRUE(can_dequantize(DType::kQ6_K));
    EXPECT_FALSE(can_dequantize(static_cast<DType>(4)));
    EXPECT_EQ(dequantize_row(static_cast<DType>(4), q.data(), x.data(), 0).code(), ErrorCode::kUnimplemented);
}

TEST(QuantTest, NonFiniteInputIsRejected) {
    std::vector<float> x(32, 1.0f);
    x[7] = std::numeric_limits<float>::quiet_NaN();
    BlockQ4_0 b{};
    Status s = quantize_row(DType::kQ4_0, x.data(), &b, 32);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("index 7"), std::string::npos) << s.message();
    x[7] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(quantize_row(DType::kQ8_0, x.data(), &b, 32).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::tensor
