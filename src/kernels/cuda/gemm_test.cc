// Parity of the cuBLAS prefill GEMM with the CPU reference matmul for every weight dtype.
#include "kernels/cuda/gemm.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/matmul.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

// Offsets of the fp16 scale fields inside one block of the K-quant types (tensor/quant_k.h), which
// have no quantizer: their rows are random bytes with these fields set to small finite scales.
std::vector<size_t> k_quant_scale_offsets(DType dtype) {
    switch (dtype) {
        case DType::kQ2_K: return {80, 82};
        case DType::kQ3_K: return {108};
        case DType::kQ4_K: return {0, 2};
        case DType::kQ5_K: return {0, 2};
        case DType::kQ6_K: return {208};
        default: return {};
    }
}

std::vector<uint8_t> make_weights(DType dtype, int64_t n_out, int64_t n_in, uint32_t seed) {
    const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_out));
    if (!tensor::can_quantize(dtype)) {
        std::mt19937 rng(seed);
        for (uint8_t& b : w) {
            b = static_cast<uint8_t>(rng());
        }
        const std::vector<size_t> offsets = k_quant_scale_offsets(dtype);
        EXPECT_FALSE(offsets.empty()) << tensor::dtype_name(dtype);
        const size_t block_bytes = tensor::type_size_bytes(dtype);
        for (size_t b = 0; b < w.size() / block_bytes; ++b) {
            for (size_t i = 0; i < offsets.size(); ++i) {
                const uint16_t h = fp32_to_fp16(i == 0 ? 0.02f : 0.01f);
                std::memcpy(w.data() + b * block_bytes + offsets[i], &h, 2);
            }
        }
        return w;
    }
    const std::vector<float> f = test::random_floats(static_cast<size_t>(n_out * n_in), seed);
    for (int64_t r = 0; r < n_out; ++r) {
        const float* src = f.data() + r * n_in;
        uint8_t* dst = w.data() + static_cast<size_t>(r) * row_bytes;
        if (dtype == DType::kF16 || dtype == DType::kBF16) {
            for (int64_t i = 0; i < n_in; ++i) {
                const uint16_t h = dtype == DType::kF16 ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
        } else {
            EXPECT_TRUE(tensor::quantize_row(dtype, src, dst, n_in).ok());
        }
    }
    return w;
}

class GemmTest : public testing::TestWithParam<DType> {};

TEST_P(GemmTest, MatchesReferenceForPrefillBatches) {
    const DType dtype = GetParam();
    Result<CublasHandle> handle = CublasHandle::create();
    ASSERT_TRUE(handle.has_value()) << handle.error().to_string();
    struct Shape {
        int64_t n_out;
        int64_t n_in;
        int64_t n_tokens;
        int64_t tile_rows;  // 0: default
    };
    uint32_t seed = 7;
    // Awkward sizes: odd row and token counts, one token, 16-bit rows of 96 elements; tiles of 128
    // and 1000 rows that end in partial tiles (300 = 2 x 128 + 44; 2500 = 2 x 1000 + 500).
    const bool is_k_quant = tensor::block_size(dtype) == 256;
    const int64_t in_small = is_k_quant ? 256 : 96;
    const int64_t in_mid = is_k_quant ? 512 : 160;
    for (Shape s : {Shape{31, 512, 17, 0}, Shape{1, in_small, 9, 0}, Shape{300, 768, 65, 128},
                    Shape{2500, in_mid, 33, 1000}, Shape{4097, 256, 300, 0}, Shape{77, 256, 1, 0}}) {
        if (s.n_in % tensor::block_size(dtype) != 0) {
            continue;
        }
        SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_out=" << s.n_out << " n_in=" << s.n_in
                                        << " n_tokens=" << s.n_tokens << " tile_rows=" << s.tile_rows);
        const std::vector<uint8_t> w = make_weights(dtype, s.n_out, s.n_in, seed++);
        const std::vector<float> x = test::random_floats(static_cast<size_t>(s.n_tokens * s.n_in), seed++);
        std::vector<float> ref(static_cast<size_t>(s.n_tokens * s.n_out));
        MatmulArgs m;
        m.w = w.data();
        m.w_dtype = dtype;
        m.n_in = s.n_in;
        m.n_out = s.n_out;
        m.n_tokens = s.n_tokens;
        m.x = x.data();
        m.y = ref.data();
        ASSERT_TRUE(matmul_reference(m).ok());

        gannet::cuda::DeviceBuffer w_dev = test::upload(w);
        gannet::cuda::DeviceBuffer x_dev = test::upload(x);
        gannet::cuda::DeviceBuffer y_dev = test::poisoned(ref.size() * sizeof(float));
        GemmArgs a;
        a.w = w_dev.data();
        a.w_dtype = dtype;
        a.n_in = s.n_in;
        a.n_out = s.n_out;
        a.n_tokens = s.n_tokens;
        a.x = x_dev.as<float>();
        a.y = y_dev.as<float>();
        a.cublas = handle->get();
        a.tile_rows = s.tile_rows;
        Result<gannet::cuda::DeviceBuffer> scratch = gannet::cuda::DeviceBuffer::allocate(gemm_scratch_size_bytes(a));
        ASSERT_TRUE(scratch.has_value());
        a.scratch = scratch->data();
        a.scratch_size_bytes = scratch->size_bytes();
        const Status st = gemm(a, nullptr);
        ASSERT_TRUE(st.ok()) << st.to_string();
        EXPECT_LE(test::rel_err(test::download<float>(y_dev, ref.size()), ref), kGemmRelErr);
    }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, GemmTest,
                         testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16, DType::kQ4_1,
                                         DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K,
                                         DType::kQ5_K, DType::kQ6_K),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(GemmErrorsTest, RejectsTooLittleScratch) {
    Result<CublasHandle> handle = CublasHandle::create();
    ASSERT_TRUE(handle.has_value());
    int dummy = 0;
    GemmArgs a;
    a.w = &dummy;
    a.x = reinterpret_cast<float*>(&dummy);
    a.y = reinterpret_cast<float*>(&dummy);
    a.w_dtype = DType::kQ8_0;
    a.n_in = 64;
    a.n_out = 8;
    a.n_tokens = 4;
    a.cublas = handle->get();
    a.scratch = &dummy;
    a.scratch_size_bytes = 16;
    const Status st = gemm(a, nullptr);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("scratch"), std::string::npos);
}

