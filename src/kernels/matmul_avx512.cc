// AVX-512 (F/BW/VL) + VNNI matmul kernels (Ice Lake, Zen 4 and later). Same blocking as
// matmul_avx2.cc (read its header comment), with the larger register file used for 4x4 tiles;
// Q4_0/Q8_0 prefill (8+ tokens) repacks 8 rows per call instead (packed_tile, below).
// Float weights use 512-bit FMAs with masked tails. Q4_0/Q8_0 use 256-bit vpdpbusd (u8 x s8 summed
// straight to s32) on block pairs, one block per 128-bit lane (see QuantizedX); Zen 4 executes
// 512-bit integer ops as two 256-bit halves anyway, so wider registers would only add shuffles.
// Measured on Zen 4 (1 core, weights in cache): Q4_0/Q8_0 ~140, F16/BF16 ~100, F32 ~80 GFLOP/s
// at 64 tokens; decode streams weights at DRAM speed (see matmul_bench.cc).
#include <immintrin.h>

// GCC 12 flags the _mm512_undefined_*() placeholders inside its own cvtph/extract intrinsics as
// uninitialized (a known false positive, GCC bug 105593); the values are fully masked off.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/matmul_internal.h"
#include "tensor/quant.h"

#define GANNET_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
// Fully unrolled tile loops: without it GCC 12 keeps the accumulator arrays in memory and stores
// every accumulator on every iteration (store-bound, ~2x slower).
#define GANNET_UNROLL _Pragma("GCC unroll 16")

namespace gannet::kernels::detail {
namespace {

using tensor::BlockQ4_0;
using tensor::BlockQ8_0;
using tensor::DType;

constexpr int kRows = 4;           // register tile: weight rows (quant_tile packs their scales in 4 lanes)
constexpr int kTokens = 4;         // float tile tokens: 16 accumulators + 4 weights + x of 32 zmm
constexpr int kQuantTokens = 4;    // quant tile tokens: 16 accumulators + 4+4 weight regs + x regs
constexpr int64_t kRowBlock = 16;  // L2 block; matches kRowGroup in matmul.cc

GANNET_TARGET_AVX512 inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Decode streams every weight byte once, so what matters is keeping DRAM busy. A 4-row tile of
// adjacent rows reads 4 short streams at once (a Q4_0 row of 2048 is 18 cache lines), which the
// hardware prefetchers pick up too late. So for one token the tile takes rows i, i+q, i+2q, i+3q of
// the thread's range (q = a quarter of it): each register row walks one long sequential stream that
// the hardware prefetcher follows (F16 25 GB/s, Q8_0 24 GB/s from DRAM on one core).
// Q4_0 does ~2x the work per byte, so its compute hides less of the DRAM latency: it also prefetches
// each stream kQ4PrefetchBytes ahead into L2. Measured 2026-12-08 (throwaway probe, min of 400
// calls, 2 threads, weights over 256 MiB, 5 alternating rounds, load 5): 5632x2048 / 2048x5632 at
// 28.5 / 25.3 GB/s median against 16.8 / 20.0 for the previous scheme (adjacent rows, next tile
// prefetched into L1); quarters without the prefetch 27.6 / 26.8. Prefetches never fault, so
// running past the end is fine.
constexpr int64_t kQ4PrefetchBytes = 2048;

// Weight loaders: up to 16 elements (mask selects them; the rest read as 0) to 16 floats.
struct LoadF32 {
    using Elem = float;
    GANNET_TARGET_AVX512 static __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
    using Elem = uint16_t;
    GANNET_TARGET_AVX512 static __m512 load16(const uint16_t* p, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    }
};
struct LoadBF16 {
    using Elem = uint16_t;
    GANNET_TARGET_AVX512 static __m512 load16(const uint16_t* p, __mmask16 m) {
        const __m512i u = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
    }
};

template <typename L, int R, int T>
GANNET_TARGET_AVX512 inline void float_step(const typename L::Elem* w, int64_t w_stride, const float* x, int64_t n_in,
                                            int64_t k, __mmask16 m, __m512 (&acc)[R][T]) {
    __m512 wv[R];
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        wv[r] = L::load16(w + r * w_stride + k, m);
    }
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * n_in + k);
        GANNET_UNROLL
        for (int r = 0; r < R; ++r) {
            acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
}

// y[t][r] for R rows at w and T tokens at x; per 16 columns R + T loads and R*T FMAs.
template <typename L, int R, int T>
GANNET_TARGET_AVX512 void float_tile(const typename L::Elem* w, int64_t row_step, const float* x, float* y,
                                     int64_t n_in, int64_t n_out) {
    __m512 acc[R][T];
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            acc[r][t] = _mm512_setzero_ps();
        }
    }
    const int64_t n16 = n_in & ~int64_t{15};
    for (int64_t k = 0; k < n16; k += 16) {
        float_step<L, R, T>(w, row_step * n_in, x, n_in, k, static_cast<__mmask16>(0xffff), acc);
    }
    if (n16 < n_in) {
        const __mmask16 tail = static_cast<__mmask16>((1u << (n_in - n16)) - 1);
        float_step<L, R, T>(w, row_step * n_in, x, n_in, n16, tail, acc);
    }
    GANNET_UNROLL
    for (int r = 0; r < R; ++r) {
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            y[t * n_out + r * row_step] = _mm512_reduce_add_ps(acc[r][t]);
        }
    }
}

