// dequantize_rows against tensor::dequantize_row (the CPU spec) for every block type, from random
// block bytes (every quant/scale bit pattern is a valid block) with finite fp16 scale fields, at
// awkward row counts; plus its argument checks.
#include "kernels/cuda/dequantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

// Byte offsets of the fp16 scale fields (d, dmin/m) in one block of dtype.
std::vector<int> half_fields(DType dtype) {
    switch (dtype) {
        case DType::kQ4_0: case DType::kQ5_0: case DType::kQ8_0: return {0};
        case DType::kQ4_1: case DType::kQ5_1: return {0, 2};
        case DType::kQ2_K: return {80, 82};
        case DType::kQ3_K: return {108};
        case DType::kQ4_K: case DType::kQ5_K: return {0, 2};
        case DType::kQ6_K: return {208};
        default: return {};
    }
}

std::vector<uint8_t> random_rows(DType dtype, int64_t n_rows, int64_t n_in, uint32_t seed) {
    std::vector<uint8_t> w(tensor::row_size_bytes(dtype, n_in) * static_cast<size_t>(n_rows));
    std::mt19937 rng(seed);
    for (uint8_t& b : w) {
        b = static_cast<uint8_t>(rng() & 0xff);
    }
    std::uniform_real_distribution<float> val(-2.0f, 2.0f);
    if (dtype == DType::kF32) {
        for (size_t i = 0; i < w.size(); i += 4) {
            const float f = val(rng);
            std::memcpy(w.data() + i, &f, 4);
        }
    } else if (dtype == DType::kF16 || dtype == DType::kBF16) {
        for (size_t i = 0; i < w.size(); i += 2) {
            const float f = val(rng);
            const uint16_t h = dtype == DType::kF16 ? fp32_to_fp16(f) : fp32_to_bf16(f);
            std::memcpy(w.data() + i, &h, 2);
        }
    } else {
        const size_t block = tensor::type_size_bytes(dtype);
        for (size_t b = 0; b < w.size(); b += block) {
            for (int off : half_fields(dtype)) {
                const uint16_t h = fp32_to_fp16(0.5f * val(rng));
                std::memcpy(w.data() + b + off, &h, 2);
            }
        }
    }
    return w;
}

class DequantizeRowsTest : public testing::TestWithParam<DType> {};

TEST_P(DequantizeRowsTest, MatchesCpuDequantizerRoundedToBf16) {
    const DType dtype = GetParam();
    uint32_t seed = 77 + static_cast<uint32_t>(dtype);
    const int64_t b = tensor::block_size(dtype) < 8 ? 8 : tensor::block_size(dtype);
    for (auto [n_rows, n_in] : {std::pair<int64_t, int64_t>{1, 256}, {3, 768}, {257, 256}, {31, 4096}, {4097, 512},
                                {5, b}, {7, 3 * b}}) {
        if (n_in % tensor::block_size(dtype) != 0) {
            continue;
        }
        SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_rows=" << n_rows << " n_in=" << n_in);
        const std::vector<uint8_t> w = random_rows(dtype, n_rows, n_in, seed++);
        std::vector<float> ref(static_cast<size_t>(n_rows * n_in));
        const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
        for (int64_t r = 0; r < n_rows; ++r) {
            ASSERT_TRUE(tensor::dequantize_row(dtype, w.data() + static_cast<size_t>(r) * row_bytes,
                                               ref.data() + r * n_in, n_in)
                            .ok());
        }
        gannet::cuda::DeviceBuffer w_dev = test::upload(w);
        gannet::cuda::DeviceBuffer out = test::poisoned(ref.size() * 2);
        const Status st = dequantize_rows(dtype, w_dev.data(), out.data(), n_rows, n_in, nullptr);
        ASSERT_TRUE(st.ok()) << st.to_string();
        const std::vector<uint16_t> got = test::download<uint16_t>(out, ref.size());
        int64_t n_bad = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
            const float g = bf16_to_fp32(got[i]);
            const double tol = kDequantBf16RelErr * std::fabs(ref[i]) + 1e-30;
            if (!(std::fabs(static_cast<double>(g) - ref[i]) <= tol)) {
                if (n_bad++ < 5) {
                    ADD_FAILURE() << "element " << i << " (row " << i / static_cast<size_t>(n_in) << ", col "
                                  << i % static_cast<size_t>(n_in) << "): got " << g << ", want " << ref[i];
                }
            }
        }
        EXPECT_EQ(n_bad, 0);
    }
}

