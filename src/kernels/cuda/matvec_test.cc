// Parity of the CUDA matrix-vector kernels with CPU references, for every weight dtype at awkward
// shapes (1, 31, 4097 rows; every token count 1..9; rows that break 16-byte alignment; rows that end
// mid-way through a warp step), for both the f32-activation path and the int8-activation (dp4a)
// path of Q4_0/Q8_0/Q4_K/Q5_K.
#include "kernels/cuda/matvec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "base/half.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/cuda/weight_layout.h"
#include "kernels/matmul.h"
#include "tensor/quant.h"
#include "tensor/quant_k.h"

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

// --- Every block type, from random block bytes (every bit pattern of the quants, scales and
// high bits is a valid block) with the fp16 scale fields overwritten by finite values. ---

// Byte offsets of the fp16 scale fields (d, and dmin/m where the format has one) in one block.
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

std::vector<uint8_t> random_blocks(DType dtype, int64_t n_out, int64_t n_in, uint32_t seed) {
    const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_out));
    std::mt19937 rng(seed);
    for (uint8_t& b : w) {
        b = static_cast<uint8_t>(rng() & 0xff);
    }
    if (dtype == DType::kF16 || dtype == DType::kBF16) {
        const std::vector<float> f = test::random_floats(w.size() / 2, seed);
        for (size_t i = 0; i < f.size(); ++i) {
            const uint16_t h = dtype == DType::kF16 ? fp32_to_fp16(f[i]) : fp32_to_bf16(f[i]);
            std::memcpy(w.data() + 2 * i, &h, 2);
        }
        return w;
    }
    const size_t block = tensor::type_size_bytes(dtype);
    std::uniform_real_distribution<float> scale(0.005f, 0.02f);
    for (size_t b = 0; b < w.size(); b += block) {
        for (int off : half_fields(dtype)) {
            const uint16_t h = fp32_to_fp16((rng() & 1) != 0 ? scale(rng) : -scale(rng));
            std::memcpy(w.data() + b + off, &h, 2);
        }
    }
    return w;
}

// y = x · Wᵀ in double over the CPU dequantizer's values (tensor::dequantize_row is the spec).
std::vector<float> dequant_reference(const std::vector<uint8_t>& w, DType dtype, int64_t n_out, int64_t n_in,
                                     const std::vector<float>& x, int64_t n_tokens) {
    const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
    std::vector<float> row(static_cast<size_t>(n_in));
    std::vector<float> y(static_cast<size_t>(n_tokens * n_out));
    for (int64_t r = 0; r < n_out; ++r) {
        const uint8_t* src = w.data() + static_cast<size_t>(r) * row_bytes;
        EXPECT_TRUE(tensor::dequantize_row(dtype, src, row.data(), n_in).ok());
        for (int64_t t = 0; t < n_tokens; ++t) {
            double s = 0.0;
            for (int64_t i = 0; i < n_in; ++i) {
                s += static_cast<double>(row[static_cast<size_t>(i)]) * x[static_cast<size_t>(t * n_in + i)];
            }
            y[static_cast<size_t>(t * n_out + r)] = static_cast<float>(s);
        }
    }
    return y;
}

// What the int8-activation path does to x: per 32-block d = max|x| / 127, x ≈ d * rint(x / d).
std::vector<float> int8_rounded(const std::vector<float>& x) {
    std::vector<float> out(x.size());
    for (size_t b = 0; b < x.size(); b += 32) {
        float amax = 0.0f;
        for (size_t i = b; i < b + 32; ++i) {
            amax = std::max(amax, std::fabs(x[i]));
        }
        const float d = amax / 127.0f;
        for (size_t i = b; i < b + 32; ++i) {
            const float q = d > 0.0f ? std::nearbyint(x[i] / d) : 0.0f;
            out[i] = static_cast<float>(static_cast<double>(d) * q);
        }
    }
    return out;
}

enum class Path { kF32Act, kInt8Act };

