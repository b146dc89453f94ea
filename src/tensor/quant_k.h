// K-quant block layouts (256-element super-blocks), bit-compatible with llama.cpp's Q2_K..Q8_K, and
// their per-block row converters. Most callers use dequantize_row()/quantize_row() in quant.h;
// kernels include this header for the structs. Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace gannet::tensor {

inline constexpr int kQK_K = 256;
// Bytes of packed 6-bit scales/mins in Q3_K, Q4_K and Q5_K.
inline constexpr int kKScaleSize = 12;

// 16 sub-blocks of 16 weights, 2 bits each: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4),
// s = element / 16. Element e's quant is bits 2*((e % 128) / 32) of qs[32 * (e / 128) + e % 32].
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];  // low nibble scale, high nibble min
    uint8_t qs[kQK_K / 4];
    uint16_t d;     // fp16 scale of the scales
    uint16_t dmin;  // fp16 scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84);

// 16 sub-blocks of 16 weights, 3 bits each: x = d * (sc[s] - 32) * (q - 4) with the low 2 bits of q
// as in Q2_K and bit 2 = bit e / 32 of hmask[e % 32]. The 6-bit sc[s] holds its low nibble in
// scales[s % 8] (low nibble for s < 8, high for s >= 8) and its top 2 bits in
// scales[8 + s % 4] >> (2 * (s / 4)).
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[kKScaleSize];
    uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ3_K) == 110);

// 8 sub-blocks of 32 weights, 4 bits each: x = d * sc[s] * q - dmin * m[s], s = element / 32, with
// 6-bit sc/m packed in scales (see scale_min_k4()). Element e's nibble is in qs[32 * (e / 64) + e % 32],
// low nibble when e % 64 < 32.
struct BlockQ4_K {
    uint16_t d;     // fp16
    uint16_t dmin;  // fp16
    uint8_t scales[kKScaleSize];
    uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// As Q4_K with a fifth bit: bit e / 32 of qh[e % 32] adds 16 to q.
struct BlockQ5_K {
    uint16_t d;     // fp16
    uint16_t dmin;  // fp16
    uint8_t scales[kKScaleSize];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16 weights, 6 bits each: x = d * scales[e / 16] * (q - 32). With h = e / 128,
// k = (e % 128) / 32, l = e % 32: the low 4 bits are in ql[64h + 32(k & 1) + l] (low nibble for
// k < 2), the top 2 bits are qh[32h + l] >> 2k.
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ6_K) == 210);

// 256 int8 weights with an f32 scale, x = d * q; bsums[g] = sum of qs[16g .. 16g + 16) (used by
// dot products). The activation format K-quant dot products pair with.
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// The 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K/Q5_K.
void scale_min_k4(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min);

// y[0 .. 256 * n_blocks) = values of x[0 .. n_blocks).
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t n_blocks);
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t n_blocks);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n_blocks);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n_blocks);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n_blocks);
void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n_blocks);

// As llama.cpp's quantize_row_q8_K_ref: d = max / -127 (signed extreme), q = min(127, rint(x / d)).
// REQUIRES: finite x.
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n_blocks);

}  // namespace gannet::tensor
