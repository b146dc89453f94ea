// Tests for kernels::matmul: every SIMD path this CPU has, against the dequantize-then-dot reference.
//
// Tolerances. Let m_i = |w_i x_i| and M = Σ m_i (the size of the terms, which is what float
// rounding scales with; |y| itself can be tiny through cancellation).
// - F32/F16/BF16: both sides use the same float weights (F16/BF16 widen exactly) and differ only in
//   summation order: |y - y_ref| <= 1e-5 M (float32 eps is 6e-8, so 1e-5 leaves 160x headroom).
// - Q4_0/Q8_0: the kernels round x to x~ = d q with d = amax_b / 127 per 32-block b and
//   |q - x / d| <= 1/2, so |x_i - x~_i| <= amax_b / 254, and
//       |y - y_ref| <= Σ_b (amax_b / 254) Σ_{i in b} |w_i|  +  float rounding.
//   The kernels also carry an offset c (8 for Q4_0 nibbles, 128 for Q8_0 under VNNI) through the
//   block sums, so their float rounding scales with M_c = Σ_i (|w_i| + c d_w,b) |x~_i|; we allow
//   1e-5 M_c for it and 1e-3 relative slack on the quantization term for rounding in x * (127/amax).
//   A second, tight check runs the reference on x~ itself: then only the 1e-5 M_c term remains.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "base/allocation_counter_for_test.h"
#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/matmul_internal.h"
#include "kernels/matmul_kquants.h"
#include "tensor/quant.h"
#include "tensor/quant_k_quantize.h"

namespace gannet::kernels {
namespace {

using tensor::DType;

struct Shape {
    int64_t n_out;
    int64_t n_in;
    int64_t n_tokens;
};

// Awkward sizes: a single row, a prime, one past a power of two, short and long rows, token counts
// that leave every remainder of the 2- and 4-token tiles, and odd block counts (96 = 3 blocks,
// 2080 = 65), whose last activation block is stored unpaired.
const Shape kShapes[] = {
    {1, 32, 1},    {31, 64, 3}, {4097, 64, 17}, {4097, 32, 1}, {31, 4096, 17}, {1, 4096, 3},
    {33, 4096, 1}, {17, 64, 5}, {4097, 256, 1}, {15, 32, 2},   {7, 96, 5},     {33, 2080, 4},
};

struct Weights {
    std::vector<uint8_t> bytes;  // [n_out][row_size_bytes]
    std::vector<float> deq;      // [n_out][n_in] what the bytes mean
};

Weights make_weights(DType dtype, int64_t n_out, int64_t n_in, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> src(static_cast<size_t>(n_out * n_in));
    for (float& v : src) {
        v = dist(rng);
    }
    Weights w;
    const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
    w.bytes.resize(row_bytes * static_cast<size_t>(n_out));
    w.deq.resize(src.size());
    for (int64_t r = 0; r < n_out; ++r) {
        // K-quants have their own quantizers (search over scales), the other types quantize_row.
        const Status s = tensor::is_k_quant_writable(dtype)
                             ? tensor::quantize_row_weighted(dtype, &src[r * n_in], &w.bytes[r * row_bytes], n_in,
                                                             /*importance=*/nullptr)
                             : tensor::quantize_row(dtype, &src[r * n_in], &w.bytes[r * row_bytes], n_in);
        EXPECT_TRUE(s.ok()) << s.to_string();
        EXPECT_TRUE(tensor::dequantize_row(dtype, &w.bytes[r * row_bytes], &w.deq[r * n_in], n_in).ok());
    }
    return w;
}

std::vector<float> make_x(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) {
        v = dist(rng);
    }
    return x;
}

// x~: what the Q kernels actually multiply by (quantized, then widened back to float).
std::vector<float> quantize_dequantize_x(const MatmulArgs& a) {
    std::vector<int8_t> qs(static_cast<size_t>(a.n_tokens * a.n_in));
    const int64_t nb = a.n_in / detail::kXBlock;
    std::vector<float> d(static_cast<size_t>(a.n_tokens * nb));
    std::vector<int32_t> sums(d.size());
    detail::QuantizedX q{qs.data(), d.data(), sums.data(), a.n_in, nb};
    detail::quantize_x_portable(a, q, 0, a.n_tokens);
    std::vector<float> out(qs.size());
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        for (int64_t b = 0; b < nb; ++b) {
            for (int i = 0; i < detail::kXBlock; ++i) {
                const int8_t v = qs[static_cast<size_t>(t * a.n_in + detail::x_offset(nb, b, i))];
                out[static_cast<size_t>(t * a.n_in + b * detail::kXBlock + i)] = d[t * nb + b] * static_cast<float>(v);
            }
        }
    }
    return out;
}

