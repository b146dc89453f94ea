// Tests for kernels::flash_chunk: every ISA this CPU has, against a double-precision softmax over
// the same rows dequantized by tensor::dequantize_row.
//
// Tolerance. The kernel reads exactly the values the reference reads (f16/bf16 widen exactly; a
// q8_0/q4_0 value d * q is an exact float product), so the paths differ only by float rounding:
// - a score s = scale Σ_d q_d k_d is off by at most ~hd eps scale Σ_d |q_d k_d| (= ds, summation
//   error bound γ_hd with eps = 2^-24 rounding);
// - exp is a polynomial good to ~2 ulp, the running rescales add a few eps per chunk, and the sum
//   of n weights ~n eps: each weight p_i is relatively off by at most 2 ds + (n + 16) eps;
// - out = Σ p_i v_i / Σ p_i is then off by at most max|v| (2 ds + (n + hd + 16) eps) (the V sums
//   add hd-independent n eps; hd enters through the per-row dot products only).
// We allow 4x that bound. A lost row, a wrong scale or a swapped nibble is off by ~1e-2 or more.
#include "kernels/attention_cpu.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tensor/quant.h"

namespace gannet::kernels {
namespace {

using tensor::DType;

constexpr double kEps = 5.96e-8;  // 2^-24

std::vector<Isa> isas() {
    std::vector<Isa> out = {Isa::kPortable};
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
        if (isa_supported(isa)) {
            out.push_back(isa);
        }
    }
    return out;
}

size_t row_bytes(DType t, int64_t hd) {
    switch (t) {
        case DType::kF32: return static_cast<size_t>(hd) * 4;
        case DType::kF16:
        case DType::kBF16: return static_cast<size_t>(hd) * 2;
        case DType::kQ8_0: return static_cast<size_t>(hd / 32) * sizeof(tensor::BlockQ8_0);
        default: return static_cast<size_t>(hd / 32) * sizeof(tensor::BlockQ4_0);
    }
}

// n rows of hd random values stored as t, and what they mean as floats.
struct Rows {
    std::vector<std::byte> bytes;
    std::vector<float> deq;  // [n, hd]
};

Rows make_rows(DType t, int64_t n, int64_t hd, float amp, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-amp, amp);
    std::vector<float> src(static_cast<size_t>(n * hd));
    for (float& x : src) {
        x = dist(rng);
    }
    Rows r;
    r.bytes.resize(row_bytes(t, hd) * static_cast<size_t>(n));
    r.deq.resize(src.size());
    for (int64_t i = 0; i < n; ++i) {
        std::byte* dst = r.bytes.data() + row_bytes(t, hd) * static_cast<size_t>(i);
        EXPECT_TRUE(tensor::quantize_row(t, src.data() + i * hd, dst, hd).ok());
        EXPECT_TRUE(tensor::dequantize_row(t, dst, r.deq.data() + i * hd, hd).ok());
    }
    return r;
}

struct Case {
    DType type;
    int64_t hd;
    int64_t n_heads;
    int64_t n_rows;
    int64_t chunk;  // rows per flash_chunk call (the last one shorter)
    float softcap;
};

struct Result {
    std::vector<float> out;  // [n_heads, hd] acc / l
    std::vector<float> m, l, acc;
};

Result run_kernel(const Case& c, const Rows& k, const Rows& v, const std::vector<float>& q, float scale, Isa isa) {
    Result r;
    r.m.assign(static_cast<size_t>(c.n_heads), -std::numeric_limits<float>::infinity());
    r.l.assign(static_cast<size_t>(c.n_heads), 0.0f);
    r.acc.assign(static_cast<size_t>(c.n_heads * c.hd), 0.0f);
    const size_t rb = row_bytes(c.type, c.hd);
    for (int64_t i0 = 0; i0 < c.n_rows; i0 += c.chunk) {
        flash_chunk({.kv_dtype = c.type,
                     .k = k.bytes.data() + rb * static_cast<size_t>(i0),
                     .v = v.bytes.data() + rb * static_cast<size_t>(i0),
                     .k_row_bytes = rb,
                     .v_row_bytes = rb,
                     .n_rows = std::min(c.chunk, c.n_rows - i0),
                     .head_dim_k = c.hd,
                     .head_dim_v = c.hd,
                     .q = q.data(),
                     .n_heads = c.n_heads,
                     .scale = scale,
                     .softcap = c.softcap,
                     .m = r.m.data(),
                     .l = r.l.data(),
                     .acc = r.acc.data()},
                    isa);
    }
    r.out.resize(r.acc.size());
    for (int64_t h = 0; h < c.n_heads; ++h) {
        for (int64_t d = 0; d < c.hd; ++d) {
            r.out[static_cast<size_t>(h * c.hd + d)] =
                r.acc[static_cast<size_t>(h * c.hd + d)] / r.l[static_cast<size_t>(h)];
        }
    }
    return r;
}

