// flash_chunk on AVX-512 (16 floats a vector): the traits V that attention_cpu_simd.h is written
// over. F16C converts f16 rows and the q8_0/q4_0 scales; int8 and nibbles widen to int32 then f32.
#include <immintrin.h>

// GCC 12 reports the undefined upper lanes inside its own intrinsics (as in matmul_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_cpu.h"
#include "tensor/quant.h"

#define GANNET_FLASH_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

namespace gannet::kernels::detail {
namespace {

// Row stride of the per-head score buffer: a chunk's rows plus one vector of padding.
constexpr int64_t kStride = kFlashMaxRows + 16;

struct V {
    using R = __m512;
    static constexpr int kW = 16;
    GANNET_FLASH_TARGET static R zero() { return _mm512_setzero_ps(); }
    GANNET_FLASH_TARGET static R load(const float* p) { return _mm512_loadu_ps(p); }
    GANNET_FLASH_TARGET static void store(float* p, R x) { _mm512_storeu_ps(p, x); }
    GANNET_FLASH_TARGET static R set1(float x) { return _mm512_set1_ps(x); }
    GANNET_FLASH_TARGET static R add(R a, R b) { return _mm512_add_ps(a, b); }
    GANNET_FLASH_TARGET static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
    GANNET_FLASH_TARGET static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
    GANNET_FLASH_TARGET static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
    // Fixed tree: 256-bit halves, then 128-bit halves, then the 4 lanes pairwise.
    GANNET_FLASH_TARGET static float reduce(R x) {
        const __m256 h =
            _mm256_add_ps(_mm512_castps512_ps256(x), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
        const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        const __m128 p = _mm_add_ps(q, _mm_movehl_ps(q, q));
        return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
    }
    // reduce() of four vectors at once, out[r] = reduce(x[r]) bit for bit: the same pairs are added
    // (a + b == b + a exactly), only shuffled so that one add serves several rows.
    static constexpr int kMaxAcc = 16;  // accumulators k_pass may keep live (of 32 registers)
    GANNET_FLASH_TARGET static void reduce4(const R* x, float* out) {
        // 256-bit halves of rows 0|1 and 2|3, then 128-bit halves: blocks [row 0, 1, 2, 3].
        const R h01 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xEE));
        const R h23 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], 0x44), _mm512_shuffle_f32x4(x[2], x[3], 0xEE));
        const R q = _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, 0x88), _mm512_shuffle_f32x4(h01, h23, 0xDD));
        // Each block's lanes: (0 + 2, 1 + 3), then those two; lane 0 of each block holds its row.
        const R p = _mm512_add_ps(q, _mm512_permute_ps(q, _MM_SHUFFLE(1, 0, 3, 2)));
        const R r = _mm512_add_ps(p, _mm512_permute_ps(p, _MM_SHUFFLE(2, 3, 0, 1)));
        const R g = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), r);
        _mm_storeu_ps(out, _mm512_castps512_ps128(g));
    }
    GANNET_FLASH_TARGET static float half(uint16_t h) { return _cvtsh_ss(h); }
    GANNET_FLASH_TARGET static R load_f16(const uint16_t* p) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
    GANNET_FLASH_TARGET static R load_bf16(const uint16_t* p) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    }
    GANNET_FLASH_TARGET static R load_q8(const int8_t* p, float d) {
        const __m512i w = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(w), _mm512_set1_ps(d));
    }
    GANNET_FLASH_TARGET static R load_q4(const uint8_t* p, int shift, float d) {
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        b = _mm_and_si128(_mm_srl_epi16(b, _mm_cvtsi32_si128(shift)), _mm_set1_epi8(0x0F));
        const __m512i w = _mm512_sub_epi32(_mm512_cvtepu8_epi32(b), _mm512_set1_epi32(8));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(w), _mm512_set1_ps(d));
    }
    // detail::flash_exp lane by lane (same constants and steps, with FMAs).
    GANNET_FLASH_TARGET static R exp(R x) {
        const __mmask16 is_zero = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_LT_OQ);
        x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_setzero_ps());
        const R n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                         _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        R r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
        r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
        const R z = _mm512_mul_ps(r, r);
        R y = _mm512_set1_ps(1.9875691500e-4f);
        y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
        y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
        y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
        y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
        y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
        y = _mm512_add_ps(_mm512_fmadd_ps(y, z, r), _mm512_set1_ps(1.0f));
        const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
        return _mm512_maskz_mul_ps(static_cast<__mmask16>(~is_zero), y, _mm512_castsi512_ps(e));
    }
};

#include "kernels/attention_cpu_simd.h"

}  // namespace

GANNET_FLASH_TARGET void flash_chunk_avx512(const FlashChunkArgs& a) {
    chunk_any(a);
}

}  // namespace gannet::kernels::detail
