// AVX2 + FMA + F16C matmul kernels (Haswell / Zen 1 and later). Compiled with per-function target
// attributes so the rest of the binary stays baseline x86-64; matmul.cc calls in here only after
// __builtin_cpu_supports said yes.
//
// Structure (both kernel families): rows are walked in blocks of kRowBlock; within a block, tokens
// are walked in tiles of kTokens, and each (kRows x kTokens) register tile reads its kRows weight
// rows once for all kTokens tokens. A 16-row block of even the widest row (5632 F32 = 22 KiB/row)
// is 360 KiB and stays in L2 while the token tiles sweep over it, so weights come from DRAM once
// per call. Decode (one token) is a plain streaming pass: the bound is DRAM bandwidth.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "base/half.h"
#include "kernels/matmul_internal.h"
#include "tensor/quant.h"

#define GANNET_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
// Fully unrolled tile loops: without it GCC 12 keeps the accumulator arrays in memory and stores
// every accumulator on every iteration (store-bound, ~2x slower).
#define GANNET_UNROLL _Pragma("GCC unroll 16")

namespace gannet::kernels::detail {
namespace {

using tensor::BlockQ4_0;
using tensor::BlockQ8_0;
using tensor::DType;

constexpr int kRows = 4;           // register tile: weight rows
constexpr int kTokens = 2;         // register tile: tokens (4x2 accumulators + 4 weights + 1 x = 13 ymm)
constexpr int64_t kRowBlock = 16;  // L2 block; matches kRowGroup in matmul.cc

GANNET_TARGET_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Decode prefetching: two schemes, chosen per dtype; matmul_avx512.cc explains why and has the
// measurements. Float and Q8_0 tiles take rows i + k * quarter (4 long streams for the hardware
// prefetcher); Q4_0 tiles keep adjacent rows and prefetch the next tile into L1 as they go.
template <size_t kBytes>
GANNET_TARGET_AVX2 inline void prefetch_span(const void* p) {
    const char* c = static_cast<const char*>(p);
    GANNET_UNROLL
    for (size_t i = 0; i < kBytes; i += 64) {
        _mm_prefetch(c + i, _MM_HINT_T0);
    }
    _mm_prefetch(c + kBytes - 1, _MM_HINT_T0);
}

// Weight loaders: 8 elements to 8 floats, and one element for the tail.
struct LoadF32 {
    using Elem = float;
    GANNET_TARGET_AVX2 static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
    static float load1(const float* p) { return *p; }
};
struct LoadF16 {
    using Elem = uint16_t;
    GANNET_TARGET_AVX2 static __m256 load8(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static float load1(const uint16_t* p) { return fp16_to_fp32(*p); }
};
struct LoadBF16 {
    using Elem = uint16_t;
    GANNET_TARGET_AVX2 static __m256 load8(const uint16_t* p) {
        const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
    }
    static float load1(const uint16_t* p) { return bf16_to_fp32(*p); }
};

// y[t][r] for R rows starting at w and T tokens starting at x. Per 8 columns: R loads, T loads,
// R*T FMAs, so the tile is FMA-bound once T >= 2 and the weights come from L2.
template <typename L, int R, int T>
GANNET_TARGET_AVX2 void float_tile(const typename L::Elem* w, int64_t row_step, const float* x, float* y, int64_t n_in,
                                   int64_t n_out) {
    const int64_t w_stride = row_step * n_in;
    __m256 acc[R][T];
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            acc[r][t] = _mm256_setzero_ps();
        }
    }
    const int64_t n8 = n_in & ~int64_t{7};
    for (int64_t k = 0; k < n8; k += 8) {
        __m256 wv[R];
        GANNET_UNROLL
        for (int r = 0; r < R; ++r) {
            wv[r] = L::load8(w + r * w_stride + k);
        }
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            const __m256 xv = _mm256_loadu_ps(x + t * n_in + k);
            GANNET_UNROLL
            for (int r = 0; r < R; ++r) {
                acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
            }
        }
    }
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            float s = hsum(acc[r][t]);
            for (int64_t k = n8; k < n_in; ++k) {
                s += L::load1(w + r * w_stride + k) * x[t * n_in + k];
            }
            y[t * n_out + r * row_step] = s;
        }
    }
}

