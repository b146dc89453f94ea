// Weight rows in a GGUF layout (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, F16, BF16, F32) in device
// memory, converted to bf16 rows: the prefill path's way to feed quantized weights to tensor-core
// GEMMs (dequantize a tile of rows into scratch, then multiply). The values are those of
// tensor::dequantize_row rounded to bf16 (round to nearest even). Owner: CUDA backend.
// Thread-safety: pure (stream-ordered).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

// True when dequantize_rows (and matvec) accept weights of this dtype.
bool has_device_decoder(tensor::DType dtype);

// dst_bf16[r * n_in + i] = bf16(value of element i of row r), for n_rows rows of n_in elements stored
// back to back at src (row r at src + r * row_size_bytes(dtype, n_in)). src must be 2-byte aligned
// (4 for F32) and dst 16-byte aligned. kUnimplemented for a dtype without a decoder;
// kInvalidArgument for null pointers, misalignment, negative sizes or n_in not a whole number of
// blocks (and not a multiple of 8); kInternal for a launch failure. n_rows == 0 is a no-op.
Status dequantize_rows(tensor::DType dtype, const void* src, void* dst_bf16, int64_t n_rows, int64_t n_in,
                       cudaStream_t stream);

}  // namespace gannet::kernels::cuda
