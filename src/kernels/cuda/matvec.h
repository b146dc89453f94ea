// Decode-path matrix products on the GPU: y = x · Wᵀ for a few tokens (n_tokens small, typically 1),
// with W in its GGUF block layout (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16) in device
// memory. Memory-bound: every weight byte is read once per call, so the aim is the HBM roofline
// (bytes of W / bandwidth).
// Q4_0, Q8_0, Q4_K and Q5_K given scratch: x is first quantized to int8 per 32-block with an f32 scale (like
// llama.cpp's Q8_0 activations; relative error of a product ~0.4% for uniform x), then integer dot
// products (dp4a). Without scratch they use the f32-activation kernel (exact up to summation order),
// as do all other weight types.
// Larger batches go through gemm.h (cuBLAS). Owner: CUDA backend. Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
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
    // Optional device scratch of matvec_scratch_size_bytes(*this) bytes, 16-byte aligned, for the
    // int8-activation path (Q4_0, Q8_0, Q4_K, Q5_K). nullptr selects the f32-activation path.
    void* scratch = nullptr;
    size_t scratch_size_bytes = 0;
};

// Largest token count one kernel launch handles; more tokens are processed in chunks of this many.
inline constexpr int64_t kMatvecMaxTokens = 8;

// True when matvec has a kernel for weights of this dtype.
bool matvec_supports(tensor::DType w_dtype);

// Bytes of scratch the int8-activation path needs for these weights and min(n_tokens, kMatvecMaxTokens)
// tokens (scratch is reused per chunk of tokens); 0 for weight types that never use it.
size_t matvec_scratch_size_bytes(const MatvecArgs& a);

// kUnimplemented for another weight or activation dtype; kInvalidArgument for a bad size, a null
// pointer, n_in not a whole number of blocks, or scratch given but too small or misaligned;
// kInternal for a launch failure. Faults inside the kernel surface at the next synchronization.
Status matvec(const MatvecArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
