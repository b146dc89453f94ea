// Small element-wise ops of the CUDA forward: scaling, bias rows and soft-capping.
// Owner: CUDA backend.
// Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::kernels::cuda {

// x[i] *= s for i < n.
Status scale(float* x, float s, int64_t n, cudaStream_t stream);
// x[r, i] += b[i] for r < n_rows, i < dim.
Status add_bias(float* x, const float* b, int64_t n_rows, int64_t dim, cudaStream_t stream);
// x = cap * tanh(x / cap).
Status softcap(float* x, float cap, int64_t n, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
