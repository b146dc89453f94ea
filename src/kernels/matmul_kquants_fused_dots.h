// Fused int8 dot kernels for the K-quants (Q2_K..Q6_K) and Q4_1/Q5_0/Q5_1: the activations are
// quantized once per call to int8 (QuantizedXK, matmul_kquants.h) and every weight block is dotted
// in integers (maddubs: u8 codes x s8 activations -> s16 pairs; madd: s16 x s16 -> s32), so no
// weight is ever widened to float. Written from the element formulas in tensor/quant.h and
// tensor/quant_k.h (the bit-exact dequantizers in quant.cc / quant_k.cc are the spec).
//
// Per K super-block (256 weights) the integer sum Σ_g sc_g Σ_{i in g} q_i x_i is exact in int32
// (at most 16 * 2 * 63 * 127 * 127 ≈ 3.3e7 for Q6_K), and the float work is one convert and one
// or two FMAs; offsets (Q6_K's -32, Q3_K's -4) and mins (Q2_K, Q4_K, Q5_K) are folded in through
// the activation's per-16 sums, again in integers. Legacy 32-blocks take one convert + FMA each.
//
// Code ranges against maddubs' s16 saturation (pairs of u8 * s8, |x| <= 127): Q6_K 0..63
// (2 * 63 * 127 = 16002), Q5 0..31, Q4 0..15, Q3_K 0..7, Q2_K 0..3: never saturates.
//
// One source for two instruction sets: this file is included once by matmul_kquants_fused.cc
// (AVX2: maddubs + madd) and once by matmul_kquants_fused_avx512.cc (AVX-512 VL + VNNI: the same
// kernels with vpdpwssd fusing madd + add and vpdpbusd replacing maddubs + madd). The two builds
// give the same int32 lanes (see madd_acc(), dot4_u8s8()) and the same float operations in the
// same order, so their outputs are bit-identical (matmul_test checks it). No include guard on
// purpose. Before including, define:
//   GANNET_FUSED_TARGET  the function attribute that enables the ISA, e.g. __attribute__((target("avx2")))
//   GANNET_FUSED_VNNI    1 to use the VNNI instructions (the target must enable avx512vl,avx512vnni)
//   GANNET_UNROLL        an unroll pragma for the fixed-trip token/sub-block loops
// It defines, in an anonymous namespace of gannet::kernels::detail, fused_rows() with the contract
// of matmul_rows_kquant_avx2() (matmul_kquants.h).
// Owner: matmul helper. Thread-safety: pure over the rows given; disjoint row ranges may run on
// different threads.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "base/half.h"
#include "kernels/matmul_kquants.h"
#include "tensor/quant.h"
#include "tensor/quant_k.h"

#if !defined(GANNET_FUSED_TARGET) || !defined(GANNET_FUSED_VNNI) || !defined(GANNET_UNROLL)
#error "define GANNET_FUSED_TARGET, GANNET_FUSED_VNNI and GANNET_UNROLL before including matmul_kquants_fused_dots.h"
#endif