INSTANTIATE_TEST_SUITE_P(EveryType, DequantizeRowsTest,
                         testing::Values(DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                         DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                                         DType::kF16, DType::kBF16, DType::kF32),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

// The embedding lookup decodes the block types llama.cpp files use for token_embd (Q4_K, Q6_K, ...)
// with the same device decoders; its rows must equal the CPU dequantizer's.
class EmbeddingBlocksTest : public testing::TestWithParam<DType> {};

TEST_P(EmbeddingBlocksTest, RowsMatchCpuDequantizer) {
    const DType dtype = GetParam();
    const int64_t n_vocab = 37;
    const int64_t dim = 768;
    const std::vector<uint8_t> table = random_rows(dtype, n_vocab, dim, 991);
    const std::vector<int32_t> tokens = {0, 36, 5, 5, 17};
    gannet::cuda::DeviceBuffer table_dev = test::upload(table);
    gannet::cuda::DeviceBuffer tokens_dev = test::upload(tokens);
    gannet::cuda::DeviceBuffer out = test::poisoned(tokens.size() * dim * sizeof(float));
    EmbeddingArgs a;
    a.table = table_dev.data();
    a.dtype = dtype;
    a.n_vocab = n_vocab;
    a.dim = dim;
    a.tokens = tokens_dev.as<int32_t>();
    a.n_tokens = static_cast<int64_t>(tokens.size());
    a.out = out.as<float>();
    const Status st = embedding(a, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> got = test::download<float>(out, tokens.size() * dim);
    const size_t row_bytes = tensor::row_size_bytes(dtype, dim);
    std::vector<float> ref(static_cast<size_t>(dim));
    for (size_t t = 0; t < tokens.size(); ++t) {
        ASSERT_TRUE(tensor::dequantize_row(dtype, table.data() + static_cast<size_t>(tokens[t]) * row_bytes,
                                           ref.data(), dim)
                        .ok());
        const auto first = got.begin() + static_cast<int64_t>(t) * dim;
        const std::vector<float> row(first, first + dim);
        EXPECT_LE(test::rel_err(row, ref), 1e-6) << "token " << tokens[t];
    }
}

INSTANTIATE_TEST_SUITE_P(BlockTypes, EmbeddingBlocksTest,
                         testing::Values(DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                                         DType::kQ4_K, DType::kQ5_K, DType::kQ6_K),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(DequantizeRowsErrorsTest, RejectsBadArguments) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    void* src = buf.data();
    void* dst = static_cast<uint8_t*>(buf.data()) + 8192;
    EXPECT_EQ(dequantize_rows(DType::kQ8_K, src, dst, 1, 256, nullptr).code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(dequantize_rows(DType::kI32, src, dst, 1, 256, nullptr).code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(dequantize_rows(DType::kQ4_K, src, dst, 1, 96, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_rows(DType::kF16, src, dst, 1, 12, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_rows(DType::kQ4_0, src, dst, -1, 32, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_rows(DType::kQ4_0, nullptr, dst, 1, 32, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_rows(DType::kQ4_0, src, static_cast<uint8_t*>(dst) + 8, 1, 32, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(dequantize_rows(DType::kQ4_0, static_cast<uint8_t*>(src) + 1, dst, 1, 32, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_TRUE(dequantize_rows(DType::kQ4_0, src, dst, 0, 32, nullptr).ok());
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace gannet::kernels::cuda
