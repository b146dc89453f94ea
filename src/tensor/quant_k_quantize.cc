#include "tensor/quant_k_quantize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/half.h"
#include "tensor/quant.h"
#include "tensor/quant_k.h"

// How a super-block is quantized (all five types follow the same three steps):
//  1. Fit each sub-block alone: x ≈ a * q + b with q on the type's integer grid. For every candidate
//     inverse scale on a grid around "range / levels" we round, then solve the weighted least-squares
//     problem for (a, b) with q fixed, and keep the candidate with the least weighted error. Formats
//     with a min (Q2_K, Q4_K, Q5_K) store m = -b >= 0, so b > 0 is clamped to 0 and a refitted.
//  2. Quantize the sub-block scales (and mins) against one fp16 super-scale each, by rounding to
//     the scale grid (4-bit unsigned for Q2_K, 6-bit for Q4_K/Q5_K, signed 6-bit for Q3_K, int8 for
//     Q6_K). The super-scale maps the largest sub-scale onto the top of the grid.
//  3. Re-round every element against its now-quantized sub-scale and min, so the stored q is the
//     best q for the scale that will actually be used.
// This is our own search; llama.cpp's make_qx_quants/make_qkx2_quants search differently, so bytes
// differ but both produce valid blocks of the same format.

namespace gannet::tensor {
namespace {

// Candidate inverse scales around the nominal one: nominal * (levels + kStep * t) / levels for
// t in [-kTries, kTries]. 0.1 of a level per step over ±1.5 levels covers where rounding moves
// elements between levels without wandering to scales that clip most of the range.
constexpr int kTries = 15;
constexpr float kStep = 0.1f;

int round_clamp(float v, int lo, int hi) {
    // nearbyint (half to even) as everywhere else in tensor/; the clamp catches float overshoot.
    const int q = static_cast<int>(std::nearbyint(v));
    return std::clamp(q, lo, hi);
}

// Step 1 for formats with a min: fits x[0..n) ≈ a * q + b, q in [0, nmax], b <= 0. Writes q and
// returns a; *min_out = -b >= 0.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* q, float* min_out) {
    float lo = x[0];
    float hi = x[0];
    for (int i = 1; i < n; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
    }
    lo = std::min(lo, 0.0f);
    if (hi <= lo) {
        std::fill(q, q + n, uint8_t{0});
        *min_out = -lo;
        return 0.0f;
    }
    float best_err = std::numeric_limits<float>::infinity();
    float best_a = (hi - lo) / static_cast<float>(nmax);
    float best_b = lo;
    std::array<uint8_t, 32> cand{};
    for (int t = -kTries; t <= kTries; ++t) {
        const float iscale = (static_cast<float>(nmax) + kStep * static_cast<float>(t)) / (hi - lo);
        double sw = 0, swl = 0, swll = 0, swx = 0, swlx = 0;
        for (int i = 0; i < n; ++i) {
            const int l = round_clamp(iscale * (x[i] - lo), 0, nmax);
            cand[i] = static_cast<uint8_t>(l);
            sw += w[i];
            swl += w[i] * l;
            swll += static_cast<double>(w[i]) * l * l;
            swx += w[i] * x[i];
            swlx += static_cast<double>(w[i]) * l * x[i];
        }
        const double det = sw * swll - swl * swl;
        if (det <= 0) {
            continue;  // all q equal (or all weights zero): no 2-parameter fit
        }
        double a = (sw * swlx - swl * swx) / det;
        double b = (swll * swx - swl * swlx) / det;
        if (b > 0) {
            b = 0;
            a = swlx / swll;
        }
        if (a < 0) {
            continue;
        }
        double err = 0;
        for (int i = 0; i < n; ++i) {
            const double diff = a * cand[i] + b - x[i];
            err += w[i] * diff * diff;
        }
        if (err < best_err) {
            best_err = static_cast<float>(err);
            best_a = static_cast<float>(a);
            best_b = static_cast<float>(b);
            std::copy(cand.begin(), cand.begin() + n, q);
        }
    }
    if (best_err == std::numeric_limits<float>::infinity()) {
        // No candidate fitted (degenerate weights): plain min/max rounding.
        for (int i = 0; i < n; ++i) {
            q[i] = static_cast<uint8_t>(round_clamp((x[i] - lo) / best_a, 0, nmax));
        }
    }
    *min_out = -best_b;
    return best_a;
}

// Step 1 for symmetric formats: fits x[0..n) ≈ a * q, q in [-nneg, npos] (the grids are lopsided:
// Q3_K -4..3, Q6_K -32..31). Tries mapping the extreme element onto either end. Returns signed a.
float fit_scale_symmetric(const float* x, const float* w, int n, int nneg, int npos) {
    float amax = 0.0f;
    float extreme = 0.0f;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            extreme = x[i];
        }
    }
    if (amax == 0.0f) {
        return 0.0f;
    }
    float best_err = std::numeric_limits<float>::infinity();
    float best_a = extreme / static_cast<float>(-nneg);
    for (const int end : {-nneg, npos}) {
        for (int t = -kTries; t <= kTries; ++t) {
            const float target = static_cast<float>(end) + (end < 0 ? -kStep : kStep) * static_cast<float>(t);
            const float iscale = target / extreme;
            double swxl = 0, swll = 0;
            for (int i = 0; i < n; ++i) {
                const int l = round_clamp(iscale * x[i], -nneg, npos);
                swxl += static_cast<double>(w[i]) * x[i] * l;
                swll += static_cast<double>(w[i]) * l * l;
            }
            if (swll <= 0) {
                continue;
            }
            const double a = swxl / swll;
            // Σw(x - a l)^2 = Σw x^2 - a Σw x l at the least-squares a; Σw x^2 is common to all candidates.
            const double err = -a * swxl;
            if (err < best_err) {
                best_err = static_cast<float>(err);
                best_a = static_cast<float>(a);
            }
        }
    }
    return best_a;
}

