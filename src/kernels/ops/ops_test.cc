#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ops/activation.h"
#include "kernels/ops/attention.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rope.h"

namespace gannet::kernels {
namespace {

std::vector<float> random_vec(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) {
        x = dist(rng);
    }
    return v;
}

TEST(RmsNormTest, NormalizesEachRowAndAppliesWeight) {
    const std::vector<float> x = {3, 4, 0, 0, 1, 1, 1, 1};  // 2 rows of 4
    const std::vector<float> w = {1, 2, 1, 1};
    std::vector<float> out(8);
    rms_norm(x.data(), w.data(), out.data(), 2, 4, 0.0f);
    // row 0: mean square = 25/4, rms = 2.5
    EXPECT_FLOAT_EQ(out[0], 3 / 2.5f);
    EXPECT_FLOAT_EQ(out[1], 2 * 4 / 2.5f);
    EXPECT_FLOAT_EQ(out[2], 0.0f);
    EXPECT_FLOAT_EQ(out[4], 1.0f);
    EXPECT_FLOAT_EQ(out[5], 2.0f);
}

TEST(RmsNormTest, EpsilonKeepsZeroRowFinite) {
    std::vector<float> x(4, 0.0f);
    const std::vector<float> w(4, 1.0f);
    rms_norm(x.data(), w.data(), x.data(), 1, 4, 1e-6f);
    for (float v : x) {
        EXPECT_EQ(v, 0.0f);
    }
}

TEST(RopeTest, NormalStyleRotatesAdjacentPairsByPositionTimesFrequency) {
    // head_dim 4: pair 0 has frequency 1, pair 1 has base^(-1/2) = 0.01 for base 10000.
    std::vector<float> x = {1, 0, 1, 0};
    const int32_t pos = 2;
    RopeArgs a{.x = x.data(),
               .positions = &pos,
               .n_tokens = 1,
               .n_heads = 1,
               .head_dim = 4,
               .n_rot = 4,
               .freq_base = 10000.0f,
               .style = RopeStyle::kNormal};
    rope(a);
    EXPECT_NEAR(x[0], std::cos(2.0f), 1e-6);
    EXPECT_NEAR(x[1], std::sin(2.0f), 1e-6);
    EXPECT_NEAR(x[2], std::cos(0.02f), 1e-6);
    EXPECT_NEAR(x[3], std::sin(0.02f), 1e-6);
}

TEST(RopeTest, NeoxStyleEqualsNormalStyleOnPermutedDims) {
    const int64_t head_dim = 8;
    const std::vector<float> x = random_vec(3 * 2 * head_dim, 1);
    const std::vector<int32_t> pos = {0, 5, 17};
    // neox pairs (i, i + 4) are normal pairs (2i, 2i + 1) after interleaving the halves.
    std::vector<float> neox = x;
    std::vector<float> normal(x.size());
    for (size_t row = 0; row < x.size() / head_dim; ++row) {
        for (int64_t i = 0; i < head_dim / 2; ++i) {
            normal[row * head_dim + 2 * i] = x[row * head_dim + i];
            normal[row * head_dim + 2 * i + 1] = x[row * head_dim + i + head_dim / 2];
        }
    }
    RopeArgs a{.x = neox.data(),
               .positions = pos.data(),
               .n_tokens = 3,
               .n_heads = 2,
               .head_dim = head_dim,
               .n_rot = head_dim,
               .freq_base = 500.0f,
               .style = RopeStyle::kNeox};
    rope(a);
    a.x = normal.data();
    a.style = RopeStyle::kNormal;
    rope(a);
    for (size_t row = 0; row < x.size() / head_dim; ++row) {
        for (int64_t i = 0; i < head_dim / 2; ++i) {
            EXPECT_FLOAT_EQ(neox[row * head_dim + i], normal[row * head_dim + 2 * i]);
            EXPECT_FLOAT_EQ(neox[row * head_dim + i + head_dim / 2], normal[row * head_dim + 2 * i + 1]);
        }
    }
}

TEST(RopeTest, PartialRotaryLeavesTailAndPositionZeroUnchanged) {
    const std::vector<float> x = random_vec(8, 2);
    std::vector<float> y = x;
    const int32_t pos = 9;
    RopeArgs a{.x = y.data(),
               .positions = &pos,
               .n_tokens = 1,
               .n_heads = 1,
               .head_dim = 8,
               .n_rot = 4,
               .freq_base = 10000.0f,
               .style = RopeStyle::kNeox};
    rope(a);
    for (int i = 4; i < 8; ++i) {
        EXPECT_EQ(y[i], x[i]);
    }
    EXPECT_NE(y[0], x[0]);
    std::vector<float> z = x;
    const int32_t zero = 0;
    a.x = z.data();
    a.positions = &zero;
    rope(a);
    EXPECT_EQ(z, x);
}

TEST(RopeTest, FreqFactorsAndScaleDivideTheAngle) {
    std::vector<float> x = {1, 0};
    const int32_t pos = 3;
    const float factor = 4.0f;
    RopeArgs a{.x = x.data(),
               .positions = &pos,
               .n_tokens = 1,
               .n_heads = 1,
               .head_dim = 2,
               .n_rot = 2,
               .freq_base = 10000.0f,
               .freq_scale = 0.5f,
               .freq_factors = &factor};
    rope(a);
    EXPECT_NEAR(x[0], std::cos(3.0f * 0.5f / 4.0f), 1e-6);
    EXPECT_NEAR(x[1], std::sin(3.0f * 0.5f / 4.0f), 1e-6);
}

TEST(ActivationTest, KnownValues) {
    EXPECT_FLOAT_EQ(silu(0.0f), 0.0f);
    EXPECT_NEAR(silu(1.0f), 0.7310586f, 1e-6);
    EXPECT_NEAR(gelu_tanh(1.0f), 0.8411920f, 1e-6);
    EXPECT_NEAR(gelu_tanh(-2.0f), -0.0454023f, 1e-6);
    const float gate[2] = {1.0f, -2.0f};
    const float up[2] = {2.0f, 3.0f};
    float out[2];
    swiglu(gate, up, out, 2);
    EXPECT_NEAR(out[0], 2 * 0.7310586f, 1e-6);
    geglu(gate, up, out, 2);
    EXPECT_NEAR(out[1], 3 * -0.0454023f, 1e-6);
}

TEST(ActivationTest, SoftmaxIsStableAndSumsToOne) {
    std::vector<float> x = {1000.0f, 1001.0f, -std::numeric_limits<float>::infinity()};
    softmax(x.data(), 3);
    EXPECT_NEAR(x[0] + x[1], 1.0f, 1e-6);
    EXPECT_NEAR(x[1] / x[0], std::exp(1.0f), 1e-4);
    EXPECT_EQ(x[2], 0.0f);
}

TEST(ActivationTest, SoftcapBoundsValues) {
    std::vector<float> x = {0.0f, 1.0f, 1e6f};
    softcap(x.data(), 30.0f, 3);
    EXPECT_EQ(x[0], 0.0f);
    EXPECT_NEAR(x[1], 30.0f * std::tanh(1.0f / 30.0f), 1e-6);
    EXPECT_FLOAT_EQ(x[2], 30.0f);
}

TEST(ActivationTest, AddMulBias) {
    std::vector<float> a = {1, 2, 3, 4};
    const std::vector<float> b = {10, 20};
    add_bias(a.data(), b.data(), 2, 2);
    EXPECT_EQ(a, (std::vector<float>{11, 22, 13, 24}));
    mul(a.data(), a.data(), a.data(), 1);
    EXPECT_EQ(a[0], 121.0f);
}

// Straightforward double-precision attention to check the kernel against.
std::vector<float> naive_attention(const AttentionArgs& a) {
    std::vector<float> out(a.n_tokens * a.n_heads * a.head_dim_v);
    const int64_t group = a.n_heads / a.n_kv_heads;
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        for (int64_t h = 0; h < a.n_heads; ++h) {
            const int64_t p = a.positions[t];
            std::vector<double> s;
            std::vector<int64_t> js;
            for (int64_t j = 0; j <= p; ++j) {
                if (a.window > 0 && p - j >= a.window) {
                    continue;
                }
                double d = 0;
                for (int64_t i = 0; i < a.head_dim_k; ++i) {
                    d += double(a.q[(t * a.n_heads + h) * a.head_dim_k + i])
                         * a.k[j * a.k_stride + (h / group) * a.head_dim_k + i];
                }
                d *= a.scale;
                if (a.softcap > 0) {
                    d = a.softcap * std::tanh(d / a.softcap);
                }
                s.push_back(d);
                js.push_back(j);
            }
            double m = -1e300, sum = 0;
            for (double v : s) {
                m = std::max(m, v);
            }
            for (double& v : s) {
                v = std::exp(v - m);
                sum += v;
            }
            for (int64_t d = 0; d < a.head_dim_v; ++d) {
                double acc = 0;
                for (size_t n = 0; n < s.size(); ++n) {
                    acc += s[n] / sum * a.v[js[n] * a.v_stride + (h / group) * a.head_dim_v + d];
                }
                out[(t * a.n_heads + h) * a.head_dim_v + d] = static_cast<float>(acc);
            }
        }
    }
    return out;
}