namespace gannet::kernels::detail {
namespace {

using tensor::DType;

GANNET_FUSED_TARGET inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

GANNET_FUSED_TARGET inline __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

GANNET_FUSED_TARGET inline __m128i load128(const void* p) {
    return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

// acc + Σ pairs p16 x sc (s16 x s16 -> s32 per lane). VNNI's vpdpwssd does it in one instruction
// (no saturation, like madd + add), so both builds give the same int32 lanes.
GANNET_FUSED_TARGET inline __m256i madd_acc(__m256i acc, __m256i p16, __m256i sc) {
#if GANNET_FUSED_VNNI
    return _mm256_dpwssd_epi32(acc, p16, sc);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, sc));
#endif
}

// Per s32 lane, Σ of 4 adjacent u8 x s8 products. VNNI's vpdpbusd computes it exactly; maddubs'
// s16 pair sums cannot saturate for the code ranges here (file comment), so the lanes are equal.
GANNET_FUSED_TARGET inline __m256i dot4_u8s8(__m256i u, __m256i s) {
#if GANNET_FUSED_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// Per-16 scales as s16 for maddubs' output on 32 weights (sub-blocks g = 8h + 2k and g + 1): from
// `half` = the 8 scales of half h in both 128-bit lanes (half_scales()), the low lane gets sc[g] x 8
// and the high lane sc[g + 1] x 8. One in-lane shuffle per 32 weights.
GANNET_FUSED_TARGET inline __m256i half_scales(__m256i sc16, int h) {
    return h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
}

GANNET_FUSED_TARGET inline __m256i scale_pair(__m256i half, int k) {
    const auto word = [](int j) {
        return static_cast<short>((2 * j) | ((2 * j + 1) << 8));
    };
    return _mm256_shuffle_epi8(half, _mm256_set_m128i(_mm_set1_epi16(word(2 * k + 1)), _mm_set1_epi16(word(2 * k))));
}

// Bit j of `bits` -> byte j = `value` or 0, j = 0..31. AVX-512 BW takes `bits` as a byte mask (one
// masked move instead of broadcast, shuffle, and, compare, and).
GANNET_FUSED_TARGET inline __m256i expand_bits(uint32_t bits, char value) {
#if GANNET_FUSED_VNNI
    return _mm256_maskz_mov_epi8(static_cast<__mmask32>(bits), _mm256_set1_epi8(value));
#else
    const __m256i v = _mm256_set1_epi32(static_cast<int>(bits));
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                          3, 3, 3, 3, 3, 3);
    const __m256i sel = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, pick), sel), sel);
    return _mm256_and_si256(set, _mm256_set1_epi8(value));
#endif
}

// One token's view of QuantizedXK.
struct XRow {
    const int8_t* qs;
    const float* d;
    const int16_t* bsums;
};

// ---- K-quants: 256-weight super-blocks, x scale per 256 ------------------------------------------
//
// Every kernel takes NT (1..kMaxTokens) tokens: the weight codes are unpacked once per block and
// dotted with each token, so prefill pays the unpacking once per kMaxTokens tokens.

// x = d * sc[e / 16] * (q - 32), q = 4 low bits from ql | 2 high bits from qh << 4.
template <int NT>
GANNET_FUSED_TARGET void dot_q6_k(const uint8_t* row, const XRow* x, int64_t nb, float* out) {
    const auto* blk = reinterpret_cast<const tensor::BlockQ6_K*>(row);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 facc[NT];
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        facc[t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
        const tensor::BlockQ6_K& b = blk[i];
        const __m256i sc16 = _mm256_cvtepi8_epi16(load128(b.scales));
        __m256i acc[NT];
        GANNET_UNROLL
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_setzero_si256();
        }
        GANNET_UNROLL
        for (int h = 0; h < 2; ++h) {
            const __m256i half = half_scales(sc16, h);
            const __m256i ql0 = load256(b.ql + 64 * h);
            const __m256i ql1 = load256(b.ql + 64 * h + 32);
            const __m256i qh = load256(b.qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            GANNET_UNROLL
            for (int k = 0; k < 4; ++k) {
                const __m256i sc = scale_pair(half, k);
                GANNET_UNROLL
                for (int t = 0; t < NT; ++t) {
                    const __m256i p16 = _mm256_maddubs_epi16(q[k], load256(x[t].qs + i * 256 + 128 * h + 32 * k));
                    acc[t] = madd_acc(acc[t], p16, sc);
                }
            }
        }
        // -32 * Σ_g sc_g Σ_{i in g} x_i
        const float d = _cvtsh_ss(b.d);
        GANNET_UNROLL
        for (int t = 0; t < NT; ++t) {
            const __m256i corr = _mm256_madd_epi16(sc16, load256(x[t].bsums + 16 * i));
            const __m256i a = _mm256_sub_epi32(acc[t], _mm256_slli_epi32(corr, 5));
            facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(d * x[t].d[i]), facc[t]);
        }
    }
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        out[t] = hsum_ps(facc[t]);
    }
}

