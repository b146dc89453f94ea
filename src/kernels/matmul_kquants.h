// Matmul rows for the block types without a Q4_0/Q8_0-style kernel (the K-quants Q2_K..Q6_K,
// Q4_1, Q5_0, Q5_1). Two paths:
// - Fused (matmul_kquants_fused_dots.h, built for AVX2 and for AVX-512 VNNI; what matmul() runs):
//   activations quantized once per call to int8 (QuantizedXK), weight blocks dotted in integers,
//   1-4 tokens per weight unpack. Single core, weights in L2, n_in 2048, AVX-512 build: 15-36 GB/s
//   of weights at one token (decode is DRAM-bound with 2 threads for Q4_K/Q5_K/Q6_K, near it for
//   the others) and 84-101 (Q4_1/Q5_x) / 136-161 (K-quants) GFLOP/s at 16-64 tokens
//   (docs/BENCHMARKS.md, "Fused int8 kernels on AVX-512 VNNI").
// - Dequantize-then-FMA (matmul_rows_dequant_avx2 below): each weight row widened once to floats
//   by the bit-exact reference dequantizer (tensor/quant_k.h), then dotted with every token with
//   AVX2 FMA. 3-37 GFLOP/s; kept for other block types and as the benches' comparison point.
// Owner: kquant helper. Thread-safety: pure over the rows given; disjoint row ranges may run on
// different threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kernels/matmul.h"
#include "tensor/dtype.h"

namespace gannet::kernels::detail {

// Rows [row_begin, row_end) of y for all tokens. kUnimplemented for a dtype without a dequantizer.
// REQUIRES: validate(a).ok() and a CPU with AVX2 and FMA.
Status matmul_rows_dequant_avx2(const MatmulArgs& a, int64_t row_begin, int64_t row_end);

// ---- Fused int8 kernels (matmul_kquants_fused_dots.h; QuantizedXK in matmul_kquants_fused.cc) ----
// Activations quantized once per call, per token, in blocks of `block` elements: 256 for the
// K-quants (one scale per super-block, so a whole super-block sums in int32), 32 for Q4_1/Q5_0/
// Q5_1. x[t][i] ~= d[t][i / block] * qs[t][i], d = max|x| / 127 over the block, |qs| <= 127;
// bsums[t][i / 16] = Σ qs over each 16 elements (the mins, Q6_K's -32 and Q3_K's -4 use it).
struct QuantizedXK {
    int8_t* qs = nullptr;      // [n_tokens][n_in], plain element order
    float* d = nullptr;        // [n_tokens][n_in / block]
    int16_t* bsums = nullptr;  // [n_tokens][n_in / 16]
    int64_t n_in = 0;
    int block = 0;
};

// Activation block of the fused kernel for dtype (256 or 32), 0 when dtype has none.
int xk_block(tensor::DType dtype);
// Bytes carve_xk() needs, from a 64-byte aligned base.
size_t xk_scratch_bytes(int64_t n_tokens, int64_t n_in, int block);
QuantizedXK carve_xk(int64_t n_tokens, int64_t n_in, int block, uint8_t* base);
// Tokens [t_begin, t_end) of a.x into q. REQUIRES: AVX2/FMA/F16C, a.n_in a multiple of q.block.
void quantize_xk_avx2(const MatmulArgs& a, const QuantizedXK& q, int64_t t_begin, int64_t t_end);
// Rows [row_begin, row_end) of y, all tokens, from weights of a dtype with xk_block() > 0.
// REQUIRES: validate(a).ok(), q filled for all tokens, a CPU with AVX2/FMA/F16C.
void matmul_rows_kquant_avx2(const MatmulArgs& a, const QuantizedXK& q, int64_t row_begin, int64_t row_end);
// The same kernels built for AVX-512 VL + VNNI (matmul_kquants_fused_avx512.cc); bit-identical output.
// REQUIRES: as matmul_rows_kquant_avx2(), and a CPU with Isa::kAvx512.
void matmul_rows_kquant_avx512(const MatmulArgs& a, const QuantizedXK& q, int64_t row_begin, int64_t row_end);

}  // namespace gannet::kernels::detail
