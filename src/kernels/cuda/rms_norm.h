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
};

// kInvalidArgument for bad sizes or null pointers; kInternal for a launch failure.
Status rms_norm(const RmsNormArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
