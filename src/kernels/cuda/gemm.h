// Prefill-path matrix products on the GPU: y = x · Wᵀ for many tokens through cuBLAS tensor cores.
// Simple by design: x is rounded to bf16 (f16 for F16 weights), quantized W is dequantized to bf16
// in tiles of rows, and cublasGemmEx multiplies with f32 accumulation. Owner: CUDA backend.
// Thread-safety: the handle and scratch belong to one stream at a time.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

struct GemmArgs {
    const void* w = nullptr;                       // [n_out rows][n_in elements of w_dtype], device, GGUF block layout
    tensor::DType w_dtype = tensor::DType::kQ4_0;  // kQ4_0, kQ8_0, kF16 or kBF16
    int64_t n_in = 0;
    int64_t n_out = 0;
    int64_t n_tokens = 0;      // 0 is a no-op
    const float* x = nullptr;  // [n_tokens, n_in], device
    float* y = nullptr;        // [n_tokens, n_out], device, overwritten
    void* scratch = nullptr;   // device, gemm_scratch_size_bytes(*this) bytes, 256-byte aligned
    size_t scratch_size_bytes = 0;
    cublasHandle_t cublas = nullptr;
};

// Rows of W dequantized per cuBLAS call: 4096 x n_in bf16 is 32 MiB at n_in = 4096, large enough
// that each call is a full-size GEMM and small enough to keep the scratch modest.
inline constexpr int64_t kGemmRowTile = 4096;

// Bytes of device scratch gemm() needs: x in 16 bits plus, for quantized W, one tile of rows.
size_t gemm_scratch_size_bytes(const GemmArgs& a);

// kUnimplemented for another dtype; kInvalidArgument for bad sizes, null pointers or too little
// scratch; kInternal for a CUDA or cuBLAS failure.
Status gemm(const GemmArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