struct AttentionCase {
    int64_t window;
    float softcap;
    int n_threads;
};

class AttentionTest : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionTest, MatchesNaiveReferenceWithGqa) {
    const AttentionCase c = GetParam();
    const int64_t n_heads = 4, n_kv_heads = 2, dk = 20, dv = 12, n_kv = 13, n_tokens = 5;
    // Strides wider than the heads, as in a cache row holding more than this layer's heads.
    const int64_t k_stride = n_kv_heads * dk + 3, v_stride = n_kv_heads * dv + 5;
    const std::vector<float> q = random_vec(n_tokens * n_heads * dk, 3);
    const std::vector<float> k = random_vec(n_kv * k_stride, 4);
    const std::vector<float> v = random_vec(n_kv * v_stride, 5);
    const std::vector<int32_t> pos = {8, 9, 10, 11, 12};
    std::vector<float> out(n_tokens * n_heads * dv);
    AttentionArgs a{.q = q.data(),
                    .positions = pos.data(),
                    .k = k.data(),
                    .k_stride = k_stride,
                    .v = v.data(),
                    .v_stride = v_stride,
                    .out = out.data(),
                    .n_tokens = n_tokens,
                    .n_heads = n_heads,
                    .n_kv_heads = n_kv_heads,
                    .head_dim_k = dk,
                    .head_dim_v = dv,
                    .n_kv = n_kv,
                    .scale = 0.3f,
                    .softcap = c.softcap,
                    .window = c.window};
    ThreadPool pool(c.n_threads);
    std::vector<float> scratch(attention_scratch_floats(pool.n_threads(), n_kv, n_heads / n_kv_heads));
    ASSERT_TRUE(attention(a, scratch, pool).ok());
    const std::vector<float> want = naive_attention(a);
    for (size_t i = 0; i < out.size(); ++i) {
        EXPECT_NEAR(out[i], want[i], 1e-5) << i;
    }
    // The minimum scratch (one head at a time) gives bit-identical results.
    std::vector<float> small(attention_scratch_floats(pool.n_threads(), n_kv));
    std::vector<float> out_small(out.size());
    a.out = out_small.data();
    ASSERT_TRUE(attention(a, small, pool).ok());
    EXPECT_EQ(out_small, out);
}