// Q4_K / Q5_K 6-bit scales and mins of the 8 sub-blocks, unpacked from the 12 scale bytes as bytes
// 0..7 of sc / mn (same result as tensor::scale_min_k4 for j = 0..7).
inline void unpack_k4_scales(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
    const uint32_t u0 = load_u32(s);
    const uint32_t u1 = load_u32(s + 4);
    const uint32_t u2 = load_u32(s + 8);
    const uint32_t sc_lo = u0 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    const uint32_t mn_lo = u1 & 0x3f3f3f3fu;
    const uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    std::memcpy(sc, &sc_lo, 4);
    std::memcpy(sc + 4, &sc_hi, 4);
    std::memcpy(mn, &mn_lo, 4);
    std::memcpy(mn + 4, &mn_hi, 4);
}

// x = d * sc[s] * q - dmin * m[s], s = e / 32; Q5_K adds bit s of qh[e % 32] as 16.
template <bool kFive, int NT>
GANNET_FUSED_TARGET void dot_q45_k(const uint8_t* row, const XRow* x, int64_t nb, float* out) {
    using Block = std::conditional_t<kFive, tensor::BlockQ5_K, tensor::BlockQ4_K>;
    const auto* blk = reinterpret_cast<const Block*>(row);
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i one = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 facc[NT];
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        facc[t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
        const Block& b = blk[i];
        alignas(8) uint8_t sc[8];
        alignas(8) uint8_t mn[8];
        unpack_k4_scales(b.scales, sc, mn);
        __m256i acc[NT];
        GANNET_UNROLL
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_setzero_si256();
        }
        [[maybe_unused]] __m256i qh;
        if constexpr (kFive) {
            qh = load256(b.qh);
        }
        GANNET_UNROLL
        for (int j = 0; j < 4; ++j) {
            const __m256i qv = load256(b.qs + 32 * j);
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            if constexpr (kFive) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
                qh = _mm256_srli_epi16(qh, 1);
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
                qh = _mm256_srli_epi16(qh, 1);
            }
            const __m256i sc_lo = _mm256_set1_epi16(sc[2 * j]);
            const __m256i sc_hi = _mm256_set1_epi16(sc[2 * j + 1]);
            GANNET_UNROLL
            for (int t = 0; t < NT; ++t) {
                const int8_t* xq = x[t].qs + i * 256 + 64 * j;
                acc[t] = madd_acc(acc[t], _mm256_maddubs_epi16(lo, load256(xq)), sc_lo);
                acc[t] = madd_acc(acc[t], _mm256_maddubs_epi16(hi, load256(xq + 32)), sc_hi);
            }
        }
        // Σ_s m[s] Σ_{i in s} x_i: the per-16 sums pairwise give the 8 per-32 sums.
        const __m256i m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn)));
        const float d = _cvtsh_ss(b.d);
        const float dmin = _cvtsh_ss(b.dmin);
        GANNET_UNROLL
        for (int t = 0; t < NT; ++t) {
            const __m256i xs32 = _mm256_madd_epi16(load256(x[t].bsums + 16 * i), ones16);
            const __m256i mins = _mm256_mullo_epi32(xs32, m32);
            const float dx = x[t].d[i];
            facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_set1_ps(d * dx), facc[t]);
            facc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(dmin * dx), facc[t]);
        }
    }
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        out[t] = hsum_ps(facc[t]);
    }
}

