// Greedy sampling on the GPU: the index of the largest logit of each row, ties to the lowest index
// (as std::max_element). NaN logits are skipped. Owner: CUDA backend. Thread-safety: pure.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"

namespace gannet::kernels::cuda {

struct ArgmaxArgs {
    const float* logits = nullptr;  // [n_rows, n_vocab], device
    int64_t n_rows = 0;
    int64_t n_vocab = 0;
    int32_t* out = nullptr;  // [n_rows], device; -1 for a row of only NaN
};

// kInvalidArgument for bad sizes or null pointers.
Status argmax(const ArgmaxArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