template <typename L, int R>
GANNET_TARGET_AVX512 void float_tile_n(int nt, const typename L::Elem* w, const float* x, float* y, int64_t n_in,
                                       int64_t n_out) {
    static_assert(kTokens == 4);
    switch (nt) {
        case 4: float_tile<L, R, 4>(w, 1, x, y, n_in, n_out); break;
        case 3: float_tile<L, R, 3>(w, 1, x, y, n_in, n_out); break;
        case 2: float_tile<L, R, 2>(w, 1, x, y, n_in, n_out); break;
        default: float_tile<L, R, 1>(w, 1, x, y, n_in, n_out); break;
    }
}

template <typename L>
GANNET_TARGET_AVX512 void float_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
    const auto* w = static_cast<const typename L::Elem*>(a.w);
    if (a.n_tokens == 1) {  // decode: rows i + k * quarter, see the comment on kQ4PrefetchBytes
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

// Q4_0/Q8_0 weights as unsigned codes (Q4_0 nibble 0..15, Q8_0 byte + 128) against signed x:
// Σ (u - c) x = Σ u x - c Σ x, the correction preloaded into the vpdpbusd accumulator so the
// integer dot product comes out exact.
//
// Blocks go in pairs (see QuantizedX): the weight registers hold [b lo | b+1 lo] and [b hi | b+1 hi],
// two vpdpbusd give 128-bit lane k the whole dot product of block b+k, and one convert, one scale
// broadcast and one FMA finish both blocks. Per (row, token) that is 2.5 ops per block where a
// block-per-register scheme needs 4, and the float ops are what the two FMA pipes of Zen 4 run out
// of first (vpdpbusd shares them).
template <bool kIsQ4>
struct QuantPair {
    using Block = std::conditional_t<kIsQ4, BlockQ4_0, BlockQ8_0>;
    static constexpr int kLaneShift = kIsQ4 ? 1 : 5;  // log2(c / 4): 4 lanes carry one block's sum

    // First and second halves of blocks blk[0] and blk[1], as unsigned codes.
    GANNET_TARGET_AVX512 static void codes(const Block* blk, __m256i& lo, __m256i& hi) {
        if constexpr (kIsQ4) {
            const __m256i raw = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)),
                                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs)));
            const __m256i low4 = _mm256_set1_epi8(0x0f);
            lo = _mm256_and_si256(raw, low4);
            hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
        } else {
            const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
            lo = _mm256_xor_si256(_mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)),
                                                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs))),
                                  bias);
            hi = _mm256_xor_si256(_mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs + 16)),
                                                   _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs + 16))),
                                  bias);
        }
    }
    // Lanes 0..3: -(c/4) Σq_x of block b; lanes 4..7: of block b+1.
    GANNET_TARGET_AVX512 static __m256i init(const int32_t* qsum, __m256i pair_idx) {
        const __m256i s = _mm256_permutevar8x32_epi32(
            _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(qsum))), pair_idx);
        return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, kLaneShift));
    }
    // The last block of an odd count, stored plainly: [lo | hi] in one register, correction over 8 lanes.
    GANNET_TARGET_AVX512 static __m256i codes1(const Block* blk) {
        if constexpr (kIsQ4) {
            const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
            return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
        } else {
            return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)),
                                    _mm256_set1_epi8(static_cast<char>(0x80)));
        }
    }
    GANNET_TARGET_AVX512 static __m256i init1(int32_t qsum) {
        return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_set1_epi32(qsum), kLaneShift - 1));
    }
};

