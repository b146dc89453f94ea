// One thread per rotated pair: grid over (token, head) rows, threads over pairs. Angles are computed
// in f32 in the CPU reference's order (inverse frequency first, then times the scaled position).
#include "base/cuda/cuda_status.h"
#include "kernels/cuda/rope.h"

namespace gannet::kernels::cuda {
namespace {

// Rotates one head row xr at position `position` (the block's threads share its pairs).
__device__ __forceinline__ void rope_row(float* xr, int32_t position, int64_t n_rot, float freq_base, float freq_scale,
                                         const float* __restrict__ freq_factors, bool is_neox) {
    const int64_t n_pairs = n_rot / 2;
    const float pos = static_cast<float>(position) * freq_scale;
    for (int64_t i = threadIdx.x; i < n_pairs; i += blockDim.x) {
        float f = 1.0f / powf(freq_base, static_cast<float>(2 * i) / static_cast<float>(n_rot));
        if (freq_factors != nullptr) {
            f /= freq_factors[i];
        }
        float s;
        float c;
        sincosf(pos * f, &s, &c);
        const int64_t i0 = is_neox ? i : 2 * i;
        const int64_t i1 = is_neox ? i + n_pairs : 2 * i + 1;
        const float x0 = xr[i0];
        const float x1 = xr[i1];
        xr[i0] = x0 * c - x1 * s;
        xr[i1] = x0 * s + x1 * c;
    }
}

__global__ void rope_kernel(float* x, const int32_t* __restrict__ positions, int64_t n_heads, int64_t head_dim,
                            int64_t n_rot, float freq_base, float freq_scale, const float* __restrict__ freq_factors,
                            bool is_neox) {
    const int64_t row = blockIdx.x;  // token * n_heads + head
    rope_row(x + row * head_dim, positions[row / n_heads], n_rot, freq_base, freq_scale, freq_factors, is_neox);
}

// Blocks per token: n_heads q rows, then n_kv_heads k rows (rotated, then stored), then one block
// storing the token's v row.

}  // namespace

Status rope(const RopeArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    if (a.n_rot % 2 != 0 || a.n_rot <= 0 || a.n_rot > a.head_dim || a.n_heads <= 0 || a.n_tokens < 0
        || a.n_tokens * a.n_heads > INT32_MAX || a.x == nullptr || a.positions == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "rope: bad args n_rot=%lld head_dim=%lld n_heads=%lld",
                          static_cast<long long>(a.n_rot), static_cast<long long>(a.head_dim),
                          static_cast<long long>(a.n_heads));
    }
    // 64 threads cover the 64 pairs of a 128-wide head in one pass.
    constexpr int kBlock = 64;
    rope_kernel<<<static_cast<unsigned>(a.n_tokens * a.n_heads), kBlock, 0, stream>>>(
        a.x, a.positions, a.n_heads, a.head_dim, a.n_rot, a.freq_base, a.freq_scale, a.freq_factors,
        a.style == RopeStyle::kNeox);
    return gannet::cuda::cuda_status(cudaGetLastError(), "rope launch");
}

}  // namespace gannet::kernels::cuda