// Reference output of head h and its tolerance (see the file comment).
void reference(const Case& c, const Rows& k, const Rows& v, const std::vector<float>& q, float scale, int64_t h,
               std::vector<double>* out, double* tol) {
    std::vector<double> s(static_cast<size_t>(c.n_rows));
    double ds = 0.0;
    double vmax = 0.0;
    for (int64_t i = 0; i < c.n_rows; ++i) {
        double dot = 0.0;
        double mag = 0.0;
        for (int64_t d = 0; d < c.hd; ++d) {
            const double t =
                static_cast<double>(q[static_cast<size_t>(h * c.hd + d)]) * k.deq[static_cast<size_t>(i * c.hd + d)];
            dot += t;
            mag += std::fabs(t);
            vmax = std::max(vmax, static_cast<double>(std::fabs(v.deq[static_cast<size_t>(i * c.hd + d)])));
        }
        dot *= scale;
        if (c.softcap > 0.0f) {
            dot = c.softcap * std::tanh(dot / c.softcap);
        }
        s[static_cast<size_t>(i)] = dot;
        ds = std::max(ds, static_cast<double>(c.hd) * kEps * scale * mag);
    }
    const double mx = *std::max_element(s.begin(), s.end());
    double sum = 0.0;
    for (double& x : s) {
        x = std::exp(x - mx);
        sum += x;
    }
    out->assign(static_cast<size_t>(c.hd), 0.0);
    for (int64_t i = 0; i < c.n_rows; ++i) {
        for (int64_t d = 0; d < c.hd; ++d) {
            (*out)[static_cast<size_t>(d)] +=
                s[static_cast<size_t>(i)] / sum * v.deq[static_cast<size_t>(i * c.hd + d)];
        }
    }
    *tol = 4.0 * vmax * (2.0 * ds + static_cast<double>(c.n_rows + c.hd + 16) * kEps);
}

std::vector<Case> cases() {
    std::vector<Case> out;
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
        for (int64_t hd : {64, 80, 128, 256}) {
            if (hd % 32 != 0 && (t == DType::kQ8_0 || t == DType::kQ4_0)) {
                continue;  // block types need whole 32-value blocks
            }
            out.push_back({t, hd, 4, 300, 16, 0.0f});   // GQA group of 4, 19 chunks (last of 12)
            out.push_back({t, hd, 7, 37, 256, 0.0f});   // heads in passes of 4, 2 and 1; one chunk
            out.push_back({t, hd, 1, 129, 32, 50.0f});  // gemma's softcap, one head
            out.push_back({t, hd, 2, 300, 300, 0.0f});  // one call longer than kFlashMaxRows
        }
    }
    return out;
}

TEST(FlashChunk, MatchesDoubleReferenceOnEveryIsa) {
    uint32_t seed = 1;
    for (const Case& c : cases()) {
        const float scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
        // Scores of a few units: the softmax is neither flat nor one-hot.
        const Rows k = make_rows(c.type, c.n_rows, c.hd, 1.0f, seed++);
        const Rows v = make_rows(c.type, c.n_rows, c.hd, 1.0f, seed++);
        std::vector<float> q(static_cast<size_t>(c.n_heads * c.hd));
        std::mt19937 rng(seed++);
        std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
        for (float& x : q) {
            x = dist(rng);
        }
        for (Isa isa : isas()) {
            const Isa run_isa = flash_isa(isa, c.hd, c.hd);
            const Result r = run_kernel(c, k, v, q, scale, run_isa);
            for (int64_t h = 0; h < c.n_heads; ++h) {
                std::vector<double> ref;
                double tol = 0.0;
                reference(c, k, v, q, scale, h, &ref, &tol);
                for (int64_t d = 0; d < c.hd; ++d) {
                    ASSERT_NEAR(r.out[static_cast<size_t>(h * c.hd + d)], ref[static_cast<size_t>(d)], tol)
                        << tensor::dtype_name(c.type) << " hd " << c.hd << " heads " << c.n_heads << " head " << h
                        << " d " << d << " isa " << isa_name(run_isa);
                }
            }
        }
    }
}

