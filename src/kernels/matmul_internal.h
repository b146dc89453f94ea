// Internal to src/kernels/matmul*.cc: the per-ISA row kernels and the int8 activation format they
// share. Not part of the public API; include only from matmul*.cc and matmul_test.cc.
// Thread-safety: every function here is pure over the ranges it is given, so disjoint row or token
// ranges may run on different threads at once.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "kernels/matmul.h"

namespace gannet::kernels::detail {

// Elements per activation block: the weight block size of Q4_0/Q8_0, so one weight block meets one
// activation block and the pair needs two scales.
inline constexpr int kXBlock = 32;

// Activations x quantized to int8 in blocks of 32: x[t][i] ≈ d[t][i / 32] * q[t][i], |q| <= 127,
// d = max|x| / 127 over the block (float, not fp16 as in Q8_0 files: the scale is free to keep
// exact). qsum = Σ q over the block lets the kernels use unsigned weight codes u = q_w + c:
// Σ q_w x = Σ u x - c Σ x, with c = 8 for Q4_0 nibbles and 128 for Q8_0 bytes offset to uint8. The
// correction is applied in the integer domain (exact), spread over the lanes of the dot product.
//
// Layout of qs: blocks go in pairs, interleaved by 16-byte halves, [b lo | b+1 lo | b hi | b+1 hi]
// (lo = elements 0..15, hi = 16..31), so one 256-bit load holds the same half of two blocks and
// 128-bit lane k of every dot product belongs to block b+k. That halves the float work per block
// (one convert and one FMA per pair) and matches Q4_0, whose nibbles split a block the same way.
// A last, unpaired block (odd n_blocks) is stored plainly. x_offset() is the one definition.
struct QuantizedX {
    int8_t* qs = nullptr;     // [n_tokens][n_in] in the layout above, each token row 32-byte aligned
    float* d = nullptr;       // [n_tokens][n_blocks]
    int32_t* qsum = nullptr;  // [n_tokens][n_blocks]
    int64_t n_in = 0;
    int64_t n_blocks = 0;  // n_in / kXBlock
};

// Byte offset within a token's qs of element i (0..31) of block b.
inline int64_t x_offset(int64_t n_blocks, int64_t b, int i) {
    if ((n_blocks & 1) != 0 && b == n_blocks - 1) {
        return b * kXBlock + i;
    }
    return (b / 2) * 2 * kXBlock + (i / 16) * 32 + (b % 2) * 16 + (i % 16);
}

// Checks pointers, sizes and block alignment. Errors as matmul().
Status validate(const MatmulArgs& a);

// True for the dtypes the SIMD paths implement (F32, F16, BF16, Q8_0, Q4_0).
bool has_simd_kernel(tensor::DType dtype);
// True when the SIMD kernels read QuantizedX (Q8_0 and Q4_0 weights).
bool uses_quantized_x(tensor::DType dtype);

// Reference for rows [row_begin, row_end) of y, all tokens. Allocates one row of floats.
Status reference_rows(const MatmulArgs& a, int64_t row_begin, int64_t row_end);

// Quantizes tokens [t_begin, t_end) of a.x into q. The AVX2 version gives bit-identical output.
void quantize_x_portable(const MatmulArgs& a, const QuantizedX& q, int64_t t_begin, int64_t t_end);
void quantize_x_avx2(const MatmulArgs& a, const QuantizedX& q, int64_t t_begin, int64_t t_end);

// Rows [row_begin, row_end) of y for all tokens; q is read only for Q4_0/Q8_0 weights.
// REQUIRES: validate(a).ok(), has_simd_kernel(a.w_dtype) and the CPU supports the ISA.
void matmul_rows_avx2(const MatmulArgs& a, const QuantizedX& q, int64_t row_begin, int64_t row_end);
void matmul_rows_avx512(const MatmulArgs& a, const QuantizedX& q, int64_t row_begin, int64_t row_end);

}  // namespace gannet::kernels::detail
