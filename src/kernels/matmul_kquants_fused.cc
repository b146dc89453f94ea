// AVX2 build of the fused int8 kernels (matmul_kquants_fused_dots.h, read its header comment), and
// what both builds share: the activation format QuantizedXK (scratch layout, quantizer).
#include <immintrin.h>

#include <cstdint>

#define GANNET_FUSED_TARGET __attribute__((target("avx2,fma,f16c")))
#define GANNET_FUSED_VNNI 0
#define GANNET_UNROLL _Pragma("GCC unroll 8")
#include "kernels/matmul_kquants_fused_dots.h"

namespace gannet::kernels::detail {
namespace {

GANNET_FUSED_TARGET inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

}  // namespace

int xk_block(DType dtype) {
    switch (dtype) {
        case DType::kQ2_K:
        case DType::kQ3_K:
        case DType::kQ4_K:
        case DType::kQ5_K:
        case DType::kQ6_K: return 256;
        case DType::kQ4_1:
        case DType::kQ5_0:
        case DType::kQ5_1: return 32;
        default: return 0;
    }
}

size_t xk_scratch_bytes(int64_t n_tokens, int64_t n_in, int block) {
    const auto n = static_cast<size_t>(n_tokens * n_in);
    const size_t qs = (n + 63) / 64 * 64;
    const size_t d = (n / static_cast<size_t>(block) * sizeof(float) + 63) / 64 * 64;
    return qs + d + n / 16 * sizeof(int16_t);
}

QuantizedXK carve_xk(int64_t n_tokens, int64_t n_in, int block, uint8_t* base) {
    const auto n = static_cast<size_t>(n_tokens * n_in);
    QuantizedXK q;
    q.n_in = n_in;
    q.block = block;
    q.qs = reinterpret_cast<int8_t*>(base);
    base += (n + 63) / 64 * 64;
    q.d = reinterpret_cast<float*>(base);
    base += (n / static_cast<size_t>(block) * sizeof(float) + 63) / 64 * 64;
    q.bsums = reinterpret_cast<int16_t*>(base);
    return q;
}

// Per block: d = amax / 127, q = nearbyint(x * 127 / amax) (round half to even, the mode
// cvtps_epi32 uses), so |x - d q| <= d / 2 up to one float rounding of x * id.
GANNET_FUSED_TARGET void quantize_xk_avx2(const MatmulArgs& a, const QuantizedXK& q, int64_t t_begin, int64_t t_end) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256i unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int64_t nb = a.n_in / q.block;
    for (int64_t t = t_begin; t < t_end; ++t) {
        for (int64_t b = 0; b < nb; ++b) {
            const float* x = a.x + t * a.n_in + b * q.block;
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < q.block; j += 8) {
                m = _mm256_max_ps(m, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j)));
            }
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            const float amax = _mm_cvtss_f32(m4);
            q.d[t * nb + b] = amax / 127.0f;
            const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
            int8_t* qs = q.qs + t * a.n_in + b * q.block;
            int16_t* bsums = q.bsums + (t * a.n_in + b * q.block) / 16;
            for (int j = 0; j < q.block; j += 32) {
                __m256i v[4];
                for (int k = 0; k < 4; ++k) {
                    v[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), id));
                }
                bsums[j / 16] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(v[0], v[1])));
                bsums[j / 16 + 1] = static_cast<int16_t>(hsum_epi32(_mm256_add_epi32(v[2], v[3])));
                const __m256i p16a = _mm256_packs_epi32(v[0], v[1]);
                const __m256i p16b = _mm256_packs_epi32(v[2], v[3]);
                const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), unshuffle);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + j), p8);
            }
        }
    }
}

void matmul_rows_kquant_avx2(const MatmulArgs& a, const QuantizedXK& q, int64_t row_begin, int64_t row_end) {
    fused_rows(a, q, row_begin, row_end);
}

}  // namespace gannet::kernels::detail
