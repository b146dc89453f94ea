// Row-wise softmax on the GPU, in place, f32; an all -inf row gives zeros (as kernels/ops softmax).
// Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::kernels::cuda {

struct SoftmaxArgs {
    float* x = nullptr;  // [n_rows, n_cols], device, in place
    int64_t n_rows = 0;
    int64_t n_cols = 0;
};

// kInvalidArgument for bad sizes or a null pointer.
Status softmax(const SoftmaxArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
