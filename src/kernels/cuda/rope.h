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

}  // namespace gannet::kernels::cuda