// The 16 signed Q3_K sub-block scales (6-bit, minus 32) as int8 (same as quant_k.cc's unpacking).
GANNET_FUSED_TARGET inline __m128i unpack_q3_scales(const uint8_t* s) {
    const uint32_t u0 = load_u32(s);
    const uint32_t u1 = load_u32(s + 4);
    const uint32_t u2 = load_u32(s + 8);
    const uint32_t s0 = (u0 & 0x0f0f0f0fu) | ((u2 & 0x03030303u) << 4);
    const uint32_t s1 = (u1 & 0x0f0f0f0fu) | (((u2 >> 2) & 0x03030303u) << 4);
    const uint32_t s2 = ((u0 >> 4) & 0x0f0f0f0fu) | (((u2 >> 4) & 0x03030303u) << 4);
    const uint32_t s3 = ((u1 >> 4) & 0x0f0f0f0fu) | (((u2 >> 6) & 0x03030303u) << 4);
    const __m128i v =
        _mm_setr_epi32(static_cast<int>(s0), static_cast<int>(s1), static_cast<int>(s2), static_cast<int>(s3));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

// Q3_K: x = d * sc[e / 16] * (q - 4), q = 2 bits from qs | hmask bit << 2.
// Q2_K: x = d * (sc[e / 16] & 15) * q - dmin * (sc[e / 16] >> 4), q = 2 bits from qs.
// Both: e = 128 h + 32 k + l takes bits 2k of qs[32 h + l].
template <bool kThree, int NT>
GANNET_FUSED_TARGET void dot_q23_k(const uint8_t* row, const XRow* x, int64_t nb, float* out) {
    using Block = std::conditional_t<kThree, tensor::BlockQ3_K, tensor::BlockQ2_K>;
    const auto* blk = reinterpret_cast<const Block*>(row);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 facc[NT];
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        facc[t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
        const Block& b = blk[i];
        __m128i sc8;
        [[maybe_unused]] __m128i mn8;
        [[maybe_unused]] __m256i hm;
        if constexpr (kThree) {
            sc8 = unpack_q3_scales(b.scales);
            hm = load256(b.hmask);
        } else {
            const __m128i raw = load128(b.scales);
            sc8 = _mm_and_si128(raw, _mm_set1_epi8(0x0f));
            mn8 = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0f));
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        __m256i acc[NT];
        GANNET_UNROLL
        for (int t = 0; t < NT; ++t) {
            acc[t] = _mm256_setzero_si256();
        }
        GANNET_UNROLL
        for (int h = 0; h < 2; ++h) {
            const __m256i half = half_scales(sc16, h);
            __m256i qv = load256(b.qs + 32 * h);
            GANNET_UNROLL
            for (int k = 0; k < 4; ++k) {
                __m256i q = _mm256_and_si256(qv, m3);
                qv = _mm256_srli_epi16(qv, 2);
                if constexpr (kThree) {
                    q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(hm, one), 2));
                    hm = _mm256_srli_epi16(hm, 1);
                }
                const __m256i sc = scale_pair(half, k);
                GANNET_UNROLL
                for (int t = 0; t < NT; ++t) {
                    const __m256i p16 = _mm256_maddubs_epi16(q, load256(x[t].qs + i * 256 + 128 * h + 32 * k));
                    acc[t] = madd_acc(acc[t], p16, sc);
                }
            }
        }
        const float d = _cvtsh_ss(b.d);
        if constexpr (kThree) {
            GANNET_UNROLL
            for (int t = 0; t < NT; ++t) {
                const __m256i corr = _mm256_madd_epi16(sc16, load256(x[t].bsums + 16 * i));  // -4 Σ_g sc_g Σ x
                const __m256i a = _mm256_sub_epi32(acc[t], _mm256_slli_epi32(corr, 2));
                facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(d * x[t].d[i]), facc[t]);
            }
        } else {
            const __m256i mn16 = _mm256_cvtepu8_epi16(mn8);
            const float dmin = _cvtsh_ss(b.dmin);
            GANNET_UNROLL
            for (int t = 0; t < NT; ++t) {
                const __m256i mins = _mm256_madd_epi16(mn16, load256(x[t].bsums + 16 * i));
                const float dx = x[t].d[i];
                facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_set1_ps(d * dx), facc[t]);
                facc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(dmin * dx), facc[t]);
            }
        }
    }
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        out[t] = hsum_ps(facc[t]);
    }
}

// ---- Legacy 32-blocks, x scale per 32 ------------------------------------------------------------

