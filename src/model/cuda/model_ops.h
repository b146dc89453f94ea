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