bool is_q(DType dtype) {
    return dtype == DType::kQ4_0 || dtype == DType::kQ8_0;
}
float offset_of(DType dtype) {
    return dtype == DType::kQ4_0 ? 8.0f : dtype == DType::kQ8_0 ? 128.0f : 0.0f;
}

// Per-output bounds (see the file comment): `loose` against the reference on x, `tight` against the
// reference on x~.
void bounds(DType dtype, const Weights& w, const std::vector<float>& x, const std::vector<float>& xq, const Shape& s,
            std::vector<float>& loose, std::vector<float>& tight) {
    loose.assign(static_cast<size_t>(s.n_tokens * s.n_out), 0.0f);
    tight.assign(loose.size(), 0.0f);
    const float c = offset_of(dtype);
    for (int64_t t = 0; t < s.n_tokens; ++t) {
        for (int64_t r = 0; r < s.n_out; ++r) {
            const float* wr = &w.deq[r * s.n_in];
            const float* xr = &x[t * s.n_in];
            double m = 0.0, quant = 0.0;
            for (int64_t b0 = 0; b0 < s.n_in; b0 += 32) {
                const int64_t b1 = std::min(b0 + 32, s.n_in);
                double amax = 0.0, wsum = 0.0, wmax = 0.0;
                for (int64_t i = b0; i < b1; ++i) {
                    amax = std::max(amax, static_cast<double>(std::fabs(xr[i])));
                    wsum += std::fabs(wr[i]);
                    wmax = std::max(wmax, static_cast<double>(std::fabs(wr[i])));
                }
                quant += amax / 254.0 * wsum;
                // d_w of the block is at most max|w| / 7 (Q4_0) or / 127 (Q8_0); use max|w| as a cap.
                for (int64_t i = b0; i < b1; ++i) {
                    const double xi = is_q(dtype) ? std::fabs(xq[t * s.n_in + i]) : std::fabs(xr[i]);
                    m += (std::fabs(wr[i]) + c * wmax) * xi;
                }
            }
            const size_t k = static_cast<size_t>(t * s.n_out + r);
            tight[k] = static_cast<float>(1e-5 * m);
            loose[k] = static_cast<float>((is_q(dtype) ? quant * 1.001 : 0.0) + 1e-5 * m);
        }
    }
}

std::vector<Isa> simd_isas() {
    std::vector<Isa> isas;
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
        if (isa_supported(isa)) {
            isas.push_back(isa);
        }
    }
    return isas;
}

class MatmulDtypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulDtypeTest, EverySimdPathMatchesTheReferenceWithinTheDerivedBound) {
    const DType dtype = GetParam();
    ThreadPool pool(2);
    uint32_t seed = 1;
    for (const Shape& s : kShapes) {
        SCOPED_TRACE(testing::Message() << "n_out=" << s.n_out << " n_in=" << s.n_in << " n_tokens=" << s.n_tokens);
        const Weights w = make_weights(dtype, s.n_out, s.n_in, seed++);
        const std::vector<float> x = make_x(s.n_tokens * s.n_in, seed++);
        MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), nullptr};
        std::vector<float> y_ref(static_cast<size_t>(s.n_tokens * s.n_out));
        a.y = y_ref.data();
        ASSERT_TRUE(matmul_reference(a).ok());

        // Reference on x~ (only meaningful for Q weights; equals y_ref otherwise).
        std::vector<float> xq = is_q(dtype) ? quantize_dequantize_x(a) : x;
        std::vector<float> y_ref_q(y_ref.size());
        MatmulArgs aq = a;
        aq.x = xq.data();
        aq.y = y_ref_q.data();
        ASSERT_TRUE(matmul_reference(aq).ok());

        std::vector<float> loose, tight;
        bounds(dtype, w, x, xq, s, loose, tight);
        for (Isa isa : simd_isas()) {
            SCOPED_TRACE(isa_name(isa));
            std::vector<float> y(y_ref.size(), NAN);
            a.y = y.data();
            ASSERT_TRUE(matmul(a, pool, isa).ok());
            int n_bad = 0;
            for (size_t k = 0; k < y.size() && n_bad < 5; ++k) {
                if (!(std::fabs(y[k] - y_ref_q[k]) <= tight[k]) || !(std::fabs(y[k] - y_ref[k]) <= loose[k])) {
                    ADD_FAILURE() << "y[" << k << "]=" << y[k] << " ref=" << y_ref[k] << " ref_on_xq=" << y_ref_q[k]
                                  << " tight=" << tight[k] << " loose=" << loose[k];
                    ++n_bad;
                }
            }
        }
    }
}