// Four rows' 8-lane partial dots of one block pair, reduced in the integer domain (exact) to
// [r0 b, r1 b, r2 b, r3 b | r0 b+1, r1 b+1, r2 b+1, r3 b+1]: three vphaddd per pair and token
// replace four converts, four scale shuffles and four FMAs.
GANNET_TARGET_AVX512 inline __m256i reduce4(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
}

// y[t][r] for R <= 4 rows (w, w + row_step rows, ...) and T tokens from t0. The tile always computes
// 4 rows (a short tile repeats row 0) so every (row, token) takes the same float path: one
// accumulator per token whose lane r sums row r over even blocks and lane 4 + r over odd blocks,
// each block adding float(exact int dot) * (d_w * d_x); y = lane r + lane 4 + r. Lanes never mix,
// so the result does not depend on R, T, the row's neighbours or the token's batch-mates.
template <bool kIsQ4, int R, int T>
GANNET_TARGET_AVX512 void quant_tile(const uint8_t* w, size_t row_bytes, int64_t row_step, const QuantizedX& q,
                                     int64_t t0, float* y, int64_t n_out) {
    static_assert(R >= 1 && R <= 4);
    using QP = QuantPair<kIsQ4>;
    using Block = typename QP::Block;
    const int64_t nb = q.n_blocks;
    const Block* rows[4];
    GANNET_UNROLL
    for (int r = 0; r < 4; ++r) {
        rows[r] = reinterpret_cast<const Block*>(w + static_cast<size_t>((r < R ? r : 0) * row_step) * row_bytes);
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
    __m256 acc[T];
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i pair_idx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);  // element 0 or 1 per 128-bit half
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        if (kIsQ4 && T == 1 && row_step != 1) {  // decode: see kQ4PrefetchBytes; prefill reuses L2
            GANNET_UNROLL
            for (int r = 0; r < R; ++r) {
                _mm_prefetch(reinterpret_cast<const char*>(rows[r] + b) + kQ4PrefetchBytes, _MM_HINT_T1);
            }
        }
        __m256i lo[4];
        __m256i hi[4];
        // fp16 scales packed in GPRs (scalar ALUs are idle here) as [r0 b .. r3 b, r0 b+1 .. r3 b+1],
        // the lane order of reduce4, then one conversion for all rows.
        uint64_t d_packed[2] = {0, 0};
        GANNET_UNROLL
        for (int r = 0; r < 4; ++r) {
            const Block* blk = rows[r] + b;
            QP::codes(blk, lo[r], hi[r]);
            d_packed[0] |= static_cast<uint64_t>(blk[0].d) << (16 * r);
            d_packed[1] |= static_cast<uint64_t>(blk[1].d) << (16 * r);
        }
        const __m256 dw =
            _mm256_cvtph_ps(_mm_set_epi64x(static_cast<int64_t>(d_packed[1]), static_cast<int64_t>(d_packed[0])));
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            const int8_t* xp = xq[t] + b * kXBlock;
            const __m256i x_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(xp));
            const __m256i x_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(xp + 32));
            const __m256i init = QP::init(xsum[t] + b, pair_idx);
            __m256i p[4];
            GANNET_UNROLL
            for (int r = 0; r < 4; ++r) {
                p[r] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(init, lo[r], x_lo), hi[r], x_hi);
            }
            // [dx_b x4 | dx_b+1 x4], to match dw.
            const __m256 dx = _mm256_permutevar8x32_ps(
                _mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(xd[t] + b))), pair_idx);
            acc[t] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce4(p[0], p[1], p[2], p[3])), _mm256_mul_ps(dw, dx), acc[t]);
        }
    }
    if (b < nb) {  // odd count: the last block (even index) goes to lanes 0..3 only
        __m256i codes[4];
        uint64_t d_packed = 0;
        GANNET_UNROLL
        for (int r = 0; r < 4; ++r) {
            codes[r] = QP::codes1(rows[r] + b);
            d_packed |= static_cast<uint64_t>(rows[r][b].d) << (16 * r);
        }
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(d_packed)));
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq[t] + b * kXBlock));
            const __m256i init = QP::init1(xsum[t][b]);
            __m256i p[4];
            GANNET_UNROLL
            for (int r = 0; r < 4; ++r) {
                p[r] = _mm256_dpbusd_epi32(init, codes[r], x);
            }
            const __m256i halves = reduce4(p[0], p[1], p[2], p[3]);  // [r0..r3 elements 0-15 | 16-31]
            const __m128i dot = _mm_add_epi32(_mm256_castsi256_si128(halves), _mm256_extracti128_si256(halves, 1));
            const __m128 prod = _mm_mul_ps(dw, _mm_set1_ps(xd[t][b]));
            const __m128 lo4 = _mm_fmadd_ps(_mm_cvtepi32_ps(dot), prod, _mm256_castps256_ps128(acc[t]));
            acc[t] = _mm256_insertf128_ps(acc[t], lo4, 0);
        }
    }
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        alignas(16) float out[4];
        _mm_store_ps(out, _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1)));
        GANNET_UNROLL
        for (int r = 0; r < R; ++r) {
            y[t * n_out + r * row_step] = out[r];
        }
    }
}

