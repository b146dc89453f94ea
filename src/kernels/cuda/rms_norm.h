// RMSNorm on the GPU: out = x / sqrt(mean(x²) + eps) * w per row, f32. Matches kernels/ops/rms_norm.h.
// Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::kernels::cuda {

struct RmsNormArgs {
    const float* x = nullptr;  // [n_rows, dim], device
    const float* w = nullptr;  // [dim], device
    float* out = nullptr;      // [n_rows, dim], device; may alias x
    int64_t n_rows = 0;
    int64_t dim = 0;
    float eps = 1e-5f;
    // Optional, device: out also written in matvec's int8 layout (int8_x.cuh) into this scratch of
    // quantized_out_size_bytes >= int8_x_size_bytes(n_rows * dim) bytes, 16-byte aligned, for
    // matvec with is_x_quantized (one launch instead of a norm and a quantization). Needs dim % 32
    // == 0 and n_rows <= kMatvecMaxTokens.
    void* quantized_out = nullptr;
    size_t quantized_out_size_bytes = 0;
};

// kInvalidArgument for bad sizes or null pointers (or a quantized_out that breaks the conditions
// above); kInternal for a launch failure.
Status rms_norm(const RmsNormArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