TEST_P(MatmulDtypeTest, ResultsDoNotDependOnTheThreadCount) {
    const DType dtype = GetParam();
    const Shape s{4097, 64, 3};
    const Weights w = make_weights(dtype, s.n_out, s.n_in, 7);
    const std::vector<float> x = make_x(s.n_tokens * s.n_in, 8);
    std::vector<float> y1(static_cast<size_t>(s.n_tokens * s.n_out)), y3(y1.size());
    ThreadPool pool1(1), pool3(3);
    MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), y1.data()};
    ASSERT_TRUE(matmul(a, pool1).ok());
    a.y = y3.data();
    ASSERT_TRUE(matmul(a, pool3).ok());
    EXPECT_EQ(y1, y3);  // each output is computed by one thread in a fixed order: bit-identical
}

// Float weights take any row length; the SIMD loops then end in a masked or scalar tail.
class MatmulFloatDtypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulFloatDtypeTest, OddRowLengthsUseTheTailPath) {
    const DType dtype = GetParam();
    ThreadPool pool(2);
    for (int64_t n_in : {1, 7, 37, 100}) {
        const Shape s{9, n_in, 5};
        const Weights w = make_weights(dtype, s.n_out, s.n_in, 11);
        const std::vector<float> x = make_x(s.n_tokens * s.n_in, 12);
        std::vector<float> y_ref(static_cast<size_t>(s.n_tokens * s.n_out)), y(y_ref.size());
        MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), y_ref.data()};
        ASSERT_TRUE(matmul_reference(a).ok());
        std::vector<float> loose, tight;
        bounds(dtype, w, x, x, s, loose, tight);
        for (Isa isa : simd_isas()) {
            a.y = y.data();
            ASSERT_TRUE(matmul(a, pool, isa).ok());
            for (size_t k = 0; k < y.size(); ++k) {
                EXPECT_NEAR(y[k], y_ref[k], tight[k]) << isa_name(isa) << " n_in=" << n_in << " k=" << k;
            }
        }
    }
}

TEST_P(MatmulDtypeTest, SteadyStateCallsDoNotAllocate) {
    const DType dtype = GetParam();
    const Shape s{256, 2048, 5};
    const Weights w = make_weights(dtype, s.n_out, s.n_in, 13);
    const std::vector<float> x = make_x(s.n_tokens * s.n_in, 14);
    std::vector<float> y(static_cast<size_t>(s.n_tokens * s.n_out));
    ThreadPool pool(2);
    MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), y.data()};
    ASSERT_TRUE(matmul(a, pool).ok());  // warm-up: may size the thread_local scratch
    const int64_t before = test_support::allocation_count();
    ASSERT_TRUE(matmul(a, pool).ok());
    a.n_tokens = 1;
    ASSERT_TRUE(matmul(a, pool).ok());  // smaller shapes reuse the buffer
    EXPECT_EQ(test_support::allocation_count() - before, 0);
}