// Scale of the scales: the fp16 d with v[j] ≈ d * round(v[j] / d) and the largest |v| at `top`.
float super_scale(const float* v, int n, float top) {
    float vmax = 0.0f;
    for (int j = 0; j < n; ++j) {
        vmax = std::max(vmax, std::fabs(v[j]));
    }
    return fp16_to_fp32(fp32_to_fp16(vmax / top));
}

// ---- Q2_K / Q4_K / Q5_K: scale + min per sub-block ---------------------------------------------

// Steps 1-2 for the "min" formats: per sub-block 6- or 4-bit scale and min over fp16 d, dmin.
struct MinScales {
    float d = 0.0f;
    float dmin = 0.0f;
    std::array<uint8_t, 16> sc{};
    std::array<uint8_t, 16> m{};
};

MinScales fit_min_superblock(const float* x, const float* w, int n_sub, int sub_len, int nmax, int scale_max) {
    std::array<float, 16> a{};
    std::array<float, 16> mins{};
    std::array<uint8_t, 32> q{};
    for (int s = 0; s < n_sub; ++s) {
        a[s] = fit_scale_min(x + s * sub_len, w + s * sub_len, sub_len, nmax, q.data(), &mins[s]);
    }
    MinScales r;
    r.d = super_scale(a.data(), n_sub, static_cast<float>(scale_max));
    r.dmin = super_scale(mins.data(), n_sub, static_cast<float>(scale_max));
    for (int s = 0; s < n_sub; ++s) {
        r.sc[s] = r.d > 0 ? static_cast<uint8_t>(round_clamp(a[s] / r.d, 0, scale_max)) : 0;
        r.m[s] = r.dmin > 0 ? static_cast<uint8_t>(round_clamp(mins[s] / r.dmin, 0, scale_max)) : 0;
    }
    return r;
}

// Step 3: element i's quant against the stored scale and min.
int requantize_min(float x, float dl, float ml, int nmax) {
    return dl > 0 ? round_clamp((x + ml) / dl, 0, nmax) : 0;
}

