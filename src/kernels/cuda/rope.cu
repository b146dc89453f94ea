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
__global__ void rope_store_kernel(RopeArgs a, float* k, int64_t n_kv_heads, const float* v, int64_t v_dim,
                                  float* k_cache, float* v_cache) {
    const int64_t per_token = a.n_heads + n_kv_heads + 1;
    const int64_t t = blockIdx.x / per_token;
    const int64_t j = blockIdx.x % per_token;
    const int32_t position = a.positions[t];
    const bool is_neox = a.style == RopeStyle::kNeox;
    if (j < a.n_heads) {
        rope_row(a.x + (t * a.n_heads + j) * a.head_dim, position, a.n_rot, a.freq_base, a.freq_scale, a.freq_factors,
                 is_neox);
    } else if (j < a.n_heads + n_kv_heads) {
        const int64_t g = j - a.n_heads;
        const int64_t k_dim = n_kv_heads * a.head_dim;
        float* kr = k + t * k_dim + g * a.head_dim;
        rope_row(kr, position, a.n_rot, a.freq_base, a.freq_scale, a.freq_factors, is_neox);
        __syncthreads();  // the row's pairs were rotated by several threads
        float* dst = k_cache + static_cast<int64_t>(position) * k_dim + g * a.head_dim;
        for (int64_t i = threadIdx.x; i < a.head_dim; i += blockDim.x) {
            dst[i] = kr[i];
        }
    } else {
        const float* vr = v + t * v_dim;
        float* dst = v_cache + static_cast<int64_t>(position) * v_dim;
        for (int64_t i = threadIdx.x; i < v_dim; i += blockDim.x) {
            dst[i] = vr[i];
        }
    }
}

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

Status rope_store(const RopeStoreArgs& a, cudaStream_t stream) {
    const RopeArgs& r = a.rope;
    if (r.n_tokens == 0) {
        return Status();
    }
    if (r.n_rot % 2 != 0 || r.n_rot <= 0 || r.n_rot > r.head_dim || r.n_heads <= 0 || r.n_tokens < 0 || r.x == nullptr
        || r.positions == nullptr || a.k == nullptr || a.v == nullptr || a.k_cache == nullptr || a.v_cache == nullptr
        || a.n_kv_heads <= 0 || a.v_dim <= 0 || r.n_tokens * (r.n_heads + a.n_kv_heads + 1) > INT32_MAX) {
        return make_error(ErrorCode::kInvalidArgument,
                          "rope_store: bad args n_rot=%lld head_dim=%lld n_heads=%lld n_kv_heads=%lld v_dim=%lld",
                          static_cast<long long>(r.n_rot), static_cast<long long>(r.head_dim),
                          static_cast<long long>(r.n_heads), static_cast<long long>(a.n_kv_heads),
                          static_cast<long long>(a.v_dim));
    }
    constexpr int kBlock = 64;  // as rope(): one pass over a 128-wide head's pairs
    const auto n_blocks = static_cast<unsigned>(r.n_tokens * (r.n_heads + a.n_kv_heads + 1));
    rope_store_kernel<<<n_blocks, kBlock, 0, stream>>>(r, a.k, a.n_kv_heads, a.v, a.v_dim, a.k_cache, a.v_cache);
    return gannet::cuda::cuda_status(cudaGetLastError(), "rope_store launch");
}

}  // namespace gannet::kernels::cuda