template <DType kType>
using LegacyBlock = std::conditional_t<kType == DType::kQ4_1, tensor::BlockQ4_1,
                                       std::conditional_t<kType == DType::kQ5_0, tensor::BlockQ5_0, tensor::BlockQ5_1>>;

// Block i of the row into acc[t] for NT tokens; Q4_1/Q5_1 leave their min, as float, in *mw.
template <DType kType, int NT>
GANNET_FUSED_TARGET inline void legacy_block(const LegacyBlock<kType>& b, const XRow* x, int64_t i, __m256 (&acc)[NT],
                                             float* mw) {
    constexpr bool kHasMin = kType != DType::kQ5_0;
    constexpr bool kFive = kType != DType::kQ4_1;
    const __m128i raw = load128(b.qs);
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
    if constexpr (kFive) {
        q = _mm256_or_si256(q, expand_bits(load_u32(b.qh), 16));
    }
    [[maybe_unused]] __m256i q_abs;
    if constexpr (!kHasMin) {
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
        q_abs = _mm256_sign_epi8(q, q);
    } else {
        *mw = _cvtsh_ss(b.m);
    }
    const float dw = _cvtsh_ss(b.d);
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        const __m256i xv = load256(x[t].qs + 32 * i);
        __m256i p;
        if constexpr (kHasMin) {
            p = dot4_u8s8(q, xv);
        } else {
            p = dot4_u8s8(q_abs, _mm256_sign_epi8(xv, q));
        }
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * x[t].d[i]), acc[t]);
    }
}

// Q4_1: x = d q + m. Q5_0: x = d (q - 16). Q5_1: x = d q + m. Low 4 bits: element j < 16 in the low
// nibble of qs[j], j >= 16 in the high nibble of qs[j - 16]; Q5 bit 4 = bit j of qh. Q5_0 dots the
// signed q - 16 directly (|q - 16| x (x * sign(q - 16)), as Q8_0 does); the mins of Q4_1/Q5_1 use
// the activation block sums.
//
// Even and odd blocks go to separate float accumulators: with one, decode (NT = 1) waited on the
// 4-cycle FMA latency every block. Every NT uses the same two, so a token's sum does not depend
// on its batch-mates.
template <DType kType, int NT>
GANNET_FUSED_TARGET void dot_legacy(const uint8_t* row, const XRow* x, int64_t nb, float* out) {
    constexpr bool kHasMin = kType != DType::kQ5_0;
    // The mins' term Σ_b m_b dx_b Σq_x,b: scalar it cost 7 FP-pipe ops per block and token, so it
    // runs 8 blocks per vector step after each run of 64 blocks, from the run's m_b kept on the
    // stack (a run, not 8 blocks: a 32-byte load right after its 8 scalar stores would miss
    // store-to-load forwarding and stall). Runs start at even blocks, so parity picks the same
    // accumulator in every run.
    constexpr int64_t kMinRun = 64;
    const auto* blk = reinterpret_cast<const LegacyBlock<kType>*>(row);
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc_even[NT];
    __m256 acc_odd[NT];
    __m256 fmin_v[NT];  // Σ m dx Σq_x over groups of 8 blocks (Q4_1/Q5_1)
    float fmin[NT];     // the same over the blocks left after each run's last group of 8
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        acc_even[t] = _mm256_setzero_ps();
        acc_odd[t] = _mm256_setzero_ps();
        fmin_v[t] = _mm256_setzero_ps();
        fmin[t] = 0.0f;
    }
    alignas(32) float mw[kMinRun] = {};
    for (int64_t i0 = 0; i0 < nb; i0 += kMinRun) {
        const int64_t i1 = std::min(nb, i0 + kMinRun);
        int64_t i = i0;
        for (; i + 2 <= i1; i += 2) {
            legacy_block<kType, NT>(blk[i], x, i, acc_even, &mw[i - i0]);
            legacy_block<kType, NT>(blk[i + 1], x, i + 1, acc_odd, &mw[i + 1 - i0]);
        }
        if (i < i1) {
            legacy_block<kType, NT>(blk[i], x, i, acc_even, &mw[i - i0]);
        }
        if constexpr (kHasMin) {
            i = i0;
            for (; i + 8 <= i1; i += 8) {
                const __m256 mwv = _mm256_load_ps(mw + (i - i0));
                GANNET_UNROLL
                for (int t = 0; t < NT; ++t) {
                    // bsums pairs -> the 8 per-32 sums of q_x
                    const __m256 xs = _mm256_cvtepi32_ps(_mm256_madd_epi16(load256(x[t].bsums + 2 * i), ones16));
                    fmin_v[t] = _mm256_fmadd_ps(_mm256_mul_ps(mwv, _mm256_loadu_ps(x[t].d + i)), xs, fmin_v[t]);
                }
            }
            for (; i < i1; ++i) {
                GANNET_UNROLL
                for (int t = 0; t < NT; ++t) {
                    const float xsum = static_cast<float>(x[t].bsums[2 * i] + x[t].bsums[2 * i + 1]);
                    fmin[t] += mw[i - i0] * x[t].d[i] * xsum;
                }
            }
        }
    }
    GANNET_UNROLL
    for (int t = 0; t < NT; ++t) {
        out[t] = hsum_ps(_mm256_add_ps(acc_even[t], acc_odd[t])) + (hsum_ps(fmin_v[t]) + fmin[t]);
    }
}

