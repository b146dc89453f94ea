// Parity of the CUDA matrix-vector and prefill GEMM kernels with the CPU reference matmul, for every
// weight dtype at awkward shapes (1, 31, 4097 rows; odd token counts; rows that break 16-byte alignment).
#include "kernels/cuda/matvec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/matmul.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

// Host bytes of W in dtype's GGUF layout, from random floats.
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

std::vector<float> reference(const std::vector<uint8_t>& w, DType dtype, int64_t n_out, int64_t n_in,
                             const std::vector<float>& x, int64_t n_tokens) {
    std::vector<float> y(static_cast<size_t>(n_tokens * n_out));
    MatmulArgs m;
    m.w = w.data();
    m.w_dtype = dtype;
    m.n_in = n_in;
    m.n_out = n_out;
    m.n_tokens = n_tokens;
    m.x = x.data();
    m.y = y.data();
    EXPECT_TRUE(matmul_reference(m).ok());
    return y;
}

struct Shape {
    int64_t n_out;
    int64_t n_in;
    int64_t n_tokens;
};

void check_matvec(DType dtype, Shape s, DType x_dtype, uint32_t seed) {
    SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_out=" << s.n_out << " n_in=" << s.n_in
                                    << " n_tokens=" << s.n_tokens << " x=" << tensor::dtype_name(x_dtype));
    const std::vector<uint8_t> w = make_weights(dtype, s.n_out, s.n_in, seed);
    std::vector<float> x = test::random_floats(static_cast<size_t>(s.n_tokens * s.n_in), seed + 1);
    gannet::cuda::DeviceBuffer x_dev;
    if (x_dtype == DType::kBF16) {
        x = test::round_to_bf16(x);  // the reference sees exactly the values the GPU reads
        std::vector<uint16_t> xb(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            xb[i] = fp32_to_bf16(x[i]);
        }
        x_dev = test::upload(xb);
    } else {
        x_dev = test::upload(x);
    }
    const std::vector<float> ref = reference(w, dtype, s.n_out, s.n_in, x, s.n_tokens);
    gannet::cuda::DeviceBuffer w_dev = test::upload(w);
    const size_t n_y = static_cast<size_t>(s.n_tokens * s.n_out);
    gannet::cuda::DeviceBuffer y_dev = test::poisoned(n_y * sizeof(float));
    MatvecArgs a;
    a.w = w_dev.data();
    a.w_dtype = dtype;
    a.n_in = s.n_in;
    a.n_out = s.n_out;
    a.n_tokens = s.n_tokens;
    a.x = x_dev.data();
    a.x_dtype = x_dtype;
    a.y = y_dev.as<float>();
    const Status st = matvec(a, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> got = test::download<float>(y_dev, n_y);
    const double tol = x_dtype == DType::kBF16 ? kMatvecRelErrBf16Act : kMatvecRelErrF32Act;
    EXPECT_LE(test::rel_err(got, ref), tol);
}

class MatvecTest : public testing::TestWithParam<DType> {};

TEST_P(MatvecTest, MatchesReferenceAtAwkwardShapes) {
    const DType dtype = GetParam();
    uint32_t seed = 100;
    // 4096-wide rows take the 16-byte vector path; 96-wide rows (3 blocks, 54 bytes for Q4_0) and, for
    // the 16-bit types, 100-wide rows take the unaligned fallback.
    const int64_t odd_in = (dtype == DType::kF16 || dtype == DType::kBF16) ? 100 : 96;
    for (Shape s : {Shape{1, 4096, 1}, Shape{31, 4096, 1}, Shape{4097, 4096, 1}, Shape{31, 512, 3}, Shape{4097, 256, 8},
                    Shape{33, 4096, 11}, Shape{31, odd_in, 1}, Shape{4097, odd_in, 5}, Shape{7, 14336, 2}}) {
        check_matvec(dtype, s, DType::kF32, seed++);
    }
    for (Shape s : {Shape{31, 4096, 1}, Shape{4097, 512, 3}, Shape{31, odd_in, 2}}) {
        check_matvec(dtype, s, DType::kBF16, seed++);
    }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, MatvecTest,
                         testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(MatvecErrorsTest, RejectsUnsupportedTypesAndBadSizes) {
    MatvecArgs a;
    int dummy = 0;
    a.w = &dummy;
    a.x = &dummy;
    a.y = reinterpret_cast<float*>(&dummy);
    a.n_in = 64;
    a.n_out = 1;
    a.n_tokens = 1;
    a.w_dtype = DType::kQ4_K;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kUnimplemented);
    a.w_dtype = DType::kQ4_0;
    a.n_in = 33;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.n_in = 64;
    a.x_dtype = DType::kF16;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kUnimplemented);
    a.x_dtype = DType::kF32;
    a.y = nullptr;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::kernels::cuda
