#include "kernels/matmul_kquants.h"

#include <immintrin.h>

#include <vector>

#include "base/result.h"
#include "tensor/quant.h"

namespace gannet::kernels::detail {
namespace {

// Σ w[i] x[i] over n floats; four 8-wide accumulators hide the FMA latency (4 cycles, 2 ports).
__attribute__((target("avx2,fma"))) float dot_avx2(const float* w, const float* x, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps();
    __m256 acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), acc3);
    }
    __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    for (; i + 8 <= n; i += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
    }
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    float sum = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
    for (; i < n; ++i) {
        sum += w[i] * x[i];
    }
    return sum;
}

}  // namespace

Status matmul_rows_dequant_avx2(const MatmulArgs& a, int64_t row_begin, int64_t row_end) {
    const size_t row_bytes = tensor::row_size_bytes(a.w_dtype, a.n_in);
    // One row buffer per call (per thread and matmul): n_in floats, a few KB. thread_local keeps
    // steady-state decode free of heap traffic.
    thread_local std::vector<float> w_row;
    if (w_row.size() < static_cast<size_t>(a.n_in)) {
        w_row.resize(static_cast<size_t>(a.n_in));
    }
    for (int64_t r = row_begin; r < row_end; ++r) {
        const auto* src = static_cast<const uint8_t*>(a.w) + static_cast<size_t>(r) * row_bytes;
        GANNET_RETURN_IF_ERROR(tensor::dequantize_row(a.w_dtype, src, w_row.data(), a.n_in));
        for (int64_t t = 0; t < a.n_tokens; ++t) {
            a.y[t * a.n_out + r] = dot_avx2(w_row.data(), a.x + t * a.n_in, a.n_in);
        }
    }
    return Status();
}

}  // namespace gannet::kernels::detail
