// Rotary position embedding on the GPU, in place on f32 query/key rows. Same contract as
// kernels/ops/rope.h (kNormal: adjacent pairs; kNeox: (i, i + n_rot/2); partial rotary; llama3
// freq_factors). Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"
#include "kernels/ops/rope.h"

namespace gannet::kernels::cuda {

struct RopeArgs {
    float* x = nullptr;                  // [n_tokens, n_heads, head_dim], device, rotated in place
    const int32_t* positions = nullptr;  // [n_tokens], device
    int64_t n_tokens = 0;
    int64_t n_heads = 0;
    int64_t head_dim = 0;
    int64_t n_rot = 0;  // even, <= head_dim
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;
    const float* freq_factors = nullptr;  // [n_rot / 2], device, or null
    RopeStyle style = RopeStyle::kNormal;
};

// kInvalidArgument for an odd n_rot, n_rot > head_dim, bad sizes or null pointers.
Status rope(const RopeArgs& a, cudaStream_t stream);

// A decode step's attention inputs in one launch: rope(rope) on q (rope.x), rope on k with n_kv_heads
// heads and the same settings, then k's rows (after rotation) and v's rows copied to the cache rows
// at their positions: k_cache[positions[t] * n_kv_heads * head_dim + i] = k[t * n_kv_heads * head_dim
// + i], likewise v with v_dim. Same arithmetic as two rope() calls and two row stores.
struct RopeStoreArgs {
    RopeArgs rope;       // q in rope.x, n_heads its heads
    float* k = nullptr;  // [n_tokens, n_kv_heads, head_dim], device, rotated in place
    int64_t n_kv_heads = 0;
    const float* v = nullptr;  // [n_tokens, v_dim], device
    int64_t v_dim = 0;
    float* k_cache = nullptr;  // [>max position, n_kv_heads * head_dim], device
    float* v_cache = nullptr;  // [>max position, v_dim], device
};

// kInvalidArgument as rope(), or for null k/v/caches or non-positive n_kv_heads / v_dim.
Status rope_store(const RopeStoreArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