// Prefill: 8 rows repacked once per call into a scratch where one 256-bit register holds the same
// 4 codes of all 8 rows (lane r = row r), so vpdpbusd against 4 broadcast x bytes yields each row's
// block dot whole in its lane: no shuffles or horizontal sums per token, and one convert, scale
// multiply and FMA serve 8 rows. The float path is quant_tile's exactly (same exact int dot, same
// d_w * d_x product, even and odd blocks summed apart, then added), so outputs are bit-identical
// to decode. Repacking costs a few ops per block and row, spread over all n_tokens.
constexpr int kPackRows = 8;
constexpr int kPackTokens = 4;
constexpr int64_t kPackMinTokens = 8;  // below this the repack does not pay for itself

struct Packed {
    const uint8_t* codes;  // per block pair, 16 dwords (x order) x 8 rows x 4 bytes; a last odd block 8 x 8 x 4
    const float* dw;       // [n_blocks][8]
};

template <bool kIsQ4>
GANNET_TARGET_AVX512 void pack8(const uint8_t* w, size_t row_bytes, int64_t nb, uint8_t* codes, float* dw) {
    using QP = QuantPair<kIsQ4>;
    using Block = typename QP::Block;
    const Block* rows[kPackRows];
    for (int r = 0; r < kPackRows; ++r) {
        rows[r] = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * row_bytes);
    }
    for (int64_t b = 0; b < nb; ++b) {
        alignas(16) uint16_t h[kPackRows];
        for (int r = 0; r < kPackRows; ++r) {
            h[r] = rows[r][b].d;
        }
        _mm256_storeu_ps(dw + b * kPackRows, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h))));
    }
    // Row r's 64 codes of a pair in x order ([b lo | b+1 lo | b hi | b+1 hi]) as 16 dwords; an
    // 8x8 dword transpose per half puts dword k of every row in one register.
    alignas(32) uint32_t row_dw[kPackRows][16];
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        for (int r = 0; r < kPackRows; ++r) {
            __m256i lo;
            __m256i hi;
            QP::codes(rows[r] + b, lo, hi);
            _mm256_store_si256(reinterpret_cast<__m256i*>(row_dw[r]), lo);
            _mm256_store_si256(reinterpret_cast<__m256i*>(row_dw[r] + 8), hi);
        }
        auto* out = reinterpret_cast<uint32_t*>(codes + b * kXBlock * kPackRows);
        for (int k = 0; k < 16; ++k) {
            for (int r = 0; r < kPackRows; ++r) {
                out[k * kPackRows + r] = row_dw[r][k];
            }
        }
    }
    if (b < nb) {
        for (int r = 0; r < kPackRows; ++r) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(row_dw[r]), QP::codes1(rows[r] + b));
        }
        auto* out = reinterpret_cast<uint32_t*>(codes + b * kXBlock * kPackRows);
        for (int k = 0; k < 8; ++k) {
            for (int r = 0; r < kPackRows; ++r) {
                out[k * kPackRows + r] = row_dw[r][k];
            }
        }
    }
}