INSTANTIATE_TEST_SUITE_P(FloatDtypes, MatmulFloatDtypeTest, ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

INSTANTIATE_TEST_SUITE_P(AllDtypes, MatmulDtypeTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0),
                         [](const ::testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(MatmulTest, CallerScratchIsUsedAndGivesTheSameResult) {
    const Shape s{64, 256, 3};
    const Weights w = make_weights(DType::kQ4_0, s.n_out, s.n_in, 21);
    const std::vector<float> x = make_x(s.n_tokens * s.n_in, 22);
    std::vector<float> y1(static_cast<size_t>(s.n_tokens * s.n_out)), y2(y1.size());
    ThreadPool pool(2);
    MatmulArgs a{w.bytes.data(), DType::kQ4_0, s.n_in, s.n_out, s.n_tokens, x.data(), y1.data()};
    ASSERT_TRUE(matmul(a, pool).ok());
    const size_t need = matmul_scratch_size_bytes(a);
    EXPECT_GE(need, static_cast<size_t>(s.n_tokens * s.n_in));  // at least one byte per activation
    alignas(64) static uint8_t scratch[1 << 16];
    ASSERT_LE(need, sizeof(scratch));
    std::fill(scratch, scratch + need, 0xAB);
    a.scratch = scratch;
    a.scratch_size_bytes = need;
    a.y = y2.data();
    ASSERT_TRUE(matmul(a, pool).ok());
    EXPECT_EQ(y1, y2);
    EXPECT_NE(scratch[0], 0xAB);  // the caller's buffer was written, not the thread_local one
}

TEST(MatmulTest, AvxQuantizerMatchesThePortableOneBitForBit) {
    if (!isa_supported(Isa::kAvx2)) {
        GTEST_SKIP() << "no AVX2";
    }
    const int64_t n_in = 4096, n_tokens = 3;
    std::vector<float> x = make_x(n_tokens * n_in, 31);
    for (int i = 0; i < 32; ++i) {
        x[static_cast<size_t>(64 + i)] = 0.0f;  // an all-zero block: d = 0, q = 0
    }
    MatmulArgs a{nullptr, DType::kQ8_0, n_in, 1, n_tokens, x.data(), nullptr};
    const int64_t nb = n_in / 32;
    alignas(32) static int8_t qs1[3 * 4096], qs2[3 * 4096];
    std::vector<float> d1(static_cast<size_t>(n_tokens * nb)), d2(d1.size());
    std::vector<int32_t> s1(d1.size()), s2(d1.size());
    detail::quantize_x_portable(a, detail::QuantizedX{qs1, d1.data(), s1.data(), n_in, nb}, 0, n_tokens);
    detail::quantize_x_avx2(a, detail::QuantizedX{qs2, d2.data(), s2.data(), n_in, nb}, 0, n_tokens);
    EXPECT_EQ(std::vector<int8_t>(qs1, qs1 + n_tokens * n_in), std::vector<int8_t>(qs2, qs2 + n_tokens * n_in));
    EXPECT_EQ(d1, d2);
    EXPECT_EQ(s1, s2);
    EXPECT_EQ(d1[2], 0.0f);
}

TEST(MatmulTest, InvalidArgumentsAreErrors) {
    ThreadPool pool(1);
    std::vector<uint8_t> w(18 * 64);
    std::vector<float> x(64), y(64);
    const MatmulArgs good{w.data(), DType::kQ4_0, 64, 2, 1, x.data(), y.data()};
    ASSERT_TRUE(matmul(good, pool).ok());

    MatmulArgs a = good;
    a.n_in = 48;  // not a whole number of 32-blocks
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(matmul_reference(a).code(), ErrorCode::kInvalidArgument);
    a = good;
    a.n_out = 0;
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kInvalidArgument);
    a = good;
    a.n_in = -32;
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kInvalidArgument);
    a = good;
    a.n_tokens = -1;
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kInvalidArgument);
    a = good;
    a.x = nullptr;
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kInvalidArgument);
    a = good;
    a.y = nullptr;
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kInvalidArgument);
    a = good;
    a.w = nullptr;
    const Status st = matmul(a, pool);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("null"), std::string::npos) << st.message();
    a = good;
    a.w_dtype = static_cast<DType>(99);
    EXPECT_EQ(matmul(a, pool).code(), ErrorCode::kUnimplemented);
}

