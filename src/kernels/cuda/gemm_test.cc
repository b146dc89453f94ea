// Parity of the cuBLAS prefill GEMM with the CPU reference matmul for every weight dtype.
#include "kernels/cuda/gemm.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
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

std::vector<uint8_t> make_weights(DType dtype, int64_t n_out, int64_t n_in, uint32_t seed) {
    const std::vector<float> f = test::random_floats(static_cast<size_t>(n_out * n_in), seed);
    const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_out));
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
    };
    uint32_t seed = 7;
    // 4097 rows cross the 4096-row dequantization tile; 9000 rows need three tiles.
    for (Shape s : {Shape{31, 512, 17}, Shape{4097, 512, 33}, Shape{1, 96, 9}, Shape{9000, 256, 65}}) {
        SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_out=" << s.n_out << " n_in=" << s.n_in
                                        << " n_tokens=" << s.n_tokens);
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
                         testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16),
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

}  // namespace
}  // namespace gannet::kernels::cuda
