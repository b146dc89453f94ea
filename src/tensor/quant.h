// Quantized block layouts, bit-compatible with GGUF files made by llama.cpp, and row-wise
// conversion between them and float32. A row of n elements is n / block_size(dtype) consecutive
// blocks. Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "tensor/dtype.h"

namespace gannet::tensor {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK8_0 = 32;

// 32 weights as 4-bit unsigned q (0..15) with x = d * (q - 8). Low nibbles hold elements 0..15,
// high nibbles 16..31 (llama.cpp's layout).
struct BlockQ4_0 {
    uint16_t d;        // fp16 scale
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// 32 weights as int8 q with x = d * q.
struct BlockQ8_0 {
    uint16_t d;  // fp16 scale
    int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// dst[0..n) = float values of the row at src. kUnimplemented for a dtype without a dequantizer,
// kInvalidArgument when n is not a whole number of blocks.
Status dequantize_row(DType dtype, const void* src, float* dst, int64_t n);

// Writes row_size_bytes(dtype, n) bytes at dst, rounding exactly as llama.cpp's reference
// quantizer does (so files match byte for byte). Errors as dequantize_row.
Status quantize_row(DType dtype, const float* src, void* dst, int64_t n);

}  // namespace gannet::tensor