template <bool kIsQ4, int T>
GANNET_TARGET_AVX512 void packed_tile(const Packed& pk, const QuantizedX& q, int64_t t0, float* y, int64_t n_out) {
    constexpr int kShift = kIsQ4 ? 3 : 7;  // log2 c: the correction is -c * sum(q_x) per block
    const int64_t nb = q.n_blocks;
    const int8_t* xq[T];
    const float* xd[T];
    const int32_t* xsum[T];
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        xq[t] = q.qs + (t0 + t) * q.n_in;
        xd[t] = q.d + (t0 + t) * nb;
        xsum[t] = q.qsum + (t0 + t) * nb;
    }
    __m256 even[T];
    __m256 odd[T];
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        even[t] = _mm256_setzero_ps();
        odd[t] = _mm256_setzero_ps();
    }
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const auto* wc = reinterpret_cast<const __m256i*>(pk.codes + b * kXBlock * kPackRows);
        __m256i p0[T];
        __m256i p1[T];
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            p0[t] = _mm256_set1_epi32(-(xsum[t][b] << kShift));
            p1[t] = _mm256_set1_epi32(-(xsum[t][b + 1] << kShift));
        }
        // dwords 0-3 and 8-11 of the pair are block b, 4-7 and 12-15 block b+1.
        GANNET_UNROLL
        for (int k = 0; k < 16; ++k) {
            const __m256i wv = _mm256_loadu_si256(wc + k);
            GANNET_UNROLL
            for (int t = 0; t < T; ++t) {
                int32_t xv;
                __builtin_memcpy(&xv, xq[t] + b * kXBlock + 4 * k, 4);
                if ((k & 4) == 0) {
                    p0[t] = _mm256_dpbusd_epi32(p0[t], wv, _mm256_set1_epi32(xv));
                } else {
                    p1[t] = _mm256_dpbusd_epi32(p1[t], wv, _mm256_set1_epi32(xv));
                }
            }
        }
        const __m256 dw0 = _mm256_loadu_ps(pk.dw + b * kPackRows);
        const __m256 dw1 = _mm256_loadu_ps(pk.dw + (b + 1) * kPackRows);
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            even[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0[t]), _mm256_mul_ps(dw0, _mm256_set1_ps(xd[t][b])), even[t]);
            odd[t] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1[t]), _mm256_mul_ps(dw1, _mm256_set1_ps(xd[t][b + 1])), odd[t]);
        }
    }
    if (b < nb) {  // odd count: the last block has an even index
        const auto* wc = reinterpret_cast<const __m256i*>(pk.codes + b * kXBlock * kPackRows);
        const __m256 dw0 = _mm256_loadu_ps(pk.dw + b * kPackRows);
        GANNET_UNROLL
        for (int t = 0; t < T; ++t) {
            __m256i p = _mm256_set1_epi32(-(xsum[t][b] << kShift));
            GANNET_UNROLL
            for (int k = 0; k < 8; ++k) {
                int32_t xv;
                __builtin_memcpy(&xv, xq[t] + b * kXBlock + 4 * k, 4);
                p = _mm256_dpbusd_epi32(p, _mm256_loadu_si256(wc + k), _mm256_set1_epi32(xv));
            }
            even[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw0, _mm256_set1_ps(xd[t][b])), even[t]);
        }
    }
    GANNET_UNROLL
    for (int t = 0; t < T; ++t) {
        _mm256_storeu_ps(y + t * n_out, _mm256_add_ps(even[t], odd[t]));
    }
}