// A head's state depends only on its own query: running it alone or among 6 others (passes of 4,
// 2 and 1 heads) gives the same bits, on every ISA. The model's determinism rests on this.
TEST(FlashChunk, HeadResultDoesNotDependOnItsCallMates) {
    for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0, DType::kQ4_0}) {
        const Case all{t, 128, 7, 100, 16, 0.0f};
        const Rows k = make_rows(t, all.n_rows, all.hd, 1.0f, 11);
        const Rows v = make_rows(t, all.n_rows, all.hd, 1.0f, 12);
        std::vector<float> q(static_cast<size_t>(all.n_heads * all.hd));
        std::mt19937 rng(13);
        std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
        for (float& x : q) {
            x = dist(rng);
        }
        for (Isa isa : isas()) {
            const Result together = run_kernel(all, k, v, q, 0.125f, isa);
            for (int64_t h = 0; h < all.n_heads; ++h) {
                Case one = all;
                one.n_heads = 1;
                const std::vector<float> qh(q.begin() + h * all.hd, q.begin() + (h + 1) * all.hd);
                const Result alone = run_kernel(one, k, v, qh, 0.125f, isa);
                ASSERT_EQ(std::memcmp(alone.acc.data(), together.acc.data() + h * all.hd, all.hd * sizeof(float)), 0)
                    << tensor::dtype_name(t) << " head " << h << " isa " << isa_name(isa);
                ASSERT_EQ(alone.l[0], together.l[static_cast<size_t>(h)]);
                ASSERT_EQ(alone.m[0], together.m[static_cast<size_t>(h)]);
            }
        }
    }
}

// A row's score is the same bits wherever the row falls in a chunk: the SIMD paths score rows four at
// a time (one combined horizontal sum) and the rest one at a time, and both must give the one fixed
// tree. Each row is scored alone (n_rows = 1: m is then its score), then windows of 7 rows starting
// at offsets 0..3 (so every row is in a group of four and in the tail): m is the max score, exact.
// 7 heads run passes of 4, 2 and 1 heads.
TEST(FlashChunk, RowScoreDoesNotDependOnItsPlaceInTheChunk) {
    constexpr int64_t kRows = 10;
    constexpr int64_t kWindow = 7;
    constexpr int64_t kHeads = 7;
    for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0}) {
        for (int64_t hd : {32, 64, 128}) {
            for (uint32_t seed = 0; seed < 12; ++seed) {
                const Rows k = make_rows(t, kRows, hd, 1.0f, 100 + seed);
                const Rows v = make_rows(t, kRows, hd, 1.0f, 200 + seed);
                std::vector<float> q(static_cast<size_t>(kHeads * hd));
                std::mt19937 rng(300 + seed);
                std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
                for (float& x : q) {
                    x = dist(rng);
                }
                const size_t rb = row_bytes(t, hd);
                for (Isa isa : isas()) {
                    auto run = [&](int64_t first, int64_t n, std::vector<float>& m) {
                        std::vector<float> l(kHeads, 0.0f);
                        std::vector<float> acc(static_cast<size_t>(kHeads * hd), 0.0f);
                        m.assign(kHeads, -std::numeric_limits<float>::infinity());
                        FlashChunkArgs a;
                        a.kv_dtype = t;
                        a.k = k.bytes.data() + rb * static_cast<size_t>(first);
                        a.v = v.bytes.data() + rb * static_cast<size_t>(first);
                        a.k_row_bytes = rb;
                        a.v_row_bytes = rb;
                        a.n_rows = n;
                        a.head_dim_k = hd;
                        a.head_dim_v = hd;
                        a.q = q.data();
                        a.n_heads = kHeads;
                        a.scale = 0.125f;
                        a.m = m.data();
                        a.l = l.data();
                        a.acc = acc.data();
                        flash_chunk(a, flash_isa(isa, hd, hd));
                    };
                    std::vector<std::vector<float>> alone(kRows);
                    for (int64_t i = 0; i < kRows; ++i) {
                        run(i, 1, alone[static_cast<size_t>(i)]);
                    }
                    for (int64_t first = 0; first + kWindow <= kRows; ++first) {
                        std::vector<float> m;
                        run(first, kWindow, m);
                        for (int64_t h = 0; h < kHeads; ++h) {
                            float mx = -std::numeric_limits<float>::infinity();
                            for (int64_t i = first; i < first + kWindow; ++i) {
                                mx = std::max(mx, alone[static_cast<size_t>(i)][static_cast<size_t>(h)]);
                            }
                            ASSERT_EQ(m[static_cast<size_t>(h)], mx)
                                << tensor::dtype_name(t) << " hd " << hd << " seed " << seed << " first " << first
                                << " head " << h << " isa " << isa_name(isa);
                        }
                    }
                }
            }
        }
    }
}

