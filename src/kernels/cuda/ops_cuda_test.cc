// Parity of the small CUDA ops (RMSNorm, RoPE, GLU, add, softmax, embedding, argmax) with the CPU
// ops in kernels/ops at awkward sizes, outputs poisoned with NaN before every run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/cuda/activation.h"
#include "kernels/cuda/argmax.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/softmax.h"
#include "kernels/cuda/test_util.h"
#include "kernels/cuda/tolerances.h"
#include "kernels/ops/activation.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rope.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

TEST(RmsNormCudaTest, MatchesCpuAtAwkwardRowCounts) {
    uint32_t seed = 1;
    for (int64_t n_rows : {1, 31, 4097}) {
        for (int64_t dim : {4096, 77}) {
            SCOPED_TRACE(testing::Message() << "n_rows=" << n_rows << " dim=" << dim);
            const std::vector<float> x = test::random_floats(static_cast<size_t>(n_rows * dim), seed++, 3.0f);
            const std::vector<float> w = test::random_floats(static_cast<size_t>(dim), seed++);
            std::vector<float> ref(x.size());
            kernels::rms_norm(x.data(), w.data(), ref.data(), n_rows, dim, 1e-5f);
            gannet::cuda::DeviceBuffer xd = test::upload(x);
            gannet::cuda::DeviceBuffer wd = test::upload(w);
            gannet::cuda::DeviceBuffer od = test::poisoned(x.size() * sizeof(float));
            RmsNormArgs a{xd.as<float>(), wd.as<float>(), od.as<float>(), n_rows, dim, 1e-5f};
            ASSERT_TRUE(rms_norm(a, nullptr).ok());
            EXPECT_LE(test::rel_err(test::download<float>(od, x.size()), ref), kElementwiseRelErr);
            // In place (out aliases x) gives the same result.
            a.out = xd.as<float>();
            ASSERT_TRUE(rms_norm(a, nullptr).ok());
            EXPECT_LE(test::rel_err(test::download<float>(xd, x.size()), ref), kElementwiseRelErr);
        }
    }
}

TEST(RopeCudaTest, MatchesCpuForBothStylesPartialRotaryAndFreqFactors) {
    uint32_t seed = 10;
    for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
        for (int64_t n_rot : {128, 64}) {
            for (bool has_factors : {false, true}) {
                SCOPED_TRACE(testing::Message() << "neox=" << (style == RopeStyle::kNeox) << " n_rot=" << n_rot
                                                << " factors=" << has_factors);
                const int64_t n_tokens = 13;
                const int64_t n_heads = 7;
                const int64_t head_dim = 128;
                std::vector<float> x = test::random_floats(static_cast<size_t>(n_tokens * n_heads * head_dim), seed++);
                std::vector<int32_t> pos(n_tokens);
                for (int64_t t = 0; t < n_tokens; ++t) {
                    pos[t] = static_cast<int32_t>(t * 77 + 3);  // up to ~1000
                }
                std::vector<float> factors = test::random_floats(static_cast<size_t>(n_rot / 2), seed++);
                for (float& f : factors) {
                    f = 1.0f + std::fabs(f) * 4.0f;
                }
                gannet::cuda::DeviceBuffer xd = test::upload(x);
                gannet::cuda::DeviceBuffer pd = test::upload(pos);
                gannet::cuda::DeviceBuffer fd = test::upload(factors);
                kernels::RopeArgs ra;
                ra.x = x.data();
                ra.positions = pos.data();
                ra.n_tokens = n_tokens;
                ra.n_heads = n_heads;
                ra.head_dim = head_dim;
                ra.n_rot = n_rot;
                ra.freq_base = 500000.0f;
                ra.freq_scale = 0.5f;
                ra.freq_factors = has_factors ? factors.data() : nullptr;
                ra.style = style;
                kernels::rope(ra);
                RopeArgs a;
                a.x = xd.as<float>();
                a.positions = pd.as<int32_t>();
                a.n_tokens = n_tokens;
                a.n_heads = n_heads;
                a.head_dim = head_dim;
                a.n_rot = n_rot;
                a.freq_base = 500000.0f;
                a.freq_scale = 0.5f;
                a.freq_factors = has_factors ? fd.as<float>() : nullptr;
                a.style = style;
                ASSERT_TRUE(rope(a, nullptr).ok());
                EXPECT_LE(test::rel_err(test::download<float>(xd, x.size()), x), kRopeRelErr);
            }
        }
    }
    RopeArgs bad;
    int dummy = 0;
    bad.x = reinterpret_cast<float*>(&dummy);
    bad.positions = &dummy;
    bad.n_tokens = 1;
    bad.n_heads = 1;
    bad.head_dim = 64;
    bad.n_rot = 63;
    EXPECT_EQ(rope(bad, nullptr).code(), ErrorCode::kInvalidArgument);
}