// Runs matvec on random blocks and checks it against the double reference. With kInt8Act the GPU
// result must match the reference over int8-rounded x tightly (only summation order differs) and
// the f32 reference within kMatvecRelErrInt8Act (the rounding of x itself).
void check_blocks(DType dtype, Shape s, DType x_dtype, Path path, uint32_t seed) {
    SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_out=" << s.n_out << " n_in=" << s.n_in
                                    << " n_tokens=" << s.n_tokens << " x=" << tensor::dtype_name(x_dtype)
                                    << (path == Path::kInt8Act ? " int8 path" : " f32 path"));
    const std::vector<uint8_t> w = random_blocks(dtype, s.n_out, s.n_in, seed);
    std::vector<float> x = test::random_floats(static_cast<size_t>(s.n_tokens * s.n_in), seed + 1);
    gannet::cuda::DeviceBuffer x_dev;
    if (x_dtype == DType::kBF16) {
        x = test::round_to_bf16(x);
        std::vector<uint16_t> xb(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            xb[i] = fp32_to_bf16(x[i]);
        }
        x_dev = test::upload(xb);
    } else {
        x_dev = test::upload(x);
    }
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
    gannet::cuda::DeviceBuffer scratch;
    if (path == Path::kInt8Act) {
        const size_t bytes = matvec_scratch_size_bytes(a);
        ASSERT_GT(bytes, 0u);
        scratch = test::poisoned(bytes);
        a.scratch = scratch.data();
        a.scratch_size_bytes = bytes;
    }
    const Status st = matvec(a, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const std::vector<float> got = test::download<float>(y_dev, n_y);
    const std::vector<float> ref = dequant_reference(w, dtype, s.n_out, s.n_in, x, s.n_tokens);
    if (path == Path::kInt8Act) {
        const std::vector<float> ref_q = dequant_reference(w, dtype, s.n_out, s.n_in, int8_rounded(x), s.n_tokens);
        EXPECT_LE(test::rel_err(got, ref_q), kMatvecRelErrF32Act);
        if (n_y >= 32) {
            EXPECT_LE(test::rel_err(got, ref), kMatvecRelErrInt8Act);
        }
    } else {
        EXPECT_LE(test::rel_err(got, ref), x_dtype == DType::kBF16 ? kMatvecRelErrBf16Act : kMatvecRelErrF32Act);
    }
}

const DType kAllMatvecTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                 DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                                 DType::kF16,  DType::kBF16};

class MatvecBlocksTest : public testing::TestWithParam<DType> {};

TEST_P(MatvecBlocksTest, MatchesDequantizedReference) {
    const DType dtype = GetParam();
    uint32_t seed = 1000 + static_cast<uint32_t>(dtype) * 100;
    // Every token count 1..9 (9 = one chunk of 8 plus one) on a row that ends mid-way through a warp
    // step (768 = 3 K-quant blocks, 24 32-blocks), then larger and awkward shapes.
    for (int64_t t = 1; t <= 9; ++t) {
        check_blocks(dtype, Shape{37, 768, t}, DType::kF32, Path::kF32Act, seed++);
    }
    for (Shape s : {Shape{1, 256, 1}, Shape{4097, 256, 2}, Shape{257, 4096, 1}, Shape{31, 14336, 3},
                    Shape{129, 2816, 8}}) {
        check_blocks(dtype, s, DType::kF32, Path::kF32Act, seed++);
    }
    check_blocks(dtype, Shape{67, 1280, 3}, DType::kBF16, Path::kF32Act, seed++);
    if (tensor::block_size(dtype) <= 32) {  // rows of 3 and 5 32-blocks
        check_blocks(dtype, Shape{31, 96, 1}, DType::kF32, Path::kF32Act, seed++);
        check_blocks(dtype, Shape{33, 160, 5}, DType::kF32, Path::kF32Act, seed++);
    }
}