TEST(GemmErrorsTest, RejectsF32AndUndecodableWeights) {
    Result<CublasHandle> handle = CublasHandle::create();
    ASSERT_TRUE(handle.has_value());
    int dummy = 0;
    GemmArgs a;
    a.w = &dummy;
    a.x = reinterpret_cast<float*>(&dummy);
    a.y = reinterpret_cast<float*>(&dummy);
    a.n_in = 64;
    a.n_out = 8;
    a.n_tokens = 4;
    a.cublas = handle->get();
    a.scratch = &dummy;
    a.scratch_size_bytes = 1 << 20;
    for (DType dtype : {DType::kF32, DType::kI32}) {
        a.w_dtype = dtype;
        EXPECT_EQ(gemm(a, nullptr).code(), ErrorCode::kUnimplemented) << tensor::dtype_name(dtype);
    }
}

TEST(GemmErrorsTest, RejectsBadSizesAndTileRows) {
    Result<CublasHandle> handle = CublasHandle::create();
    ASSERT_TRUE(handle.has_value());
    int dummy = 0;
    GemmArgs a;
    a.w = &dummy;
    a.x = reinterpret_cast<float*>(&dummy);
    a.y = reinterpret_cast<float*>(&dummy);
    a.w_dtype = DType::kQ4_0;
    a.n_in = 48;  // not a whole number of 32-weight blocks
    a.n_out = 8;
    a.n_tokens = 4;
    a.cublas = handle->get();
    a.scratch = &dummy;
    a.scratch_size_bytes = 1 << 20;
    EXPECT_EQ(gemm(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.n_in = 64;
    a.tile_rows = -1;
    EXPECT_EQ(gemm(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.tile_rows = 0;
    a.cublas = nullptr;
    EXPECT_EQ(gemm(a, nullptr).code(), ErrorCode::kInvalidArgument);
}

TEST(GemmScratchTest, DefaultTileCoversEightBShapes) {
    // One dequantized tile per matrix for the Llama-3-8B projections at n_in = 4096 (up to 14336 rows).
    EXPECT_GE(gemm_default_tile_rows(4096), 14336);
    EXPECT_EQ(gemm_default_tile_rows(4096) % 128, 0);
    EXPECT_EQ(gemm_default_tile_rows(int64_t{1} << 40), 128);
    GemmArgs a;
    a.w_dtype = DType::kF16;
    a.n_in = 4096;
    a.n_out = 14336;
    a.n_tokens = 512;
    EXPECT_EQ(gemm_scratch_size_bytes(a), size_t{512} * 4096 * 2);  // 16-bit W needs no tile
    a.w_dtype = DType::kQ4_0;
    EXPECT_EQ(gemm_scratch_size_bytes(a), size_t{512} * 4096 * 2 + size_t{14336} * 4096 * 2);
}

}  // namespace
}  // namespace gannet::kernels::cuda
