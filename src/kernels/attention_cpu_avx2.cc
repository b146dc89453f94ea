// flash_chunk on AVX2 + FMA + F16C (8 floats a vector): the traits V that attention_cpu_simd.h is
// written over. F16C converts f16 rows and the q8_0/q4_0 scales; int8 and nibbles widen to int32.
#include <immintrin.h>

// GCC 12 reports the undefined upper lanes inside its own intrinsics (as in matmul_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_cpu.h"
#include "tensor/quant.h"

#define GANNET_FLASH_TARGET __attribute__((target("avx2,fma,f16c")))

namespace gannet::kernels::detail {
namespace {

// Row stride of the per-head score buffer: a chunk's rows plus one vector of padding.
constexpr int64_t kStride = kFlashMaxRows + 8;

struct V {
    using R = __m256;
    static constexpr int kW = 8;
    GANNET_FLASH_TARGET static R zero() { return _mm256_setzero_ps(); }
    GANNET_FLASH_TARGET static R load(const float* p) { return _mm256_loadu_ps(p); }
    GANNET_FLASH_TARGET static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
    GANNET_FLASH_TARGET static R set1(float x) { return _mm256_set1_ps(x); }
    GANNET_FLASH_TARGET static R add(R a, R b) { return _mm256_add_ps(a, b); }
    GANNET_FLASH_TARGET static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
    GANNET_FLASH_TARGET static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
    GANNET_FLASH_TARGET static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
    // Fixed tree: 128-bit halves, then the 4 lanes pairwise.
    GANNET_FLASH_TARGET static float reduce(R x) {
        const __m128 q = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
        const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
        return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
    }
    // reduce() of four vectors at once, out[r] = reduce(x[r]) bit for bit: the same pairs are added
    // (a + b == b + a exactly), only shuffled so that one add serves several rows.
    static constexpr int kMaxAcc = 8;  // accumulators k_pass may keep live (of 16 registers)
    GANNET_FLASH_TARGET static void reduce4(const R* x, float* out) {
        // 128-bit halves: [row 0 | row 1] and [row 2 | row 3], 4 lanes each.
        const R h01 = _mm256_add_ps(_mm256_permute2f128_ps(x[0], x[1], 0x20), _mm256_permute2f128_ps(x[0], x[1], 0x31));
        const R h23 = _mm256_add_ps(_mm256_permute2f128_ps(x[2], x[3], 0x20), _mm256_permute2f128_ps(x[2], x[3], 0x31));
        // Lanes (0 + 2, 1 + 3): [row 0 pair, row 2 pair | row 1 pair, row 3 pair], then each pair.
        const R p = _mm256_add_ps(_mm256_shuffle_ps(h01, h23, _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(h01, h23, _MM_SHUFFLE(3, 2, 3, 2)));
        const R r = _mm256_hadd_ps(p, p);  // [row 0, row 2, ., . | row 1, row 3, ., .]
        _mm_storeu_ps(out, _mm_unpacklo_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1)));
    }
    GANNET_FLASH_TARGET static float half(uint16_t h) { return _cvtsh_ss(h); }
    GANNET_FLASH_TARGET static R load_f16(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    GANNET_FLASH_TARGET static R load_bf16(const uint16_t* p) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    }
    GANNET_FLASH_TARGET static R load_q8(const int8_t* p, float d) {
        const __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(w), _mm256_set1_ps(d));
    }
    GANNET_FLASH_TARGET static R load_q4(const uint8_t* p, int shift, float d) {
        __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        b = _mm_and_si128(_mm_srl_epi16(b, _mm_cvtsi32_si128(shift)), _mm_set1_epi8(0x0F));
        const __m256i w = _mm256_sub_epi32(_mm256_cvtepu8_epi32(b), _mm256_set1_epi32(8));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(w), _mm256_set1_ps(d));
    }
    // detail::flash_exp lane by lane (same constants and steps, with FMAs).
    GANNET_FLASH_TARGET static R exp(R x) {
        const R keep = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ);
        x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_setzero_ps());
        const R n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
        R r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
        const R z = _mm256_mul_ps(r, r);
        R y = _mm256_set1_ps(1.9875691500e-4f);
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
        y = _mm256_add_ps(_mm256_fmadd_ps(y, z, r), _mm256_set1_ps(1.0f));
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), keep);
    }
};

#include "kernels/attention_cpu_simd.h"

}  // namespace

GANNET_FLASH_TARGET void flash_chunk_avx2(const FlashChunkArgs& a) {
    chunk_any(a);
}

}  // namespace gannet::kernels::detail
