// Prefill-path matrix products on the GPU: y = x · Wᵀ for many tokens through cuBLAS tensor cores.
// x is rounded to bf16 (f16 for F16 weights); other W is dequantized to bf16 in tiles of whole
// rows (as many rows as fit kGemmTileElems, so most matrices take one or two cuBLAS calls), and
// cublasGemmEx multiplies with f32 accumulation. Owner: CUDA backend.
// Thread-safety: the handle and scratch belong to one stream at a time.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kernels/cuda/weight_layout.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

struct GemmArgs {
    const void* w = nullptr;                       // [n_out rows][n_in elements of w_dtype], device, GGUF block layout
    tensor::DType w_dtype = tensor::DType::kQ4_0;  // kF16, kBF16 or any type dequantize.h decodes but kF32
    WeightLayout w_layout = WeightLayout::kGguf;   // kQ4_0Split: Q4_0 only, w 16-byte aligned
    int64_t n_in = 0;
    int64_t n_out = 0;
    int64_t n_tokens = 0;      // 0 is a no-op
    const float* x = nullptr;  // [n_tokens, n_in], device
    float* y = nullptr;        // [n_tokens, n_out], device, overwritten
    void* scratch = nullptr;   // device, gemm_scratch_size_bytes(*this) bytes, 256-byte aligned
    size_t scratch_size_bytes = 0;
    cublasHandle_t cublas = nullptr;
    int64_t tile_rows = 0;  // rows of W dequantized per cuBLAS call; 0: gemm_default_tile_rows(n_in)
};

// Elements of W dequantized per cuBLAS call: 64 Mi bf16 = 128 MiB of scratch. At n_in = 4096 that is
// 16384 rows (every 8B projection but the output matrix in one call), at n_in = 14336 4680 rows.
// Larger tiles mean fewer, larger GEMMs; the dequantize pass costs the same bytes either way.
inline constexpr int64_t kGemmTileElems = int64_t{64} << 20;

// kGemmTileElems / n_in rounded down to a multiple of 128 rows (cuBLAS tile friendly), at least 128.
int64_t gemm_default_tile_rows(int64_t n_in);

// Bytes of device scratch gemm() needs: x in 16 bits plus, unless W is F16/BF16, one bf16 tile of rows.
size_t gemm_scratch_size_bytes(const GemmArgs& a);

// kUnimplemented for F32 (use cublasSgemm) or a dtype without a device decoder; kInvalidArgument for bad sizes, null
// pointers, a negative tile_rows, too little scratch or a split layout on another dtype / misaligned; kInternal for a
// CUDA or cuBLAS failure.
Status gemm(const GemmArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