// The other block types (Q4_1, Q5_x, K-quants): the portable ISA is the reference itself; the
// SIMD ISAs take the fused int8 kernels, checked in MatmulFusedTest below.
TEST(MatmulTest, PortablePathOfOtherBlockTypesIsTheReference) {
    ThreadPool pool(2);
    for (DType dtype : {DType::kQ4_1, DType::kQ5_0, DType::kQ4_K, DType::kQ6_K}) {
        const int64_t n_in = tensor::block_size(dtype) == 256 ? 512 : 64;
        const Weights w = make_weights(dtype, 37, n_in, 51);
        const std::vector<float> x = make_x(3 * n_in, 52);
        std::vector<float> y_ref(3 * 37), y_portable(y_ref.size());
        MatmulArgs a{w.bytes.data(), dtype, n_in, 37, 3, x.data(), y_ref.data()};
        ASSERT_TRUE(matmul_reference(a).ok());
        a.y = y_portable.data();
        ASSERT_TRUE(matmul(a, pool, Isa::kPortable).ok());
        EXPECT_EQ(y_portable, y_ref) << tensor::dtype_name(dtype);
    }
}

// ---- Fused int8 kernels for Q2_K..Q6_K, Q4_1, Q5_0, Q5_1 ----
//
// Tolerances (as in the file comment, with the activation block B = 256 for K-quants, 32 for the
// others): the kernels multiply by x~ = d q, d = amax_B / 127, so against the exact product on x
//     |y - y_ref| <= Σ_B (amax_B / 254) Σ_{i in B} |w_i|  +  float rounding,
// and against a double-precision dot on x~ only float rounding remains. The integer sums are
// exact; the float steps (d_w * d_x, int32 -> float, the FMA chain over blocks) act on terms that
// include the offsets/mins (Q6_K's -32, Q3_K's -4, Q5_0's -16, the K mins, Q4_1/Q5_1's m), each at
// most ~2 max|w_row| per element, so we allow 1e-5 Σ_i (|w_i| + 2 max|w_row|) |x~_i|.

std::vector<float> quantize_dequantize_xk(const MatmulArgs& a, int block) {
    std::vector<uint8_t> buf(detail::xk_scratch_bytes(a.n_tokens, a.n_in, block) + 64);
    uint8_t* base = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
    const detail::QuantizedXK q = detail::carve_xk(a.n_tokens, a.n_in, block, base);
    detail::quantize_xk_avx2(a, q, 0, a.n_tokens);
    std::vector<float> out(static_cast<size_t>(a.n_tokens * a.n_in));
    for (int64_t i = 0; i < a.n_tokens * a.n_in; ++i) {
        out[static_cast<size_t>(i)] = q.d[i / block] * static_cast<float>(q.qs[i]);
    }
    return out;
}

class MatmulFusedTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulFusedTest, MatchesADoubleDotOnTheQuantizedActivationsWithinTheDerivedBound) {
    if (!isa_supported(Isa::kAvx2)) {
        GTEST_SKIP() << "no AVX2";
    }
    const DType dtype = GetParam();
    const int block = detail::xk_block(dtype);
    ASSERT_GT(block, 0);
    // n_out not a multiple of 8 or 16, token counts around the tiles, n_in = 256 k (and odd block
    // counts for the 32-types).
    const std::vector<Shape> shapes =
        block == 256 ? std::vector<Shape>{{1, 256, 1},  {31, 512, 3},  {4097, 256, 1}, {33, 2048, 5},
                                          {7, 768, 17}, {17, 5632, 2}, {100, 1280, 1}}
                     : std::vector<Shape>{{1, 32, 1},  {31, 64, 3},   {4097, 32, 1}, {33, 2080, 5},
                                          {7, 96, 17}, {17, 5632, 2}, {100, 2048, 1}};
    ThreadPool pool(2);
    uint32_t seed = 101;
    for (const Shape& s : shapes) {
        SCOPED_TRACE(testing::Message() << tensor::dtype_name(dtype) << " n_out=" << s.n_out << " n_in=" << s.n_in
                                        << " n_tokens=" << s.n_tokens);
        const Weights w = make_weights(dtype, s.n_out, s.n_in, seed++);
        const std::vector<float> x = make_x(s.n_tokens * s.n_in, seed++);
        MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), nullptr};
        const std::vector<float> xq = quantize_dequantize_xk(a, block);
        std::vector<double> ref(static_cast<size_t>(s.n_tokens * s.n_out)), ref_q(ref.size());
        std::vector<double> tight(ref.size()), loose(ref.size());
        for (int64_t r = 0; r < s.n_out; ++r) {
            const float* wr = &w.deq[r * s.n_in];
            double wmax = 0.0;
            for (int64_t i = 0; i < s.n_in; ++i) {
                wmax = std::max(wmax, static_cast<double>(std::fabs(wr[i])));
            }
            for (int64_t t = 0; t < s.n_tokens; ++t) {
                const float* xr = &x[t * s.n_in];
                const float* xqr = &xq[t * s.n_in];
                double y = 0.0, yq = 0.0, m = 0.0, quant = 0.0;
                for (int64_t b0 = 0; b0 < s.n_in; b0 += block) {
                    double amax = 0.0, wsum = 0.0;
                    for (int64_t i = b0; i < b0 + block; ++i) {
                        y += static_cast<double>(wr[i]) * xr[i];
                        yq += static_cast<double>(wr[i]) * xqr[i];
                        m += (std::fabs(wr[i]) + 2.0 * wmax) * std::fabs(xqr[i]);
                        amax = std::max(amax, static_cast<double>(std::fabs(xr[i])));
                        wsum += std::fabs(wr[i]);
                    }
                    quant += amax / 254.0 * wsum;
                }
                const size_t k = static_cast<size_t>(t * s.n_out + r);
                ref[k] = y;
                ref_q[k] = yq;
                tight[k] = 1e-5 * m;
                loose[k] = quant * 1.001 + 1e-5 * m;
            }
        }
        for (Isa isa : simd_isas()) {
            SCOPED_TRACE(isa_name(isa));
            std::vector<float> out(ref.size(), NAN);
            a.y = out.data();
            ASSERT_TRUE(matmul(a, pool, isa).ok());
            int n_bad = 0;
            for (size_t k = 0; k < out.size() && n_bad < 5; ++k) {
                if (!(std::fabs(out[k] - ref_q[k]) <= tight[k]) || !(std::fabs(out[k] - ref[k]) <= loose[k])) {
                    ADD_FAILURE() << "y[" << k << "]=" << out[k] << " ref=" << ref[k] << " ref_on_xq=" << ref_q[k]
                                  << " tight=" << tight[k] << " loose=" << loose[k];
                    ++n_bad;
                }
            }
        }
    }
}

TEST_P(MatmulFusedTest, ThreadCountAndScratchDoNotChangeResultsAndSteadyStateDoesNotAllocate) {
    const DType dtype = GetParam();
    const Shape s{1000, 512, 3};
    const Weights w = make_weights(dtype, s.n_out, s.n_in, 61);
    const std::vector<float> x = make_x(s.n_tokens * s.n_in, 62);
    std::vector<float> y1(static_cast<size_t>(s.n_tokens * s.n_out)), y3(y1.size());
    ThreadPool pool1(1), pool3(3);
    MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), y1.data()};
    ASSERT_TRUE(matmul(a, pool1).ok());
    a.y = y3.data();
    ASSERT_TRUE(matmul(a, pool3).ok());
    EXPECT_EQ(y1, y3);
    const int64_t before = test_support::allocation_count();
    ASSERT_TRUE(matmul(a, pool3).ok());
    a.n_tokens = 1;
    ASSERT_TRUE(matmul(a, pool3).ok());
    EXPECT_EQ(test_support::allocation_count() - before, 0);

    // A caller's scratch of matmul_scratch_size_bytes() is used and gives the same result.
    a.n_tokens = s.n_tokens;
    const size_t need = matmul_scratch_size_bytes(a);
    EXPECT_GE(need, static_cast<size_t>(s.n_tokens * s.n_in));
    std::vector<uint8_t> buf(need + 64, 0xAB);
    uint8_t* scratch = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
    a.scratch = scratch;
    a.scratch_size_bytes = need;
    std::vector<float> y2(y1.size());
    a.y = y2.data();
    ASSERT_TRUE(matmul(a, pool3).ok());
    EXPECT_EQ(y1, y2);
    EXPECT_NE(scratch[0], 0xAB);
}