template <typename L, int R>
GANNET_TARGET_AVX2 void float_tile_n(int nt, const typename L::Elem* w, const float* x, float* y, int64_t n_in,
                                     int64_t n_out) {
    static_assert(kTokens == 2);
    if (nt == 2) {
        float_tile<L, R, 2>(w, 1, x, y, n_in, n_out);
    } else {
        float_tile<L, R, 1>(w, 1, x, y, n_in, n_out);
    }
}

template <typename L>
GANNET_TARGET_AVX2 void float_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
    const auto* w = static_cast<const typename L::Elem*>(a.w);
    if (a.n_tokens == 1) {  // decode: rows i + k * quarter, see the comment on prefetch_span()
        const int64_t quarter = (row_end - row_begin) / kRows;
        for (int64_t i = 0; i < quarter; ++i) {
            const int64_t r = row_begin + i;
            float_tile<L, kRows, 1>(w + r * a.n_in, quarter, a.x, a.y + r, a.n_in, a.n_out);
        }
        for (int64_t r = row_begin + kRows * quarter; r < row_end; ++r) {
            float_tile<L, 1, 1>(w + r * a.n_in, 1, a.x, a.y + r, a.n_in, a.n_out);
        }
        return;
    }
    for (int64_t rb = row_begin; rb < row_end; rb += kRowBlock) {
        const int64_t rb_end = std::min(rb + kRowBlock, row_end);
        for (int64_t t = 0; t < a.n_tokens; t += kTokens) {
            const int nt = static_cast<int>(std::min<int64_t>(kTokens, a.n_tokens - t));
            const float* x = a.x + t * a.n_in;
            float* y = a.y + t * a.n_out;
            int64_t r = rb;
            for (; r + kRows <= rb_end; r += kRows) {
                float_tile_n<L, kRows>(nt, w + r * a.n_in, x, y + r, a.n_in, a.n_out);
            }
            for (; r < rb_end; ++r) {
                float_tile_n<L, 1>(nt, w + r * a.n_in, x, y + r, a.n_in, a.n_out);
            }
        }
    }
}

// Q4_0/Q8_0 weights against QuantizedX, blocks in pairs as in matmul_avx512.cc: registers hold
// [b lo | b+1 lo] and [b hi | b+1 hi], so 128-bit lane k of each dot product is block b+k and one
// convert + one FMA serve two blocks. Products come from maddubs (u8 x s8 -> s16 pairs, no
// saturation: Q4_0 nibbles 0..15 give at most 2*15*127 per half, so lo + hi still fits in s16;
// Q8_0 uses the sign trick |w| * (x * sign(w)), at most 2*128*127 per half, so its halves are
// widened by madd before adding). Q4_0's -8 comes back exactly as -2 Σq_x in each of a block's
// 4 lanes.
template <bool kIsQ4>
struct QuantPair {
    using Block = std::conditional_t<kIsQ4, BlockQ4_0, BlockQ8_0>;

    GANNET_TARGET_AVX2 static void codes(const Block* blk, __m256i& lo, __m256i& hi) {
        if constexpr (kIsQ4) {
            const __m256i raw = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)),
                                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs)));
            const __m256i low4 = _mm256_set1_epi8(0x0f);
            lo = _mm256_and_si256(raw, low4);
            hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
        } else {
            lo = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)),
                                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs)));
            hi = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs + 16)),
                                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs + 16)));
        }
    }
    // Σ w x per 4-lane group; lo/hi and x_lo/x_hi must hold the same element positions.
    GANNET_TARGET_AVX2 static __m256i dot(__m256i lo, __m256i hi, __m256i x_lo, __m256i x_hi) {
        const __m256i ones = _mm256_set1_epi16(1);
        if constexpr (kIsQ4) {
            const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, x_lo), _mm256_maddubs_epi16(hi, x_hi));
            return _mm256_madd_epi16(p16, ones);
        } else {
            const __m256i p_lo = _mm256_maddubs_epi16(_mm256_sign_epi8(lo, lo), _mm256_sign_epi8(x_lo, lo));
            const __m256i p_hi = _mm256_maddubs_epi16(_mm256_sign_epi8(hi, hi), _mm256_sign_epi8(x_hi, hi));
            return _mm256_add_epi32(_mm256_madd_epi16(p_lo, ones), _mm256_madd_epi16(p_hi, ones));
        }
    }
};