INSTANTIATE_TEST_SUITE_P(Variants, AttentionTest,
                         ::testing::Values(AttentionCase{0, 0.0f, 1}, AttentionCase{0, 0.0f, 3},
                                           AttentionCase{0, 0.0f, 16}, AttentionCase{4, 0.0f, 2},
                                           AttentionCase{0, 2.0f, 2}, AttentionCase{1, 0.0f, 1}));

TEST(AttentionTest, RejectsPositionOutsideCache) {
    const std::vector<float> q(4), k(4), v(4);
    std::vector<float> out(4);
    const int32_t pos = 1;
    AttentionArgs a{.q = q.data(),
                    .positions = &pos,
                    .k = k.data(),
                    .k_stride = 4,
                    .v = v.data(),
                    .v_stride = 4,
                    .out = out.data(),
                    .n_tokens = 1,
                    .n_heads = 1,
                    .n_kv_heads = 1,
                    .head_dim_k = 4,
                    .head_dim_v = 4,
                    .n_kv = 1};
    ThreadPool pool(1);
    std::vector<float> scratch(attention_scratch_floats(1, 1, 1));
    const Status s = attention(a, scratch, pool);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("position 1 outside the cache [0, 1)"), std::string::npos) << s.message();
}

TEST(EmbeddingTest, CopiesRowsAndRejectsBadIds) {
    const std::vector<float> table = {0, 1, 10, 11, 20, 21};  // 3 rows of 2
    const std::vector<int32_t> ids = {2, 0};
    std::vector<float> out(4);
    EmbeddingArgs a{.table = table.data(),
                    .dtype = tensor::DType::kF32,
                    .n_vocab = 3,
                    .dim = 2,
                    .tokens = ids.data(),
                    .n_tokens = 2,
                    .out = out.data()};
    ASSERT_TRUE(embedding(a).ok());
    EXPECT_EQ(out, (std::vector<float>{20, 21, 0, 1}));
    const int32_t bad = 3;
    a.tokens = &bad;
    a.n_tokens = 1;
    const Status s = embedding(a);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("token id 3 out of range [0, 3)"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace gannet::kernels