TEST(GluCudaTest, SiluAndGeluMatchCpu) {
    for (int64_t n : {1, 31, 14336 * 3 + 1}) {
        const std::vector<float> g = test::random_floats(static_cast<size_t>(n), 20, 6.0f);
        const std::vector<float> u = test::random_floats(static_cast<size_t>(n), 21, 2.0f);
        gannet::cuda::DeviceBuffer gd = test::upload(g);
        gannet::cuda::DeviceBuffer ud = test::upload(u);
        for (GluKind kind : {GluKind::kSilu, GluKind::kGeluTanh}) {
            SCOPED_TRACE(testing::Message() << "n=" << n << " gelu=" << (kind == GluKind::kGeluTanh));
            std::vector<float> ref(static_cast<size_t>(n));
            if (kind == GluKind::kSilu) {
                kernels::swiglu(g.data(), u.data(), ref.data(), n);
            } else {
                kernels::geglu(g.data(), u.data(), ref.data(), n);
            }
            gannet::cuda::DeviceBuffer od = test::poisoned(static_cast<size_t>(n) * sizeof(float));
            ASSERT_TRUE(glu(GluArgs{gd.as<float>(), ud.as<float>(), od.as<float>(), n, kind}, nullptr).ok());
            EXPECT_LE(test::rel_err(test::download<float>(od, static_cast<size_t>(n)), ref), kElementwiseRelErr);
        }
    }
}

// The int8 copy written by a fused op (rms_norm / glu with quantized_out) must be byte for byte what
// quantize_x_int8 makes of the op's f32 output, and that output must not change.
void expect_same_int8(const gannet::cuda::DeviceBuffer& f32_out, int64_t n_in, int64_t n_tokens,
                      const gannet::cuda::DeviceBuffer& fused_scratch) {
    const size_t bytes = int8_x_size_bytes(n_in * n_tokens);
    gannet::cuda::DeviceBuffer want = test::poisoned(bytes);
    ASSERT_TRUE(quantize_x_int8({.x = f32_out.data(),
                                 .x_dtype = DType::kF32,
                                 .n_in = n_in,
                                 .n_tokens = n_tokens,
                                 .scratch = want.data(),
                                 .scratch_size_bytes = bytes},
                                nullptr)
                    .ok());
    EXPECT_EQ(test::download<uint8_t>(fused_scratch, bytes), test::download<uint8_t>(want, bytes));
}