template <bool kIsQ4, int R, int T>
GANNET_TARGET_AVX2 void quant_tile(const uint8_t* w, size_t row_bytes, int64_t row_step, const QuantizedX& q,
                                   int64_t t0, float* y, int64_t n_out) {
    static_assert(R <= 4);
    using QP = QuantPair<kIsQ4>;
    using Block = typename QP::Block;
    const int64_t nb = q.n_blocks;
    const Block* rows[R];
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        rows[r] = reinterpret_cast<const Block*>(w + static_cast<size_t>(r * row_step) * row_bytes);
    }
    const int8_t* xq[T];
    const float* xd[T];
    const int32_t* xsum[T];
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        xq[t] = q.qs + (t0 + t) * q.n_in;
        xd[t] = q.d + (t0 + t) * nb;
        xsum[t] = q.qsum + (t0 + t) * nb;
    }
    __m256 acc[R][T];
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            acc[r][t] = _mm256_setzero_ps();
        }
    }
    const __m256i pair_idx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);  // element 0 or 1 per 128-bit half
    int64_t b = 0;
    const auto* next_tile = reinterpret_cast<const char*>(rows[0]) + R * row_bytes;
    constexpr size_t kStepBytes = R * 2 * sizeof(Block);
    for (; b + 2 <= nb; b += 2) {
        if (T == 1 && row_step == 1) {  // decode: memory-bound; prefill reuses the tile from L2
            prefetch_span<kStepBytes>(next_tile + b / 2 * static_cast<int64_t>(kStepBytes));
        }
        __m256i lo[R];
        __m256i hi[R];
        // fp16 scales packed in GPRs (scalar ALUs are idle here) as [r0 b, r0 b+1, r1 b, r1 b+1, ...],
        // then one conversion for all rows: lane 2r is row r's scale in block b, lane 2r+1 in b+1.
        uint64_t d_packed[2] = {0, 0};
        GANNET_UNROLL
        for (int r = 0; r < R; ++r) {
            const Block* blk = rows[r] + b;
            QP::codes(blk, lo[r], hi[r]);
            const uint64_t pair = blk[0].d | (static_cast<uint64_t>(blk[1].d) << 16);
            d_packed[r / 2] |= pair << (32 * (r % 2));
        }
        const __m256 dw =
            _mm256_cvtph_ps(_mm_set_epi64x(static_cast<int64_t>(d_packed[1]), static_cast<int64_t>(d_packed[0])));
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            const int8_t* xp = xq[t] + b * kXBlock;
            const __m256i x_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(xp));
            const __m256i x_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(xp + 32));
            // [dx_b, dx_b+1] in every 64-bit pair, to match dw.
            const __m256 dx = _mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(xd[t] + b)));
            const __m256 scales = _mm256_mul_ps(dw, dx);
            [[maybe_unused]] __m256i init;
            if constexpr (kIsQ4) {
                const __m256i s = _mm256_permutevar8x32_epi32(
                    _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(xsum[t] + b))), pair_idx);
                init = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, 1));
            }
            GANNET_UNROLL
            for (int r = 0; r < R; ++r) {
                __m256i p = QP::dot(lo[r], hi[r], x_lo, x_hi);
                if constexpr (kIsQ4) {
                    p = _mm256_add_epi32(p, init);
                }
                const __m256 scale =
                    _mm256_permutevar8x32_ps(scales, _mm256_add_epi32(pair_idx, _mm256_set1_epi32(2 * r)));
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[r][t]);
            }
        }
    }
    if (b < nb) {  // last block of an odd count, stored plainly: [lo | hi] of one block per register
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq[t] + b * kXBlock));
            const __m256i x_lo = _mm256_permute2x128_si256(x, x, 0x00);
            const __m256i x_hi = _mm256_permute2x128_si256(x, x, 0x11);
            GANNET_UNROLL
            for (int r = 0; r < R; ++r) {
                const Block* blk = rows[r] + b;
                __m256i lo;
                __m256i hi;
                const Block twice[2] = {*blk, *blk};  // both 128-bit halves hold this block
                QP::codes(twice, lo, hi);
                __m256i p = QP::dot(lo, hi, x_lo, x_hi);
                if constexpr (kIsQ4) {
                    p = _mm256_sub_epi32(p, _mm256_set1_epi32(2 * xsum[t][b]));
                }
                const __m256 sum4 = _mm256_blend_ps(_mm256_setzero_ps(), _mm256_cvtepi32_ps(p), 0x0f);
                acc[r][t] = _mm256_fmadd_ps(sum4, _mm256_set1_ps(_cvtsh_ss(blk->d) * xd[t][b]), acc[r][t]);
            }
        }
    }
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            y[t * n_out + r * row_step] = hsum(acc[r][t]);
        }
    }
}

