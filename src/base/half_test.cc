#include "base/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace gannet {
namespace {

TEST(HalfTest, Fp16RoundTripsEveryFiniteHalf) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const uint16_t bits = static_cast<uint16_t>(h);
        const float f = fp16_to_fp32(bits);
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
            continue;
        }
        EXPECT_EQ(fp32_to_fp16(f), bits) << "half bits " << h;
    }
}

TEST(HalfTest, Fp16RoundsToNearestEven) {
    // 1 + 2^-11 is exactly between 1 and the next half (1 + 2^-10): ties go to the even mantissa.
    EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);
    EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // overflows to infinity
    EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7bff);
    EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);  // half of the smallest subnormal: tie to zero
    EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001);
}

TEST(HalfTest, Bf16RoundsToNearestEven) {
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
    EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
}  // namespace gannet
