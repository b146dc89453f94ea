#include "tensor/kv_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace gannet::tensor {
namespace {

// Relative RMS error of a round trip of a 128-wide row (a typical head_dim) of N(0, 1) values.
double relative_error(DType t) {
    std::mt19937 rng(9);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(128);
    for (float& v : x) {
        v = dist(rng);
    }
    std::vector<uint8_t> q(kv_row_size_bytes(t, 128).value());
    std::vector<float> y(128);
    EXPECT_TRUE(quantize_kv_row(t, x.data(), q.data(), 128).ok());
    EXPECT_TRUE(dequantize_kv_row(t, q.data(), y.data(), 128).ok());
    double num = 0, den = 0;
    for (int i = 0; i < 128; ++i) {
        num += (x[i] - y[i]) * (x[i] - y[i]);
        den += x[i] * x[i];
    }
    return std::sqrt(num / den);
}

TEST(KvQuantTest, RowSizesHalveAndQuarterF16) {
    EXPECT_EQ(kv_row_size_bytes(DType::kF16, 128).value(), 256u);
    EXPECT_EQ(kv_row_size_bytes(DType::kQ8_0, 128).value(), 136u);  // 4 blocks of 34
    EXPECT_EQ(kv_row_size_bytes(DType::kQ4_0, 128).value(), 72u);   // 4 blocks of 18
}

TEST(KvQuantTest, RoundTripErrorMatchesTheFormat) {
    // Q8_0: step amax/127 over ~±2.5σ blocks -> ~0.5% RMS; Q4_0: step amax/8 -> ~8-10%.
    EXPECT_LT(relative_error(DType::kF16), 1e-3);
    EXPECT_LT(relative_error(DType::kQ8_0), 0.01);
    const double q4 = relative_error(DType::kQ4_0);
    EXPECT_LT(q4, 0.14);
    EXPECT_GT(q4, 0.02);  // a 4-bit format cannot be near-lossless: catches a silent F32 fallback
}

TEST(KvQuantTest, NamesParseCaseInsensitively) {
    EXPECT_EQ(kv_type_from_name("Q8_0").value(), DType::kQ8_0);
    EXPECT_EQ(kv_type_from_name("q4_0").value(), DType::kQ4_0);
    const Result<DType> bad = kv_type_from_name("q4_k");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find("q8_0"), std::string::npos);
}

TEST(KvQuantTest, BadTypeOrRowLengthIsAnError) {
    std::vector<float> x(48, 1.0f);
    std::vector<uint8_t> q(256);
    EXPECT_EQ(quantize_kv_row(DType::kQ8_0, x.data(), q.data(), 48).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(quantize_kv_row(DType::kQ4_K, x.data(), q.data(), 256).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_kv_row(DType::kQ4_0, q.data(), x.data(), 0).code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(kv_row_size_bytes(DType::kBF16, 32).has_value());
}

}  // namespace
}  // namespace gannet::tensor
