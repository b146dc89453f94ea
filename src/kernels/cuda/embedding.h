// Token embedding lookup on the GPU: dequantizes one row of the [n_vocab, dim] table per token into
// f32. Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

struct EmbeddingArgs {
    const void* table = nullptr;                // [n_vocab rows][dim elements of dtype], device
    tensor::DType dtype = tensor::DType::kF32;  // kF32, kF16, kBF16, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0, kQ2_K..kQ6_K
    int64_t n_vocab = 0;
    int64_t dim = 0;                  // a multiple of block_size(dtype)
    const int32_t* tokens = nullptr;  // [n_tokens], device
    int64_t n_tokens = 0;
    float* out = nullptr;  // [n_tokens, dim], device
};

// kUnimplemented for another dtype; kInvalidArgument for bad sizes or null pointers. Token ids live
// on the device and cannot be checked here: REQUIRES tokens in [0, n_vocab). An id outside that
// range writes a row of NaN instead of reading out of bounds, so the bug shows in the logits.
Status embedding(const EmbeddingArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