// The SIMD paths agree with the portable one to the same derived tolerance, and on a chunking
// of one row at a time (every row rescales the state).
TEST(FlashChunk, IsasAgreeAndChunkingOnlyRounds) {
    const Case c{DType::kF16, 128, 4, 200, 1, 0.0f};
    const Rows k = make_rows(c.type, c.n_rows, c.hd, 1.0f, 21);
    const Rows v = make_rows(c.type, c.n_rows, c.hd, 1.0f, 22);
    std::vector<float> q(static_cast<size_t>(c.n_heads * c.hd));
    std::mt19937 rng(23);
    std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
    for (float& x : q) {
        x = dist(rng);
    }
    const float scale = 1.0f / std::sqrt(128.0f);
    Case whole = c;
    whole.chunk = c.n_rows;
    const Result base = run_kernel(whole, k, v, q, scale, Isa::kPortable);
    for (Isa isa : isas()) {
        const Result r = run_kernel(c, k, v, q, scale, isa);
        for (int64_t h = 0; h < c.n_heads; ++h) {
            std::vector<double> ref;
            double tol = 0.0;
            reference(c, k, v, q, scale, h, &ref, &tol);
            for (int64_t d = 0; d < c.hd; ++d) {
                const size_t i = static_cast<size_t>(h * c.hd + d);
                ASSERT_NEAR(r.out[i], base.out[i], 2.0 * tol) << isa_name(isa) << " head " << h << " d " << d;
            }
        }
    }
}

TEST(FlashChunk, IsaStepsDownForAwkwardHeadDims) {
    EXPECT_EQ(flash_isa(Isa::kPortable, 128, 128), Isa::kPortable);
    EXPECT_EQ(flash_isa(Isa::kAvx512, 80, 80), Isa::kAvx512);  // 5 vectors of 16
    EXPECT_EQ(flash_isa(Isa::kAvx512, 72, 72), Isa::kAvx2);
    EXPECT_EQ(flash_isa(Isa::kAvx512, 128, 72), Isa::kAvx2);
    EXPECT_EQ(flash_isa(Isa::kAvx2, 36, 36), Isa::kPortable);
    EXPECT_EQ(flash_isa(Isa::kAvx512, 128, 128), Isa::kAvx512);
    EXPECT_NE(flash_isa(Isa::kAuto, 128, 128), Isa::kAuto);
}

TEST(FlashExp, MatchesStdExpToAFewUlp) {
    for (float x = -87.0f; x <= 0.0f; x += 0.01f) {
        const double want = std::exp(static_cast<double>(x));
        EXPECT_NEAR(detail::flash_exp(x), want, 4.0 * kEps * want) << x;
    }
    EXPECT_EQ(detail::flash_exp(-100.0f), 0.0f);
    EXPECT_EQ(detail::flash_exp(-std::numeric_limits<float>::infinity()), 0.0f);
    EXPECT_EQ(detail::flash_exp(0.0f), 1.0f);
}

}  // namespace
}  // namespace gannet::kernels