template <bool kIsQ4, int R>
GANNET_TARGET_AVX2 void quant_tile_n(int nt, const uint8_t* w, size_t row_bytes, const QuantizedX& q, int64_t t0,
                                     float* y, int64_t n_out) {
    if (nt == 2) {
        quant_tile<kIsQ4, R, 2>(w, row_bytes, 1, q, t0, y, n_out);
    } else {
        quant_tile<kIsQ4, R, 1>(w, row_bytes, 1, q, t0, y, n_out);
    }
}

template <bool kIsQ4>
GANNET_TARGET_AVX2 void quant_rows(const MatmulArgs& a, const QuantizedX& q, int64_t row_begin, int64_t row_end) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const size_t row_bytes = tensor::row_size_bytes(a.w_dtype, a.n_in);
    if (a.n_tokens == 1 && !kIsQ4) {  // decode of Q8_0: see the comment on prefetch_span()
        const int64_t quarter = (row_end - row_begin) / kRows;
        for (int64_t i = 0; i < quarter; ++i) {
            const int64_t r = row_begin + i;
            quant_tile<kIsQ4, kRows, 1>(w + r * row_bytes, row_bytes, quarter, q, 0, a.y + r, a.n_out);
        }
        for (int64_t r = row_begin + kRows * quarter; r < row_end; ++r) {
            quant_tile<kIsQ4, 1, 1>(w + r * row_bytes, row_bytes, 1, q, 0, a.y + r, a.n_out);
        }
        return;
    }
    for (int64_t rb = row_begin; rb < row_end; rb += kRowBlock) {
        const int64_t rb_end = std::min(rb + kRowBlock, row_end);
        for (int64_t t = 0; t < a.n_tokens; t += kTokens) {
            const int nt = static_cast<int>(std::min<int64_t>(kTokens, a.n_tokens - t));
            float* y = a.y + t * a.n_out;
            int64_t r = rb;
            for (; r + kRows <= rb_end; r += kRows) {
                quant_tile_n<kIsQ4, kRows>(nt, w + r * row_bytes, row_bytes, q, t, y + r, a.n_out);
            }
            for (; r < rb_end; ++r) {
                quant_tile_n<kIsQ4, 1>(nt, w + r * row_bytes, row_bytes, q, t, y + r, a.n_out);
            }
        }
    }
}

}  // namespace

void matmul_rows_avx2(const MatmulArgs& a, const QuantizedX& q, int64_t row_begin, int64_t row_end) {
    switch (a.w_dtype) {
        case DType::kF32: float_rows<LoadF32>(a, row_begin, row_end); break;
        case DType::kF16: float_rows<LoadF16>(a, row_begin, row_end); break;
        case DType::kBF16: float_rows<LoadBF16>(a, row_begin, row_end); break;
        case DType::kQ4_0: quant_rows<true>(a, q, row_begin, row_end); break;
        case DType::kQ8_0: quant_rows<false>(a, q, row_begin, row_end); break;
        default: break;  // unreachable: matmul() sends other dtypes to the reference
    }
}

}  // namespace gannet::kernels::detail
