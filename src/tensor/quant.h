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
    uint16_t d;  // fp16 scale
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// 32 weights as int8 q with x = d * q.
struct BlockQ8_0 {
    uint16_t d;  // fp16 scale
    int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// 32 weights as 4-bit unsigned q with x = d * q + m. Nibble order as BlockQ4_0.
struct BlockQ4_1 {
    uint16_t d;  // fp16 scale
    uint16_t m;  // fp16 minimum
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// 32 weights as 5-bit unsigned q (0..31) with x = d * (q - 16). Low 4 bits as BlockQ4_0; bit 4 of
// element j is bit j of the little-endian u32 in qh.
struct BlockQ5_0 {
    uint16_t d;  // fp16 scale
    uint8_t qh[4];
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

// As BlockQ5_0 but x = d * q + m.
struct BlockQ5_1 {
    uint16_t d;  // fp16 scale
    uint16_t m;  // fp16 minimum
    uint8_t qh[4];
    uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// As BlockQ8_0 plus s = d * sum(q), which dot products with Q4_1/Q5_1 use for the min term.
struct BlockQ8_1 {
    uint16_t d;  // fp16 scale
    uint16_t s;  // fp16 d * sum(qs)
    int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_1) == 36);

// True when dequantize_row / quantize_row handle dtype (F32, F16, BF16, F64, the integer types
// and every block type above or in quant_k.h for dequantize; quantize lacks Q2_K..Q6_K, whose
// reference quantizers search for scales, and the integer types).
bool can_dequantize(DType dtype);
bool can_quantize(DType dtype);

// dst[0..n) = float values of the row at src. kUnimplemented for a dtype without a dequantizer,
// kInvalidArgument when n is not a whole number of blocks.
Status dequantize_row(DType dtype, const void* src, float* dst, int64_t n);

// Writes row_size_bytes(dtype, n) bytes at dst, rounding exactly as llama.cpp's reference
// quantizer does (so files match byte for byte). Errors as dequantize_row.
Status quantize_row(DType dtype, const float* src, void* dst, int64_t n);

}  // namespace gannet::tensor
