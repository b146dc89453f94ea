// Small element-wise ops the CUDA forward pass needs beyond src/kernels/cuda: scaling, bias rows,
// soft-capping and scattering freshly projected K/V rows into the cache at their positions (read
// from device memory, so a captured decode graph replays at any position). Owner: model (CUDA).
// Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::model::cuda {

// x[i] *= s for i < n.
Status scale(float* x, float s, int64_t n, cudaStream_t stream);
// x[r, i] += b[i] for r < n_rows, i < dim.
Status add_bias(float* x, const float* b, int64_t n_rows, int64_t dim, cudaStream_t stream);
// x = cap * tanh(x / cap).
Status softcap(float* x, float cap, int64_t n, cudaStream_t stream);
// dst[positions[t] * dim + i] = src[t * dim + i]; positions on the device.
Status store_rows(const float* src, float* dst, const int32_t* positions, int64_t n_tokens, int64_t dim,
                  cudaStream_t stream);

}  // namespace gannet::model::cuda

namespace gannet::model::cuda {

// Decode attention for one query token over the contiguous cache, split over the keys so a single
// sequence fills the GPU: split s of head h covers keys [s * kDecodeSplit, (s + 1) * kDecodeSplit)
// and writes its partial softmax (max, sum, unnormalized output) to scratch; a second kernel merges
// the splits. The query's position is read on the device and only splits at or before it do work,
// so the launch shape depends on n_ctx alone and a captured graph serves every position.
struct DecodeAttentionArgs {
    const float* q = nullptr;  // [n_heads, head_dim_k], device
    const int32_t* position = nullptr;  // [1], device
    const float* k = nullptr;  // position j, kv head g at k + j * k_stride + g * head_dim_k
    int64_t k_stride = 0;
    const float* v = nullptr;
    int64_t v_stride = 0;
    float* out = nullptr;  // [n_heads, head_dim_v], device
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim_k = 0;  // <= 256
    int64_t head_dim_v = 0;  // <= 256
    int64_t n_ctx = 0;       // keys the cache holds; positions are < n_ctx
    float scale = 1.0f;
    float softcap = 0.0f;
    int64_t window = 0;
    float* scratch = nullptr;  // decode_attention_scratch_floats() floats, device
};

inline constexpr int64_t kDecodeSplit = 64;
size_t decode_attention_scratch_floats(int64_t n_heads, int64_t head_dim_v, int64_t n_ctx);
Status decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream);

}  // namespace gannet::model::cuda
