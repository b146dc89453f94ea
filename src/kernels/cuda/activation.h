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
    // Optional, device: out also written in matvec's int8 layout (int8_x.cuh) into this scratch of
    // quantized_out_size_bytes >= int8_x_size_bytes(n) bytes, 16-byte aligned, for a following
    // matvec with is_x_quantized (the down projection). Needs n % 32 == 0 and n no more than
    // kMatvecMaxTokens rows of the product's n_in.
    void* quantized_out = nullptr;
    size_t quantized_out_size_bytes = 0;
};

struct AddArgs {
    const float* a = nullptr;  // [n], device
    const float* b = nullptr;  // [n], device
    float* out = nullptr;      // [n], device: out = a + b
    int64_t n = 0;
};

// kInvalidArgument for a negative n or null pointers (glu: or a quantized_out breaking the above).
Status glu(const GluArgs& a, cudaStream_t stream);
Status add(const AddArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