TEST(RmsNormCudaTest, QuantizedOutEqualsNormThenQuantize) {
    uint32_t seed = 300;
    // 2880 = 11 full 256-thread trips plus a 64-element one (two warps active).
    for (int64_t n_rows : {1, 3, 8}) {
        for (int64_t dim : {4096, 2880, 96}) {
            SCOPED_TRACE(testing::Message() << "n_rows=" << n_rows << " dim=" << dim);
            const std::vector<float> x = test::random_floats(static_cast<size_t>(n_rows * dim), seed++, 3.0f);
            const std::vector<float> w = test::random_floats(static_cast<size_t>(dim), seed++);
            gannet::cuda::DeviceBuffer xd = test::upload(x);
            gannet::cuda::DeviceBuffer wd = test::upload(w);
            gannet::cuda::DeviceBuffer plain = test::poisoned(x.size() * sizeof(float));
            gannet::cuda::DeviceBuffer fused = test::poisoned(x.size() * sizeof(float));
            const size_t bytes = int8_x_size_bytes(n_rows * dim);
            gannet::cuda::DeviceBuffer q = test::poisoned(bytes);
            ASSERT_TRUE(
                rms_norm({xd.as<float>(), wd.as<float>(), plain.as<float>(), n_rows, dim, 1e-5f}, nullptr).ok());
            RmsNormArgs a{xd.as<float>(), wd.as<float>(), fused.as<float>(), n_rows, dim, 1e-5f, q.data(), bytes};
            ASSERT_TRUE(rms_norm(a, nullptr).ok());
            const std::vector<float> want = test::download<float>(plain, x.size());
            EXPECT_EQ(test::download<float>(fused, x.size()), want);
            expect_same_int8(plain, dim, n_rows, q);
            // In place (out aliases x), as the model's output norm may be.
            a.out = xd.as<float>();
            gannet::cuda::DeviceBuffer q2 = test::poisoned(bytes);
            a.quantized_out = q2.data();
            ASSERT_TRUE(rms_norm(a, nullptr).ok());
            EXPECT_EQ(test::download<float>(xd, x.size()), want);
            expect_same_int8(plain, dim, n_rows, q2);
        }
    }
}

