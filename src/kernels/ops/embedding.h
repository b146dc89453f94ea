// Token embedding lookup: dequantizes one row of the [n_vocab, dim] table per token.
// Thread-safety: pure.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::kernels {

struct EmbeddingArgs {
    const void* table = nullptr;  // [n_vocab rows][dim elements of dtype], host memory
    tensor::DType dtype = tensor::DType::kF32;
    int64_t n_vocab = 0;
    int64_t dim = 0;
    const int32_t* tokens = nullptr;  // [n_tokens]
    int64_t n_tokens = 0;
    float* out = nullptr;  // [n_tokens, dim]
};

// kInvalidArgument for a token id outside [0, n_vocab); dequantization errors pass through.
Status embedding(const EmbeddingArgs& a);

}  // namespace gannet::kernels