// Tokens per kernel call: 4 tokens x (1 int + 1 float accumulator) + the unpacked codes fit the 16
// ymm registers of AVX2.
constexpr int kMaxTokens = 4;

using DotFn = void (*)(const uint8_t*, const XRow*, int64_t, float*);

template <int NT>
DotFn dot_for(DType dtype) {
    switch (dtype) {
        case DType::kQ2_K: return dot_q23_k<false, NT>;
        case DType::kQ3_K: return dot_q23_k<true, NT>;
        case DType::kQ4_K: return dot_q45_k<false, NT>;
        case DType::kQ5_K: return dot_q45_k<true, NT>;
        case DType::kQ6_K: return dot_q6_k<NT>;
        case DType::kQ4_1: return dot_legacy<DType::kQ4_1, NT>;
        case DType::kQ5_0: return dot_legacy<DType::kQ5_0, NT>;
        case DType::kQ5_1: return dot_legacy<DType::kQ5_1, NT>;
        default: return nullptr;
    }
}

GANNET_FUSED_TARGET void fused_rows(const MatmulArgs& a, const QuantizedXK& q, int64_t row_begin, int64_t row_end) {
    const DotFn dots[kMaxTokens] = {dot_for<1>(a.w_dtype), dot_for<2>(a.w_dtype), dot_for<3>(a.w_dtype),
                                    dot_for<4>(a.w_dtype)};
    if (dots[0] == nullptr) {
        return;  // unreachable: matmul() checks xk_block() first
    }
    const auto* w = static_cast<const uint8_t*>(a.w);
    const size_t row_bytes = tensor::row_size_bytes(a.w_dtype, a.n_in);
    const int64_t nb = a.n_in / q.block;  // activation blocks = weight blocks (same block size)
    // Rows outer, token tiles inner: one weight row (<= a few KB) stays in L1 while every token
    // tile reads it.
    for (int64_t r = row_begin; r < row_end; ++r) {
        const uint8_t* wr = w + static_cast<size_t>(r) * row_bytes;
        for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kMaxTokens) {
            const int nt = static_cast<int>(std::min<int64_t>(kMaxTokens, a.n_tokens - t0));
            XRow x[kMaxTokens];
            for (int t = 0; t < nt; ++t) {
                const int64_t tt = t0 + t;
                x[t] = XRow{q.qs + tt * a.n_in, q.d + tt * nb, q.bsums + tt * a.n_in / 16};
            }
            float out[kMaxTokens];
            dots[nt - 1](wr, x, nb, out);
            for (int t = 0; t < nt; ++t) {
                a.y[(t0 + t) * a.n_out + r] = out[t];
            }
        }
    }
}

}  // namespace
}  // namespace gannet::kernels::detail