INSTANTIATE_TEST_SUITE_P(EveryType, MatvecBlocksTest, testing::ValuesIn(kAllMatvecTypes),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

class MatvecInt8Test : public testing::TestWithParam<DType> {};

TEST_P(MatvecInt8Test, MatchesInt8RoundedReference) {
    const DType dtype = GetParam();
    uint32_t seed = 5000 + static_cast<uint32_t>(dtype) * 100;
    for (int64_t t = 1; t <= 9; ++t) {
        check_blocks(dtype, Shape{37, 768, t}, DType::kF32, Path::kInt8Act, seed++);
    }
    // Q4_0/Q8_0/Q4_1/Q5_0/Q5_1 (warp step 16 blocks, 4 steps per pass): 96 and 160 are fewer blocks
    // than one step, 2080 = 65 blocks (one pass plus one block), 14336 = 448 blocks. Q4_K/Q5_K/Q6_K
    // (one super-block per step, 4 per pass): 256, 1280 (5), 2816 (11), 14336 (56). Shapes that are
    // not whole blocks of the type are skipped.
    for (Shape s : {Shape{1, 32, 1}, Shape{31, 96, 1}, Shape{33, 160, 5}, Shape{4097, 256, 2}, Shape{257, 4096, 1},
                    Shape{63, 2080, 4}, Shape{31, 14336, 3}, Shape{129, 2816, 8}, Shape{5, 512, 17},
                    Shape{65, 1280, 2}}) {
        if (s.n_in % tensor::block_size(dtype) == 0) {
            check_blocks(dtype, s, DType::kF32, Path::kInt8Act, seed++);
        }
    }
    check_blocks(dtype, Shape{67, 1280, 3}, DType::kBF16, Path::kInt8Act, seed++);
}

INSTANTIATE_TEST_SUITE_P(Dp4aTypes, MatvecInt8Test,
                         testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                                         DType::kQ4_1, DType::kQ5_0, DType::kQ5_1),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(MatvecInt8NanTest, NanInXReachesY) {
    // Token 0 has a NaN, token 1 does not: every y of token 0 is NaN, every y of token 1 finite.
    const int64_t n_out = 9;
    const int64_t n_in = 256;
    for (DType dtype : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kQ5_0, DType::kQ4_1}) {
        SCOPED_TRACE(tensor::dtype_name(dtype));
        const std::vector<uint8_t> w = random_blocks(dtype, n_out, n_in, 7);
        std::vector<float> x = test::random_floats(static_cast<size_t>(2 * n_in), 8);
        x[37] = NAN;
        gannet::cuda::DeviceBuffer x_dev = test::upload(x);
        gannet::cuda::DeviceBuffer w_dev = test::upload(w);
        gannet::cuda::DeviceBuffer y_dev = test::poisoned(2 * n_out * sizeof(float));
        MatvecArgs a;
        a.w = w_dev.data();
        a.w_dtype = dtype;
        a.n_in = n_in;
        a.n_out = n_out;
        a.n_tokens = 2;
        a.x = x_dev.data();
        a.y = y_dev.as<float>();
        const size_t bytes = matvec_scratch_size_bytes(a);
        gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes);
        a.scratch = scratch.data();
        a.scratch_size_bytes = bytes;
        ASSERT_TRUE(matvec(a, nullptr).ok());
        const std::vector<float> y = test::download<float>(y_dev, static_cast<size_t>(2 * n_out));
        for (int64_t r = 0; r < n_out; ++r) {
            EXPECT_TRUE(std::isnan(y[static_cast<size_t>(r)])) << "row " << r;
            EXPECT_TRUE(std::isfinite(y[static_cast<size_t>(n_out + r)])) << "row " << r;
        }
    }
}

TEST(MatvecScratchTest, CoversOneChunkOfTokens) {
    MatvecArgs a;
    a.w_dtype = DType::kQ4_0;
    a.n_in = 4096;
    a.n_tokens = 1;
    EXPECT_EQ(matvec_scratch_size_bytes(a), 4096u + 128u * 4u);
    a.n_tokens = 20;  // processed 8 at a time: scratch for 8
    EXPECT_EQ(matvec_scratch_size_bytes(a), 8u * 4096u + 8u * 128u * 4u);
    a.w_dtype = DType::kQ6_K;  // int8 path too
    EXPECT_EQ(matvec_scratch_size_bytes(a), 8u * 4096u + 8u * 128u * 4u);
    a.w_dtype = DType::kQ3_K;  // f32 path: no scratch
    EXPECT_EQ(matvec_scratch_size_bytes(a), 0u);
    a.w_dtype = DType::kF16;
    EXPECT_EQ(matvec_scratch_size_bytes(a), 0u);
}

TEST(MatvecErrorsTest, RejectsUnsupportedTypesAndBadSizes) {
    MatvecArgs a;
    int dummy = 0;
    a.w = &dummy;
    a.x = &dummy;
    a.y = reinterpret_cast<float*>(&dummy);
    a.n_in = 64;
    a.n_out = 1;
    a.n_tokens = 1;
    a.w_dtype = DType::kQ8_K;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kUnimplemented);
    a.w_dtype = DType::kI8;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kUnimplemented);
    a.w_dtype = DType::kQ4_K;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);  // 64 is not a whole K block
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

