// Matrix products against weight matrices of any supported dtype: the op that dominates every
// forward pass. y = x · Wᵀ, W stored row-major as n_out rows of n_in elements (GGUF/ggml layout:
// a tensor of shape [n_in, n_out] in ggml order). matmul() picks the fastest implementation this
// CPU supports at run time (AVX-512, AVX2, or the portable reference) and splits rows over threads.
// Thread-safety: pure; the pool must not be used by another thread during the call.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace gannet::kernels {

struct MatmulArgs {
    const void* w = nullptr;                 // [n_out rows][n_in elements of w_dtype], host memory
    tensor::DType w_dtype = tensor::DType::kF32;
    int64_t n_in = 0;                        // row length; a multiple of block_size(w_dtype)
    int64_t n_out = 0;                       // rows of W
    int64_t n_tokens = 0;                    // rows of x and y
    const float* x = nullptr;                // [n_tokens, n_in]
    float* y = nullptr;                      // [n_tokens, n_out], overwritten
};

// kUnimplemented for a dtype without a kernel; kInvalidArgument when n_in is not a whole number of blocks.
Status matmul(const MatmulArgs& a, ThreadPool& pool);

// The portable reference: dequantize each weight row to float and accumulate in double-free,
// straightforward float32 order. Used by the tests as the ground truth for the SIMD versions.
Status matmul_reference(const MatmulArgs& a);

}  // namespace gannet::kernels