template <bool kIsQ4>
GANNET_TARGET_AVX512 void packed_rows(const MatmulArgs& a, const QuantizedX& q, int64_t r0) {
    static thread_local std::vector<uint8_t> codes;
    static thread_local std::vector<float> dw;
    const int64_t nb = q.n_blocks;
    codes.resize(static_cast<size_t>(nb * kXBlock * kPackRows));
    dw.resize(static_cast<size_t>(nb * kPackRows));
    const size_t row_bytes = tensor::row_size_bytes(a.w_dtype, a.n_in);
    pack8<kIsQ4>(static_cast<const uint8_t*>(a.w) + static_cast<size_t>(r0) * row_bytes, row_bytes, nb, codes.data(),
                 dw.data());
    const Packed pk{codes.data(), dw.data()};
    float* y = a.y + r0;
    int64_t t = 0;
    for (; t + kPackTokens <= a.n_tokens; t += kPackTokens) {
        packed_tile<kIsQ4, kPackTokens>(pk, q, t, y + t * a.n_out, a.n_out);
    }
    for (; t < a.n_tokens; ++t) {
        packed_tile<kIsQ4, 1>(pk, q, t, y + t * a.n_out, a.n_out);
    }
}

template <bool kIsQ4, int R>
GANNET_TARGET_AVX512 void quant_tile_n(int nt, const uint8_t* w, size_t row_bytes, const QuantizedX& q, int64_t t0,
                                       float* y, int64_t n_out) {
    constexpr int64_t kStep = 1;
    static_assert(kQuantTokens == 4);
    switch (nt) {
        case 4: quant_tile<kIsQ4, R, 4>(w, row_bytes, kStep, q, t0, y, n_out); break;
        case 3: quant_tile<kIsQ4, R, 3>(w, row_bytes, kStep, q, t0, y, n_out); break;
        case 2: quant_tile<kIsQ4, R, 2>(w, row_bytes, kStep, q, t0, y, n_out); break;
        default: quant_tile<kIsQ4, R, 1>(w, row_bytes, kStep, q, t0, y, n_out); break;
    }
}

template <bool kIsQ4>
GANNET_TARGET_AVX512 void quant_rows(const MatmulArgs& a, const QuantizedX& q, int64_t row_begin, int64_t row_end) {
    const auto* w = static_cast<const uint8_t*>(a.w);
    const size_t row_bytes = tensor::row_size_bytes(a.w_dtype, a.n_in);
    if (a.n_tokens == 1) {  // decode: see the comment on kQ4PrefetchBytes
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
    int64_t rb = row_begin;
    if (a.n_tokens >= kPackMinTokens) {
        for (; rb + kPackRows <= row_end; rb += kPackRows) {
            packed_rows<kIsQ4>(a, q, rb);
        }
    }
    for (; rb < row_end; rb += kRowBlock) {
        const int64_t rb_end = std::min(rb + kRowBlock, row_end);
        for (int64_t t = 0; t < a.n_tokens; t += kQuantTokens) {
            const int nt = static_cast<int>(std::min<int64_t>(kQuantTokens, a.n_tokens - t));
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

void matmul_rows_avx512(const MatmulArgs& a, const QuantizedX& q, int64_t row_begin, int64_t row_end) {
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
