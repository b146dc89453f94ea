// Causal attention of a batch of query tokens over contiguous f32 K/V on the GPU (the prefill path;
// simple, not a flash kernel yet). Same contract as kernels/ops/attention.h: GQA, positions, an
// optional sliding window and tanh soft-capping. Owner: CUDA backend. Thread-safety: pure.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::kernels::cuda {

struct PrefillAttentionArgs {
    const float* q = nullptr;            // [n_tokens, n_heads, head_dim_k], device
    const int32_t* positions = nullptr;  // [n_tokens], device, each < n_kv
    const float* k = nullptr;            // position j, kv head g at k + j * k_stride + g * head_dim_k, device
    int64_t k_stride = 0;
    const float* v = nullptr;  // position j, kv head g at v + j * v_stride + g * head_dim_v, device
    int64_t v_stride = 0;
    float* out = nullptr;  // [n_tokens, n_heads, head_dim_v], device
    int64_t n_tokens = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;  // divides n_heads
    int64_t head_dim_k = 0;  // <= 256
    int64_t head_dim_v = 0;  // <= 256
    int64_t n_kv = 0;
    float scale = 1.0f;
    float softcap = 0.0f;  // 0: off
    int64_t window = 0;    // 0: full causal
};

// kInvalidArgument for inconsistent head counts, head dims over 256 or null pointers.
// REQUIRES (device data, unchecked): positions in [0, n_kv).
Status prefill_attention(const PrefillAttentionArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
