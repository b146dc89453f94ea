// Quantizes activations to the int8 blocks of QuantizedX (see matmul_internal.h), once per matmul
// call, so the Q4_0/Q8_0 kernels can use integer dot products. Cost: one read of x and a write of
// ~1.25 bytes per element, ~1% of the weight traffic of the matmul it serves.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/matmul_internal.h"

#define GANNET_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace gannet::kernels::detail {

// Rounds x * (127 / amax) to nearest-even, the mode _mm256_cvtps_epi32 uses, so both versions agree
// bit for bit. Error per element: |x - d * q| <= d / 2 up to one float rounding of x * id.
void quantize_x_portable(const MatmulArgs& a, const QuantizedX& q, int64_t t_begin, int64_t t_end) {
    for (int64_t t = t_begin; t < t_end; ++t) {
        for (int64_t b = 0; b < q.n_blocks; ++b) {
            const float* x = a.x + t * a.n_in + b * kXBlock;
            int8_t* qs = q.qs + t * q.n_in;
            float amax = 0.0f;
            for (int i = 0; i < kXBlock; ++i) {
                amax = std::max(amax, std::fabs(x[i]));
            }
            const float d = amax / 127.0f;
            const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            int sum = 0;
            for (int i = 0; i < kXBlock; ++i) {
                const int v = static_cast<int>(std::nearbyint(x[i] * id));
                qs[x_offset(q.n_blocks, b, i)] = static_cast<int8_t>(v);
                sum += v;
            }
            q.d[t * q.n_blocks + b] = d;
            q.qsum[t * q.n_blocks + b] = sum;
        }
    }
}

GANNET_TARGET_AVX2 void quantize_x_avx2(const MatmulArgs& a, const QuantizedX& q, int64_t t_begin, int64_t t_end) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    // packs_epi32/epi16 interleave the two 128-bit lanes; this permutation restores element order.
    const __m256i unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t t = t_begin; t < t_end; ++t) {
        for (int64_t b = 0; b < q.n_blocks; ++b) {
            const float* x = a.x + t * a.n_in + b * kXBlock;
            __m256 v[4];
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < 4; ++j) {
                v[j] = _mm256_loadu_ps(x + 8 * j);
                m = _mm256_max_ps(m, _mm256_andnot_ps(sign_bit, v[j]));
            }
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            const float amax = _mm_cvtss_f32(m4);
            const float d = amax / 127.0f;
            const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
            __m256i i[4];
            for (int j = 0; j < 4; ++j) {
                i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
            }
            const __m256i sum4 = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum4), _mm256_extracti128_si256(sum4, 1));
            s4 = _mm_hadd_epi32(s4, s4);
            s4 = _mm_hadd_epi32(s4, s4);
            const __m256i p16a = _mm256_packs_epi32(i[0], i[1]);
            const __m256i p16b = _mm256_packs_epi32(i[2], i[3]);
            const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), unshuffle);
            int8_t* qs = q.qs + t * q.n_in;
            if ((q.n_blocks & 1) != 0 && b == q.n_blocks - 1) {
                _mm256_store_si256(reinterpret_cast<__m256i*>(qs + b * kXBlock), p8);
            } else {
                int8_t* lo = qs + x_offset(q.n_blocks, b, 0);
                _mm_store_si128(reinterpret_cast<__m128i*>(lo), _mm256_castsi256_si128(p8));
                _mm_store_si128(reinterpret_cast<__m128i*>(lo + 32), _mm256_extracti128_si256(p8, 1));
            }
            q.d[t * q.n_blocks + b] = d;
            q.qsum[t * q.n_blocks + b] = _mm_cvtsi128_si32(s4);
        }
    }
}

}  // namespace gannet::kernels::detail