// The AVX-512 VNNI build of the fused kernels computes the same int32 lanes with fewer instructions
// and then the same float operations, so it must agree with the AVX2 build to the bit.
TEST_P(MatmulFusedTest, Avx512BuildIsBitIdenticalToTheAvx2Build) {
    if (!isa_supported(Isa::kAvx512)) {
        GTEST_SKIP() << "no AVX-512 VNNI";
    }
    const DType dtype = GetParam();
    const int64_t n_in = detail::xk_block(dtype) == 256 ? 1280 : 2080;  // odd counts of blocks
    ThreadPool pool(2);
    for (int64_t n_tokens : {1, 2, 3, 4, 9}) {
        SCOPED_TRACE(testing::Message() << "n_tokens=" << n_tokens);
        const Weights w = make_weights(dtype, 45, n_in, 71);
        const std::vector<float> x = make_x(n_tokens * n_in, 72);
        std::vector<float> y2(static_cast<size_t>(n_tokens * 45), NAN), y5(y2.size(), NAN);
        MatmulArgs a{w.bytes.data(), dtype, n_in, 45, n_tokens, x.data(), y2.data()};
        ASSERT_TRUE(matmul(a, pool, Isa::kAvx2).ok());
        a.y = y5.data();
        ASSERT_TRUE(matmul(a, pool, Isa::kAvx512).ok());
        EXPECT_EQ(0, std::memcmp(y2.data(), y5.data(), y2.size() * sizeof(float)));
    }
}