TEST(RmsNormCudaTest, RejectsBadQuantizedOut) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    auto* f = buf.as<float>();
    void* q = static_cast<uint8_t*>(buf.data()) + 32768;
    EXPECT_EQ(rms_norm({f, f, f, 1, 77, 1e-5f, q, 4096}, nullptr).code(), ErrorCode::kInvalidArgument);  // dim % 32
    EXPECT_EQ(rms_norm({f, f, f, kMatvecMaxTokens + 1, 64, 1e-5f, q, 8192}, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(rms_norm({f, f, f, 2, 64, 1e-5f, q, int8_x_size_bytes(128) - 1}, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(rms_norm({f, f, f, 2, 64, 1e-5f, static_cast<uint8_t*>(q) + 4, 4096}, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_TRUE(rms_norm({f, f, f, 2, 64, 1e-5f, q, int8_x_size_bytes(128)}, nullptr).ok());
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(GluCudaTest, QuantizedOutEqualsGluThenQuantize) {
    // (n_tokens, n_in): 2^21 elements exceed one grid (4096 x 256 threads), so the grid-stride loop
    // takes a second trip.
    struct Case {
        int64_t n_tokens;
        int64_t n_in;
    };
    uint32_t seed = 400;
    for (Case c : {Case{1, 14336}, Case{3, 14336}, Case{8, 96}, Case{1, int64_t{1} << 21}}) {
        const int64_t n = c.n_tokens * c.n_in;
        const std::vector<float> g = test::random_floats(static_cast<size_t>(n), seed++, 6.0f);
        const std::vector<float> u = test::random_floats(static_cast<size_t>(n), seed++, 2.0f);
        gannet::cuda::DeviceBuffer gd = test::upload(g);
        gannet::cuda::DeviceBuffer ud = test::upload(u);
        for (GluKind kind : {GluKind::kSilu, GluKind::kGeluTanh}) {
            SCOPED_TRACE(testing::Message() << "n=" << n << " gelu=" << (kind == GluKind::kGeluTanh));
            gannet::cuda::DeviceBuffer plain = test::poisoned(static_cast<size_t>(n) * sizeof(float));
            gannet::cuda::DeviceBuffer fused = test::poisoned(static_cast<size_t>(n) * sizeof(float));
            const size_t bytes = int8_x_size_bytes(n);
            gannet::cuda::DeviceBuffer q = test::poisoned(bytes);
            ASSERT_TRUE(glu(GluArgs{gd.as<float>(), ud.as<float>(), plain.as<float>(), n, kind}, nullptr).ok());
            ASSERT_TRUE(
                glu(GluArgs{gd.as<float>(), ud.as<float>(), fused.as<float>(), n, kind, q.data(), bytes}, nullptr)
                    .ok());
            EXPECT_EQ(test::download<float>(fused, static_cast<size_t>(n)),
                      test::download<float>(plain, static_cast<size_t>(n)));
            expect_same_int8(plain, c.n_in, c.n_tokens, q);
        }
    }
}

TEST(GluCudaTest, RejectsBadQuantizedOut) {
    gannet::cuda::DeviceBuffer buf = test::poisoned(1 << 16);
    auto* f = buf.as<float>();
    void* q = static_cast<uint8_t*>(buf.data()) + 32768;
    EXPECT_EQ(glu(GluArgs{f, f, f, 31, GluKind::kSilu, q, 4096}, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(glu(GluArgs{f, f, f, 64, GluKind::kSilu, q, int8_x_size_bytes(64) - 1}, nullptr).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(glu(GluArgs{f, f, f, 64, GluKind::kSilu, static_cast<uint8_t*>(q) + 8, 4096}, nullptr).code(),
              ErrorCode::kInvalidArgument);
}

TEST(AddCudaTest, MatchesCpuIncludingTheTail) {
    for (int64_t n : {1, 31, 4097 * 3}) {
        const std::vector<float> x = test::random_floats(static_cast<size_t>(n), 30);
        const std::vector<float> y = test::random_floats(static_cast<size_t>(n), 31);
        std::vector<float> ref(static_cast<size_t>(n));
        kernels::add(x.data(), y.data(), ref.data(), n);
        gannet::cuda::DeviceBuffer xd = test::upload(x);
        gannet::cuda::DeviceBuffer yd = test::upload(y);
        gannet::cuda::DeviceBuffer od = test::poisoned(static_cast<size_t>(n) * sizeof(float));
        ASSERT_TRUE(add(AddArgs{xd.as<float>(), yd.as<float>(), od.as<float>(), n}, nullptr).ok());
        EXPECT_LE(test::rel_err(test::download<float>(od, static_cast<size_t>(n)), ref), kElementwiseRelErr) << n;
    }
}

TEST(SoftmaxCudaTest, MatchesCpuAndZeroesAllNegativeInfinityRows) {
    for (int64_t n_rows : {1, 31}) {
        for (int64_t n_cols : {33, 128256}) {
            std::vector<float> x = test::random_floats(static_cast<size_t>(n_rows * n_cols), 40, 8.0f);
            if (n_rows > 1) {
                for (int64_t i = 0; i < n_cols; ++i) {
                    x[static_cast<size_t>(n_cols + i)] = -INFINITY;  // row 1
                }
            }
            std::vector<float> ref = x;
            for (int64_t r = 0; r < n_rows; ++r) {
                kernels::softmax(ref.data() + r * n_cols, n_cols);
            }
            gannet::cuda::DeviceBuffer xd = test::upload(x);
            ASSERT_TRUE(softmax(SoftmaxArgs{xd.as<float>(), n_rows, n_cols}, nullptr).ok());
            EXPECT_LE(test::rel_err(test::download<float>(xd, x.size()), ref), kElementwiseRelErr)
                << n_rows << "x" << n_cols;
        }
    }
}

TEST(EmbeddingCudaTest, MatchesCpuForEveryTableType) {
    const int64_t n_vocab = 1001;
    const int64_t dim = 256;
    std::vector<int32_t> tokens = {0, 1000, 17, 17, 512, 999, 3};  // odd count, repeats, both ends
    const std::vector<float> f = test::random_floats(static_cast<size_t>(n_vocab * dim), 50);
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ8_0}) {
        SCOPED_TRACE(tensor::dtype_name(dtype));
        const size_t rb = tensor::row_size_bytes(dtype, dim);
        std::vector<uint8_t> table(rb * static_cast<size_t>(n_vocab));
        for (int64_t r = 0; r < n_vocab; ++r) {
            const float* src = f.data() + r * dim;
            uint8_t* dst = table.data() + static_cast<size_t>(r) * rb;
            if (dtype == DType::kF32) {
                std::memcpy(dst, src, rb);
            } else if (dtype == DType::kF16 || dtype == DType::kBF16) {
                for (int64_t i = 0; i < dim; ++i) {
                    const uint16_t h = dtype == DType::kF16 ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
                    std::memcpy(dst + 2 * i, &h, 2);
                }
            } else {
                ASSERT_TRUE(tensor::quantize_row(dtype, src, dst, dim).ok());
            }
        }
        std::vector<float> ref(tokens.size() * static_cast<size_t>(dim));
        kernels::EmbeddingArgs ea{table.data(), dtype, n_vocab, dim, tokens.data(), static_cast<int64_t>(tokens.size()),
                                  ref.data()};
        ASSERT_TRUE(kernels::embedding(ea).ok());
        gannet::cuda::DeviceBuffer td = test::upload(table);
        gannet::cuda::DeviceBuffer kd = test::upload(tokens);
        gannet::cuda::DeviceBuffer od = test::poisoned(ref.size() * sizeof(float));
        EmbeddingArgs a{td.data(),     dtype, n_vocab, dim, kd.as<int32_t>(), static_cast<int64_t>(tokens.size()),
                        od.as<float>()};
        ASSERT_TRUE(embedding(a, nullptr).ok());
        EXPECT_EQ(test::rel_err(test::download<float>(od, ref.size()), ref), 0.0);  // exact: same decoding
    }
}

TEST(ArgmaxCudaTest, FindsTheFirstLargestLogit) {
    for (int64_t n_vocab : {1, 31, 128256}) {
        const int64_t n_rows = 5;
        std::vector<float> x = test::random_floats(static_cast<size_t>(n_rows * n_vocab), 60, 10.0f);
        if (n_vocab > 100) {
            // Row 2: a tie between two planted maxima resolves to the lower index; row 3 has a NaN.
            x[static_cast<size_t>(2 * n_vocab + 70000)] = 50.0f;
            x[static_cast<size_t>(2 * n_vocab + 90)] = 50.0f;
            x[static_cast<size_t>(3 * n_vocab + 5)] = NAN;
        }
        std::vector<int32_t> ref(static_cast<size_t>(n_rows));
        for (int64_t r = 0; r < n_rows; ++r) {
            int32_t best = -1;
            for (int64_t j = 0; j < n_vocab; ++j) {
                const float v = x[static_cast<size_t>(r * n_vocab + j)];
                if (!std::isnan(v) && (best < 0 || v > x[static_cast<size_t>(r * n_vocab + best)])) {
                    best = static_cast<int32_t>(j);
                }
            }
            ref[static_cast<size_t>(r)] = best;
        }
        gannet::cuda::DeviceBuffer xd = test::upload(x);
        gannet::cuda::DeviceBuffer od = test::poisoned(static_cast<size_t>(n_rows) * sizeof(int32_t));
        ASSERT_TRUE(argmax(ArgmaxArgs{xd.as<float>(), n_rows, n_vocab, od.as<int32_t>()}, nullptr).ok());
        EXPECT_EQ(test::download<int32_t>(od, static_cast<size_t>(n_rows)), ref) << n_vocab;
        if (n_vocab > 100) {
            EXPECT_EQ(ref[2], 90);
        }
    }
}

}  // namespace
}  // namespace gannet::kernels::cuda