void quantize_block_q2_k(const float* x, const float* w, BlockQ2_K* y) {
    const MinScales r = fit_min_superblock(x, w, 16, 16, 3, 15);
    std::memset(y, 0, sizeof(*y));
    y->d = fp32_to_fp16(r.d);
    y->dmin = fp32_to_fp16(r.dmin);
    for (int s = 0; s < 16; ++s) {
        y->scales[s] = static_cast<uint8_t>(r.sc[s] | (r.m[s] << 4));
    }
    for (int e = 0; e < kQK_K; ++e) {
        const int s = e / 16;
        const int q = requantize_min(x[e], r.d * r.sc[s], r.dmin * r.m[s], 3);
        y->qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q << (2 * ((e % 128) / 32)));
    }
}

// Inverse of scale_min_k4(): packs eight 6-bit scales and mins into 12 bytes.
void pack_scale_min_k4(const MinScales& r, uint8_t* scales) {
    std::memset(scales, 0, kKScaleSize);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = r.sc[j];
            scales[j + 4] = r.m[j];
        } else {
            scales[j + 4] = static_cast<uint8_t>((r.sc[j] & 0x0f) | ((r.m[j] & 0x0f) << 4));
            scales[j - 4] |= static_cast<uint8_t>((r.sc[j] >> 4) << 6);
            scales[j] |= static_cast<uint8_t>((r.m[j] >> 4) << 6);
        }
    }
}

// Q4_K (nbits 4) and Q5_K (nbits 5) share everything but the fifth bit.
template <typename Block, int kBits>
void quantize_block_q45_k(const float* x, const float* w, Block* y) {
    constexpr int kMax = (1 << kBits) - 1;
    const MinScales r = fit_min_superblock(x, w, 8, 32, kMax, 63);
    std::memset(y, 0, sizeof(*y));
    y->d = fp32_to_fp16(r.d);
    y->dmin = fp32_to_fp16(r.dmin);
    pack_scale_min_k4(r, y->scales);
    for (int e = 0; e < kQK_K; ++e) {
        const int s = e / 32;
        const int q = requantize_min(x[e], r.d * r.sc[s], r.dmin * r.m[s], kMax);
        y->qs[32 * (s / 2) + e % 32] |= static_cast<uint8_t>((q & 0x0f) << (4 * (s % 2)));
        if constexpr (kBits == 5) {
            y->qh[e % 32] |= static_cast<uint8_t>((q >> 4) << s);
        }
    }
}

// ---- Q3_K / Q6_K: signed scale per sub-block ---------------------------------------------------

// Steps 1-2 for the symmetric formats: 16 sub-blocks of 16, signed scales in [-smin, smax] over
// d, the largest-magnitude sub-scale mapped onto -smin (the grid's long end).
float fit_symmetric_superblock(const float* x, const float* w, int nneg, int npos, int smin, int smax,
                               std::array<int, 16>& sc) {
    std::array<float, 16> a{};
    float amax = 0.0f;
    float extreme = 0.0f;
    for (int s = 0; s < 16; ++s) {
        a[s] = fit_scale_symmetric(x + 16 * s, w + 16 * s, 16, nneg, npos);
        if (std::fabs(a[s]) > amax) {
            amax = std::fabs(a[s]);
            extreme = a[s];
        }
    }
    sc.fill(0);
    if (amax == 0.0f) {
        return 0.0f;
    }
    const float d = fp16_to_fp32(fp32_to_fp16(extreme / static_cast<float>(-smin)));
    for (int s = 0; s < 16; ++s) {
        sc[s] = d != 0.0f ? round_clamp(a[s] / d, -smin, smax) : 0;
    }
    return d;
}