INSTANTIATE_TEST_SUITE_P(BlockTypes, MatmulFusedTest,
                         ::testing::Values(DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                                           DType::kQ4_1, DType::kQ5_0, DType::kQ5_1),
                         [](const ::testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

// Batch invariance, which the server's determinism rests on: a token's outputs are bit-identical
// whether it is computed alone (decode), inside a 37-token batch (prefill tiles of 4 plus a
// remainder), in another chunking of the same prompt, or with another thread count. Every dtype
// with a kernel, on every ISA this CPU has (the portable one included).
class MatmulBatchInvarianceTest : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulBatchInvarianceTest, ATokensOutputsDoNotDependOnItsBatchMatesChunkingOrThreads) {
    const DType dtype = GetParam();
    // n_out: not a multiple of the 4- or 8-row tiles or the 16-row thread group; n_in: 2 K
    // super-blocks, an even count of 32-blocks, and for 32-block dtypes also 15 blocks (an odd count:
    // the unpaired last block). 37 tokens: 9 full 4-token tiles and a remainder of 1.
    std::vector<Shape> shapes = {{75, 512, 37}};
    if (tensor::block_size(dtype) <= 32) {
        shapes.push_back({75, 480, 37});
    }
    ThreadPool pool1(1), pool2(2), pool3(3);
    std::vector<Isa> isas = simd_isas();
    isas.push_back(Isa::kPortable);
    for (const Shape& s : shapes) {
        for (Isa isa : isas) {
            SCOPED_TRACE(testing::Message() << isa_name(isa) << " n_in=" << s.n_in);
            const Weights w = make_weights(dtype, s.n_out, s.n_in, 91);
            const std::vector<float> x = make_x(s.n_tokens * s.n_in, 92);
            std::vector<float> batch(static_cast<size_t>(s.n_tokens * s.n_out), NAN);
            MatmulArgs a{w.bytes.data(), dtype, s.n_in, s.n_out, s.n_tokens, x.data(), batch.data()};
            ASSERT_TRUE(matmul(a, pool2, isa).ok());
            // Two chunks (13 + 24 tokens): the second starts mid-tile relative to the whole batch.
            std::vector<float> chunked(batch.size(), NAN);
            for (const auto& [t0, t1] : {std::pair<int64_t, int64_t>{0, 13}, {13, 37}}) {
                MatmulArgs c = a;
                c.n_tokens = t1 - t0;
                c.x = x.data() + t0 * s.n_in;
                c.y = chunked.data() + t0 * s.n_out;
                ASSERT_TRUE(matmul(c, pool3, isa).ok());
            }
            EXPECT_EQ(0, std::memcmp(batch.data(), chunked.data(), batch.size() * sizeof(float)));
            for (int64_t t : {int64_t{0}, int64_t{5}, int64_t{36}}) {
                SCOPED_TRACE(testing::Message() << "token " << t);
                for (ThreadPool* pool : {&pool1, &pool3}) {
                    std::vector<float> alone(static_cast<size_t>(s.n_out), NAN);
                    MatmulArgs one = a;
                    one.n_tokens = 1;
                    one.x = x.data() + t * s.n_in;
                    one.y = alone.data();
                    ASSERT_TRUE(matmul(one, *pool, isa).ok());
                    EXPECT_EQ(0, std::memcmp(alone.data(), &batch[static_cast<size_t>(t * s.n_out)],
                                             alone.size() * sizeof(float)));
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(EveryKernelDtype, MatmulBatchInvarianceTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                           DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K),
                         [](const ::testing::TestParamInfo<DType>& p) {
                             return std::string(tensor::dtype_name(p.param));
                         });

TEST(MatmulTest, KQuantActivationQuantizerKeepsItsErrorBoundAndBlockSums) {
    if (!isa_supported(Isa::kAvx2)) {
        GTEST_SKIP() << "no AVX2";
    }
    for (int block : {32, 256}) {
        const int64_t n_in = 1024, n_tokens = 2;
        std::vector<float> x = make_x(n_tokens * n_in, 71);
        for (int i = 0; i < block; ++i) {
            x[static_cast<size_t>(block + i)] = 0.0f;  // an all-zero block: d = 0, q = 0
        }
        const MatmulArgs a{nullptr, DType::kQ6_K, n_in, 1, n_tokens, x.data(), nullptr};
        std::vector<uint8_t> buf(detail::xk_scratch_bytes(n_tokens, n_in, block) + 64);
        uint8_t* base = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
        const detail::QuantizedXK q = detail::carve_xk(n_tokens, n_in, block, base);
        detail::quantize_xk_avx2(a, q, 0, n_tokens);
        EXPECT_EQ(q.d[1], 0.0f);
        for (int64_t i = 0; i < n_tokens * n_in; ++i) {
            const float d = q.d[i / block];
            EXPECT_LE(std::fabs(x[static_cast<size_t>(i)] - d * q.qs[i]), d * 0.5f * 1.0001f) << block << " " << i;
        }
        for (int64_t g = 0; g < n_tokens * n_in / 16; ++g) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) {
                sum += q.qs[g * 16 + i];
            }
            EXPECT_EQ(q.bsums[g], sum) << block << " group " << g;
        }
    }
}

TEST(MatmulTest, ZeroTokensIsANoOp) {
    ThreadPool pool(2);
    std::vector<float> w(4 * 8, 1.0f);
    std::vector<float> y(1, 42.0f);
    const MatmulArgs a{w.data(), DType::kF32, 8, 4, 0, nullptr, y.data()};
    EXPECT_TRUE(matmul(a, pool).ok());
    EXPECT_TRUE(matmul_reference(a).ok());
    EXPECT_EQ(y[0], 42.0f);
}

TEST(MatmulTest, IsaQueriesAreConsistent) {
    EXPECT_TRUE(isa_supported(Isa::kPortable));
    EXPECT_TRUE(isa_supported(best_isa()));
    EXPECT_NE(best_isa(), Isa::kAuto);
    if (isa_supported(Isa::kAvx512)) {
        EXPECT_TRUE(isa_supported(Isa::kAvx2));  // the AVX-512 path reuses the AVX2 quantizer
        EXPECT_EQ(best_isa(), Isa::kAvx512);
    }
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
        if (!isa_supported(isa)) {
            ThreadPool pool(1);
            std::vector<float> w(8), x(8), y(1);
            const MatmulArgs a{w.data(), DType::kF32, 8, 1, 1, x.data(), y.data()};
            EXPECT_EQ(matmul(a, pool, isa).code(), ErrorCode::kUnimplemented);
        }
    }
}

TEST(MatmulTest, PortablePathEqualsTheReference) {
    ThreadPool pool(2);
    const Weights w = make_weights(DType::kQ8_0, 37, 64, 41);
    const std::vector<float> x = make_x(2 * 64, 42);
    std::vector<float> y_ref(2 * 37), y(y_ref.size());
    MatmulArgs a{w.bytes.data(), DType::kQ8_0, 64, 37, 2, x.data(), y_ref.data()};
    ASSERT_TRUE(matmul_reference(a).ok());
    a.y = y.data();
    ASSERT_TRUE(matmul(a, pool, Isa::kPortable).ok());
    EXPECT_EQ(y, y_ref);
}

}  // namespace
}  // namespace gannet::kernels
