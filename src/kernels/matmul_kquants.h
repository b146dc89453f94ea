// Matmul rows for weight dtypes without a dedicated SIMD kernel (the K-quants Q2_K..Q6_K, Q4_1,
// Q5_0, Q5_1): each weight row is dequantized once into a float buffer by the bit-exact reference
// dequantizer (tensor/quant_k.h), then dotted with every token using AVX2 FMA. Owner: quantize
// helper (wired into matmul.cc's dispatch by the matmul owner). Thread-safety: pure over the rows
// it is given; disjoint row ranges may run on different threads.
//
// Napkin math: prefill of T tokens does 2 * T flops per weight and one dequantization, so for
// T >= 16 the AVX2 dot (16 flops/cycle) dominates and this runs ~8x faster than the scalar
// reference. Decode (T = 1) is bound by the scalar dequantization (~1-2 ns per weight), i.e. about
// 10x slower than the F16/Q4_0 kernels; fused int8 dot kernels per K type are the next step.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "kernels/matmul.h"

namespace gannet::kernels::detail {

// Rows [row_begin, row_end) of y for all tokens. kUnimplemented for a dtype without a dequantizer.
// REQUIRES: validate(a).ok() and a CPU with AVX2 and FMA.
Status matmul_rows_dequant_avx2(const MatmulArgs& a, int64_t row_begin, int64_t row_end);

}  // namespace gannet::kernels::detail