void quantize_block_q3_k(const float* x, const float* w, BlockQ3_K* y) {
    std::array<int, 16> sc{};
    const float d = fit_symmetric_superblock(x, w, 4, 3, 32, 31, sc);
    std::memset(y, 0, sizeof(*y));
    y->d = fp32_to_fp16(d);
    for (int s = 0; s < 16; ++s) {
        const int v = sc[s] + 32;  // stored biased, 0..63
        y->scales[s % 8] |= static_cast<uint8_t>((v & 0x0f) << (s < 8 ? 0 : 4));
        y->scales[8 + s % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (s / 4)));
    }
    for (int e = 0; e < kQK_K; ++e) {
        const float dl = d * static_cast<float>(sc[e / 16]);
        const int q = (dl != 0.0f ? round_clamp(x[e] / dl, -4, 3) : 0) + 4;  // 0..7
        y->qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q & 3) << (2 * ((e % 128) / 32)));
        y->hmask[e % 32] |= static_cast<uint8_t>((q >> 2) << (e / 32));
    }
}

void quantize_block_q6_k(const float* x, const float* w, BlockQ6_K* y) {
    std::array<int, 16> sc{};
    const float d = fit_symmetric_superblock(x, w, 32, 31, 128, 127, sc);
    std::memset(y, 0, sizeof(*y));
    y->d = fp32_to_fp16(d);
    for (int s = 0; s < 16; ++s) {
        y->scales[s] = static_cast<int8_t>(sc[s]);
    }
    for (int e = 0; e < kQK_K; ++e) {
        const float dl = d * static_cast<float>(sc[e / 16]);
        const int q = (dl != 0.0f ? round_clamp(x[e] / dl, -32, 31) : 0) + 32;  // 0..63
        const int h = e / 128;
        const int k = (e % 128) / 32;
        const int l = e % 32;
        y->ql[64 * h + 32 * (k & 1) + l] |= static_cast<uint8_t>((q & 0x0f) << (k < 2 ? 0 : 4));
        y->qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
    }
}

template <typename Block>
void quantize_k_row(const float* x, const float* importance, void* dst, int64_t n_blocks,
                    void (*block_fn)(const float*, const float*, Block*)) {
    static const std::array<float, kQK_K> kUniform = [] {
        std::array<float, kQK_K> u{};
        u.fill(1.0f);
        return u;
    }();
    Block* y = static_cast<Block*>(dst);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float* w = importance != nullptr ? importance + b * kQK_K : kUniform.data();
        block_fn(x + b * kQK_K, w, &y[b]);
    }
}

}  // namespace

bool is_k_quant_writable(DType dtype) {
    switch (dtype) {
        case DType::kQ2_K:
        case DType::kQ3_K:
        case DType::kQ4_K:
        case DType::kQ5_K:
        case DType::kQ6_K: return true;
        default: return false;
    }
}

Status quantize_row_weighted(DType dtype, const float* src, void* dst, int64_t n, const float* importance) {
    if (!is_k_quant_writable(dtype)) {
        return quantize_row(dtype, src, dst, n);
    }
    if (n < 0 || n % kQK_K != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "quantize: row of %lld elements is not a whole number of %s blocks (256)",
                          static_cast<long long>(n), dtype_name(dtype));
    }
    const int64_t nb = n / kQK_K;
    switch (dtype) {
        case DType::kQ2_K: quantize_k_row<BlockQ2_K>(src, importance, dst, nb, quantize_block_q2_k); break;
        case DType::kQ3_K: quantize_k_row<BlockQ3_K>(src, importance, dst, nb, quantize_block_q3_k); break;
        case DType::kQ4_K:
            quantize_k_row<BlockQ4_K>(src, importance, dst, nb, quantize_block_q45_k<BlockQ4_K, 4>);
            break;
        case DType::kQ5_K:
            quantize_k_row<BlockQ5_K>(src, importance, dst, nb, quantize_block_q45_k<BlockQ5_K, 5>);
            break;
        case DType::kQ6_K: quantize_k_row<BlockQ6_K>(src, importance, dst, nb, quantize_block_q6_k); break;
        default: break;
    }
    return Status();
}

}  // namespace gannet::tensor
