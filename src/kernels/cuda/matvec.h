// Decode-path matrix products on the GPU: y = x · Wᵀ for a few tokens (n_tokens small, typically 1),
// with W in its GGUF block layout (Q4_0, Q8_0, F16, BF16) in device memory. Memory-bound: every
// weight byte is read once per call, so the aim is the HBM roofline (bytes of W / bandwidth).
// Larger batches go through gemm.h (cuBLAS). Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

struct MatvecArgs {
    const void* w = nullptr;  // [n_out rows][n_in elements of w_dtype], device, GGUF block layout
    tensor::DType w_dtype = tensor::DType::kQ4_0;
    int64_t n_in = 0;         // row length; a multiple of block_size(w_dtype)
    int64_t n_out = 0;        // rows of W
    int64_t n_tokens = 0;     // rows of x and y; 0 is a no-op. Any count works; 1..8 is what this path is for
    const void* x = nullptr;  // [n_tokens, n_in] of x_dtype, device
    tensor::DType x_dtype = tensor::DType::kF32;  // kF32 or kBF16
    float* y = nullptr;                           // [n_tokens, n_out], device, overwritten; must not overlap x or w
};

// Largest token count one kernel launch handles; more tokens are processed in chunks of this many.
inline constexpr int64_t kMatvecMaxTokens = 8;

// kUnimplemented for another weight or activation dtype; kInvalidArgument for a bad size, a null
// pointer or n_in not a whole number of blocks; kInternal for a launch failure. Faults inside the
// kernel surface at the next synchronization.
Status matvec(const MatvecArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