TEST(MatvecErrorsTest, RejectsSmallOrMisalignedScratch) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    MatvecArgs a;
    a.w = buf.data();
    a.x = buf.data();
    a.y = reinterpret_cast<float*>(static_cast<uint8_t*>(buf.data()) + 4096);
    a.w_dtype = DType::kQ8_0;
    a.n_in = 256;
    a.n_out = 4;
    a.n_tokens = 2;
    a.scratch = static_cast<uint8_t*>(buf.data()) + 8192;
    a.scratch_size_bytes = matvec_scratch_size_bytes(a) - 1;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.scratch_size_bytes = matvec_scratch_size_bytes(a);
    a.scratch = static_cast<uint8_t*>(buf.data()) + 8200;  // 8-byte aligned only
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);
    a.scratch = static_cast<uint8_t*>(buf.data()) + 8192;
    a.x = static_cast<uint8_t*>(buf.data()) + 4;  // x must be 16-byte aligned
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);
}

// --- Fused decode (#6): x quantized once for several products, y accumulated into a residual. ---

// One product on the device: y (n_tokens * n_out floats, prefilled from y_init when given, else
// poisoned) after matvec with these options. scratch: nullptr for the f32 path.
struct Product {
    DType dtype;
    int64_t n_out;
    int64_t n_in;
    int64_t n_tokens;
    const gannet::cuda::DeviceBuffer* w;
    const void* x;
};

std::vector<float> run_product(const Product& p, void* scratch, size_t scratch_bytes, bool is_x_quantized,
                               MatvecOutput y_mode, const std::vector<float>* y_init) {
    const size_t n_y = static_cast<size_t>(p.n_tokens * p.n_out);
    gannet::cuda::DeviceBuffer y_dev = y_init != nullptr ? test::upload(*y_init) : test::poisoned(n_y * sizeof(float));
    MatvecArgs a;
    a.w = p.w->data();
    a.w_dtype = p.dtype;
    a.n_in = p.n_in;
    a.n_out = p.n_out;
    a.n_tokens = p.n_tokens;
    a.x = p.x;
    a.y = y_dev.as<float>();
    a.scratch = scratch;
    a.scratch_size_bytes = scratch_bytes;
    a.is_x_quantized = is_x_quantized;
    a.y_mode = y_mode;
    const Status st = matvec(a, nullptr);
    EXPECT_TRUE(st.ok()) << st.to_string();
    return test::download<float>(y_dev, n_y);
}

class MatvecPreQuantizedTest : public testing::TestWithParam<DType> {};

// quantize_x_int8 once, then matvec with is_x_quantized for two matrices (Q and K sharing the
// norm's output): bit-identical to matvec quantizing x itself, and x is not read (a NaN x in its
// place changes nothing) for the int8-path types; the other types ignore the flag and read x.
TEST_P(MatvecPreQuantizedTest, SharedQuantizationEqualsPerCallQuantization) {
    const DType dtype = GetParam();
    const bool is_int8 = matvec_uses_int8_x(dtype);
    uint32_t seed = 7000 + static_cast<uint32_t>(dtype) * 10;
    for (int64_t n_tokens : {1, 3, 8}) {
        const int64_t n_in = 1280;  // 5 K-quant super-blocks, 40 32-blocks
        SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_tokens=" << n_tokens);
        const std::vector<float> x = test::random_floats(static_cast<size_t>(n_tokens * n_in), seed++);
        gannet::cuda::DeviceBuffer x_dev = test::upload(x);
        gannet::cuda::DeviceBuffer x_nan = test::poisoned(x.size() * sizeof(float));
        gannet::cuda::DeviceBuffer wq = test::upload(random_blocks(dtype, 67, n_in, seed++));
        gannet::cuda::DeviceBuffer wk = test::upload(random_blocks(dtype, 33, n_in, seed++));
        const size_t bytes = int8_x_size_bytes(n_tokens * n_in);
        gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes);
        for (const gannet::cuda::DeviceBuffer* w : {&wq, &wk}) {
            const int64_t n_out = w == &wq ? 67 : 33;
            const Product own{dtype, n_out, n_in, n_tokens, w, x_dev.data()};
            const std::vector<float> want =
                run_product(own, scratch.data(), bytes, false, MatvecOutput::kOverwrite, nullptr);
            // Poisoned again, so only quantize_x_int8 can make the next product right.
            ASSERT_EQ(cudaMemset(scratch.data(), 0xff, bytes), cudaSuccess);
            ASSERT_TRUE(quantize_x_int8({.x = x_dev.data(),
                                         .x_dtype = DType::kF32,
                                         .n_in = n_in,
                                         .n_tokens = n_tokens,
                                         .scratch = scratch.data(),
                                         .scratch_size_bytes = bytes},
                                        nullptr)
                            .ok());
            const Product shared{dtype, n_out, n_in, n_tokens, w, is_int8 ? x_nan.data() : x_dev.data()};
            const std::vector<float> got =
                run_product(shared, scratch.data(), bytes, true, MatvecOutput::kOverwrite, nullptr);
            EXPECT_EQ(got, want);
        }
    }
}

