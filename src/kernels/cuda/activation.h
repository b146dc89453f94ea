// Element-wise ops of the transformer block on the GPU, f32: gated activations and residual add.
// Same functions as kernels/ops/activation.h. out may alias an input. Owner: CUDA backend.
// Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::kernels::cuda {

enum class GluKind {
    kSilu,      // out = silu(gate) * up  (SwiGLU)
    kGeluTanh,  // out = gelu_tanh(gate) * up  (GeGLU)
};

struct GluArgs {
    const float* gate = nullptr;  // [n], device
    const float* up = nullptr;    // [n], device
    float* out = nullptr;         // [n], device
    int64_t n = 0;
    GluKind kind = GluKind::kSilu;
};

struct AddArgs {
    const float* a = nullptr;  // [n], device
    const float* b = nullptr;  // [n], device
    float* out = nullptr;      // [n], device: out = a + b
    int64_t n = 0;
};

// kInvalidArgument for a negative n or null pointers.
Status glu(const GluArgs& a, cudaStream_t stream);
Status add(const AddArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