// y += x · Wᵀ equals y_init + (x · Wᵀ) bit for bit, for every kernel family (f32 q-kernel, dp4a,
// K-quant dp4a, block kernel, 16-bit units) and a token count that takes two chunks.
TEST_P(MatvecPreQuantizedTest, AccumulateAddsToY) {
    const DType dtype = GetParam();
    uint32_t seed = 8000 + static_cast<uint32_t>(dtype) * 10;
    for (int64_t n_tokens : {1, 9}) {
        for (bool with_scratch : {false, true}) {
            SCOPED_TRACE(testing::Message()
                         << tensor::dtype_name(dtype) << " n_tokens=" << n_tokens << " scratch=" << with_scratch);
            const int64_t n_in = 512;
            const int64_t n_out = 41;
            const std::vector<float> x = test::random_floats(static_cast<size_t>(n_tokens * n_in), seed++);
            gannet::cuda::DeviceBuffer x_dev = test::upload(x);
            gannet::cuda::DeviceBuffer w = test::upload(random_blocks(dtype, n_out, n_in, seed++));
            MatvecArgs probe;
            probe.w_dtype = dtype;
            probe.n_in = n_in;
            probe.n_tokens = n_tokens;
            const size_t bytes = with_scratch ? matvec_scratch_size_bytes(probe) : 0;
            gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes > 0 ? bytes : 16);
            void* sp = bytes > 0 ? scratch.data() : nullptr;
            const Product p{dtype, n_out, n_in, n_tokens, &w, x_dev.data()};
            const std::vector<float> prod = run_product(p, sp, bytes, false, MatvecOutput::kOverwrite, nullptr);
            const std::vector<float> y_init = test::random_floats(prod.size(), seed++, 4.0f);
            const std::vector<float> got = run_product(p, sp, bytes, false, MatvecOutput::kAccumulate, &y_init);
            ASSERT_EQ(got.size(), prod.size());
            for (size_t i = 0; i < got.size(); ++i) {
                ASSERT_EQ(got[i], y_init[i] + prod[i]) << "element " << i;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(SomeOfEachKernel, MatvecPreQuantizedTest,
                         testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ4_1,
                                         DType::kQ6_K, DType::kF16),
                         [](const testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(MatvecQuantizeXTest, Bf16XQuantizesLikeMatvec) {
    const int64_t n_in = 256;
    const int64_t n_tokens = 2;
    std::vector<float> x = test::round_to_bf16(test::random_floats(static_cast<size_t>(n_tokens * n_in), 77));
    std::vector<uint16_t> xb(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        xb[i] = fp32_to_bf16(x[i]);
    }
    gannet::cuda::DeviceBuffer x_dev = test::upload(xb);
    gannet::cuda::DeviceBuffer w = test::upload(random_blocks(DType::kQ8_0, 9, n_in, 78));
    const size_t bytes = int8_x_size_bytes(n_tokens * n_in);
    gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes);
    MatvecArgs a;
    a.w = w.data();
    a.w_dtype = DType::kQ8_0;
    a.n_in = n_in;
    a.n_out = 9;
    a.n_tokens = n_tokens;
    a.x = x_dev.data();
    a.x_dtype = DType::kBF16;
    gannet::cuda::DeviceBuffer y1 = test::poisoned(18 * sizeof(float));
    gannet::cuda::DeviceBuffer y2 = test::poisoned(18 * sizeof(float));
    a.y = y1.as<float>();
    a.scratch = scratch.data();
    a.scratch_size_bytes = bytes;
    ASSERT_TRUE(matvec(a, nullptr).ok());
    ASSERT_EQ(cudaMemset(scratch.data(), 0xff, bytes), cudaSuccess);
    ASSERT_TRUE(quantize_x_int8({.x = x_dev.data(),
                                 .x_dtype = DType::kBF16,
                                 .n_in = n_in,
                                 .n_tokens = n_tokens,
                                 .scratch = scratch.data(),
                                 .scratch_size_bytes = bytes},
                                nullptr)
                    .ok());
    a.y = y2.as<float>();
    a.is_x_quantized = true;
    ASSERT_TRUE(matvec(a, nullptr).ok());
    EXPECT_EQ(test::download<float>(y1, 18), test::download<float>(y2, 18));
}

TEST(MatvecErrorsTest, RejectsBadPreQuantizedUse) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    MatvecArgs a;
    a.w = buf.data();
    a.x = buf.data();
    a.y = reinterpret_cast<float*>(static_cast<uint8_t*>(buf.data()) + 4096);
    a.w_dtype = DType::kQ4_0;
    a.n_in = 256;
    a.n_out = 4;
    a.n_tokens = 2;
    a.is_x_quantized = true;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);  // no scratch
    a.scratch = static_cast<uint8_t*>(buf.data()) + 8192;
    a.scratch_size_bytes = 8192;
    a.n_tokens = kMatvecMaxTokens + 1;
    EXPECT_EQ(matvec(a, nullptr).code(), ErrorCode::kInvalidArgument);  // more than one chunk

    QuantizeXArgs q{.x = buf.data(),
                    .x_dtype = DType::kF32,
                    .n_in = 256,
                    .n_tokens = 2,
                    .scratch = static_cast<uint8_t*>(buf.data()) + 8192,
                    .scratch_size_bytes = int8_x_size_bytes(512)};
    EXPECT_TRUE(quantize_x_int8(q, nullptr).ok());
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    q.scratch_size_bytes -= 1;
    EXPECT_EQ(quantize_x_int8(q, nullptr).code(), ErrorCode::kInvalidArgument);
    q.scratch_size_bytes += 1;
    q.n_in = 48;
    EXPECT_EQ(quantize_x_int8(q, nullptr).code(), ErrorCode::kInvalidArgument);
    q.n_in = 256;
    q.n_tokens = kMatvecMaxTokens + 1;
    EXPECT_EQ(quantize_x_int8(q, nullptr).code(), ErrorCode::kInvalidArgument);
    q.n_tokens = 2;
    q.x_dtype = DType::kF16;
    EXPECT_EQ(quantize_x_int8(q, nullptr).code(), ErrorCode::kUnimplemented);
    q.x_dtype = DType::kF32;
    q.scratch = static_cast<uint8_t*>(buf.data()) + 8200;
    EXPECT_EQ(quantize_x_int8(q, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(int8_x_size_bytes(4096), 4096u + 128u * 4u);
    EXPECT_EQ(int8_x_size_bytes(96), 256u + 3u * 4u);
}

// --- Grouped matvec (#6): several products sharing x in one launch, bit-identical to one matvec each. ---

struct GroupCase {
    std::vector<DType> dtypes;  // one per entry
    WeightLayout layout;
    int64_t n_in;
    bool with_scratch;
    DType x_dtype;
};

// Runs matvec for each entry, then matvec_group over all of them (y and scratch poisoned first),
// and expects every y bit for bit equal. pre_quantized: quantize_x_int8 once, both runs read it.
void check_group(const GroupCase& gc, const std::vector<int64_t>& n_outs, int64_t n_tokens, bool pre_quantized,
                 uint32_t seed) {
    SCOPED_TRACE(testing::Message() << tensor::dtype_name(gc.dtypes[0]) << " entries=" << n_outs.size()
                                    << " n_out[0]=" << n_outs[0] << " n_in=" << gc.n_in << " n_tokens=" << n_tokens
                                    << " split=" << (gc.layout == WeightLayout::kQ4_0Split)
                                    << " scratch=" << gc.with_scratch << " pre_quantized=" << pre_quantized
                                    << " x=" << tensor::dtype_name(gc.x_dtype));
    const int n = static_cast<int>(n_outs.size());
    std::vector<float> x = test::random_floats(static_cast<size_t>(n_tokens * gc.n_in), seed++);
    gannet::cuda::DeviceBuffer x_dev;
    if (gc.x_dtype == DType::kBF16) {
        std::vector<uint16_t> xb(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            xb[i] = fp32_to_bf16(x[i]);
        }
        x_dev = test::upload(xb);
    } else {
        x_dev = test::upload(x);
    }
    std::vector<gannet::cuda::DeviceBuffer> w(static_cast<size_t>(n));
    for (int e = 0; e < n; ++e) {
        const DType dt = gc.dtypes[static_cast<size_t>(e)];
        std::vector<uint8_t> host = random_blocks(dt, n_outs[static_cast<size_t>(e)], gc.n_in, seed++);
        if (gc.layout == WeightLayout::kQ4_0Split && dt == DType::kQ4_0) {
            std::vector<uint8_t> split(host.size());
            ASSERT_TRUE(repack_q4_0_split(host.data(), split.data(), n_outs[static_cast<size_t>(e)], gc.n_in).ok());
            host = std::move(split);
        }
        w[static_cast<size_t>(e)] = test::upload(host);
    }
    const int64_t chunk = std::min<int64_t>(n_tokens, kMatvecMaxTokens);
    const size_t bytes = gc.with_scratch ? int8_x_size_bytes(chunk * gc.n_in) : 0;
    gannet::cuda::DeviceBuffer scratch = test::poisoned(bytes > 0 ? bytes : 16);
    void* sp = gc.with_scratch ? scratch.data() : nullptr;
    if (pre_quantized) {
        ASSERT_TRUE(quantize_x_int8({.x = x_dev.data(),
                                     .x_dtype = gc.x_dtype,
                                     .n_in = gc.n_in,
                                     .n_tokens = n_tokens,
                                     .scratch = sp,
                                     .scratch_size_bytes = bytes},
                                    nullptr)
                        .ok());
    }
    MatvecGroupArgs g{.entries = {},
                      .n_in = gc.n_in,
                      .n_tokens = n_tokens,
                      .x = x_dev.data(),
                      .x_dtype = gc.x_dtype,
                      .scratch = sp,
                      .scratch_size_bytes = bytes,
                      .is_x_quantized = pre_quantized};
    std::vector<std::vector<float>> want(static_cast<size_t>(n));
    std::vector<gannet::cuda::DeviceBuffer> y(static_cast<size_t>(n));
    for (int e = 0; e < n; ++e) {
        const auto i = static_cast<size_t>(e);
        const size_t n_y = static_cast<size_t>(n_tokens * n_outs[i]);
        y[i] = test::poisoned(n_y * sizeof(float));
        g.entries[e] = {.w = w[i].data(),
                        .w_dtype = gc.dtypes[i],
                        .w_layout = gc.dtypes[i] == DType::kQ4_0 ? gc.layout : WeightLayout::kGguf,
                        .n_out = n_outs[i],
                        .y = y[i].as<float>()};
        MatvecArgs a{.w = g.entries[e].w,
                     .w_dtype = g.entries[e].w_dtype,
                     .w_layout = g.entries[e].w_layout,
                     .n_in = gc.n_in,
                     .n_out = n_outs[i],
                     .n_tokens = n_tokens,
                     .x = x_dev.data(),
                     .x_dtype = gc.x_dtype,
                     .y = y[i].as<float>(),
                     .scratch = sp,
                     .scratch_size_bytes = bytes,
                     .is_x_quantized = pre_quantized};
        const Status st = matvec(a, nullptr);
        ASSERT_TRUE(st.ok()) << st.to_string();
        want[i] = test::download<float>(y[i], n_y);
        ASSERT_EQ(cudaMemset(y[i].data(), 0xff, n_y * sizeof(float)), cudaSuccess);
    }
    g.n_entries = n;
    if (!pre_quantized && bytes > 0) {
        ASSERT_EQ(cudaMemset(scratch.data(), 0xff, bytes), cudaSuccess);
    }
    const Status st = matvec_group(g, nullptr);
    ASSERT_TRUE(st.ok()) << st.to_string();
    for (int e = 0; e < n; ++e) {
        const auto i = static_cast<size_t>(e);
        const std::vector<float> got = test::download<float>(y[i], want[i].size());
        ASSERT_EQ(got.size(), want[i].size());
        for (size_t j = 0; j < got.size(); ++j) {
            ASSERT_EQ(std::memcmp(&got[j], &want[i][j], sizeof(float)), 0)
                << "entry " << e << " element " << j << ": " << got[j] << " vs " << want[i][j];
        }
    }
}

// Every grouped kernel (Q4_0 GGUF and split, Q8_0 on the int8 path; F16 / BF16 with 16-byte units
// and, at n_in = 160, eight threads per row so one warp spans entries; the scalar unit at n_in = 40)
// at awkward row counts, one to three entries, every chunk size and two chunks (the fallback).
TEST(MatvecGroupTest, GroupedEqualsSeparateBitForBit) {
    const std::vector<GroupCase> cases = {
        {{DType::kQ4_0}, WeightLayout::kGguf, 512, true, DType::kF32},
        {{DType::kQ4_0}, WeightLayout::kQ4_0Split, 512, true, DType::kF32},
        {{DType::kQ4_0}, WeightLayout::kQ4_0Split, 160, true, DType::kBF16},
        {{DType::kQ8_0}, WeightLayout::kGguf, 512, true, DType::kF32},
        {{DType::kQ8_0}, WeightLayout::kGguf, 160, true, DType::kF32},
        {{DType::kF16}, WeightLayout::kGguf, 512, false, DType::kF32},
        {{DType::kF16}, WeightLayout::kGguf, 160, false, DType::kF32},
        {{DType::kBF16}, WeightLayout::kGguf, 512, false, DType::kF32},
        {{DType::kBF16}, WeightLayout::kGguf, 160, false, DType::kBF16},
        {{DType::kF16}, WeightLayout::kGguf, 40, false, DType::kF32},
        {{DType::kQ4_0}, WeightLayout::kGguf, 256, false, DType::kF32},  // f32 path: fallback
    };
    const std::vector<std::vector<int64_t>> groups = {{1, 31, 4097}, {4097, 1}, {31, 31, 1}, {31}};
    uint32_t seed = 9000;
    for (const GroupCase& base : cases) {
        for (const std::vector<int64_t>& n_outs : groups) {
            GroupCase gc = base;
            gc.dtypes.assign(n_outs.size(), base.dtypes[0]);
            for (int64_t n_tokens : {1, 3, 8, 9}) {
                check_group(gc, n_outs, n_tokens, false, seed);
                seed += 10;
                if (gc.with_scratch && n_tokens <= kMatvecMaxTokens) {
                    check_group(gc, n_outs, n_tokens, true, seed);
                    seed += 10;
                }
            }
        }
    }
}

// Entries of different types (a Q4_K_M-style Q/K/V) take one launch per entry: still bit-identical.
TEST(MatvecGroupTest, MixedTypesFallBackBitForBit) {
    const GroupCase gc{{DType::kQ4_0, DType::kQ6_K, DType::kQ8_0}, WeightLayout::kGguf, 512, true, DType::kF32};
    check_group(gc, {33, 7, 65}, 1, false, 9900);
    check_group(gc, {33, 7, 65}, 4, true, 9910);
    const GroupCase halves{{DType::kF16, DType::kBF16}, WeightLayout::kGguf, 512, true, DType::kF32};
    check_group(halves, {5, 31}, 2, false, 9920);
}

TEST(MatvecErrorsTest, RejectsBadGroups) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    MatvecGroupArgs g{.entries = {}, .n_in = 256, .n_tokens = 1, .x = buf.data()};
    EXPECT_EQ(matvec_group(g, nullptr).code(), ErrorCode::kInvalidArgument);  // no entries
    g.n_entries = kMatvecMaxGroup + 1;
    EXPECT_EQ(matvec_group(g, nullptr).code(), ErrorCode::kInvalidArgument);
    g.n_entries = 2;
    g.entries[0] = {.w = buf.data(), .w_dtype = DType::kF16, .n_out = 4, .y = buf.as<float>() + 4096};
    g.entries[1] = {.w = buf.data(), .w_dtype = DType::kF16, .n_out = 4, .y = nullptr};
    EXPECT_EQ(matvec_group(g, nullptr).code(), ErrorCode::kInvalidArgument);  // second y null
    g.entries[1].y = buf.as<float>() + 8192;
    g.entries[1].w_dtype = DType::kF32;
    EXPECT_EQ(matvec_group(g, nullptr).code(), ErrorCode::kUnimplemented);
    g.entries[1].w_dtype = DType::kQ4_0;
    g.entries[1].w_layout = WeightLayout::kQ4_0Split;  // split needs scratch
    EXPECT_EQ(matvec_group(g, nullptr).code(), ErrorCode::kInvalidArgument);
    g.entries[1].w_dtype = DType::kF16;
    g.entries[1].w_layout = WeightLayout::kGguf;
    EXPECT_TRUE(matvec_group(g, nullptr).ok());
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace gannet::kernels::cuda
