#include "tensor/quant_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/half.h"

// Dequantizers walk each super-block in storage order; the per-element formulas are in quant_k.h.
// Pure scalar code: this is the reference the SIMD and CUDA kernels are checked against.

namespace gannet::tensor {

void scale_min_k4(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        // Sub-blocks 0..3: 6 bits each in bytes 0..3 (scale) and 4..7 (min).
        *scale = scales[j] & 63;
        *min = scales[j + 4] & 63;
    } else {
        // Sub-blocks 4..7: low 4 bits in bytes 8..11, top 2 bits in the spare top bits of bytes 0..7.
        *scale = static_cast<uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
        *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const float dmin = fp16_to_fp32(x[i].dmin);
        for (int e = 0; e < kQK_K; ++e) {
            const uint8_t sc = x[i].scales[e / 16];
            const int shift = 2 * ((e % 128) / 32);
            const int q = (x[i].qs[32 * (e / 128) + e % 32] >> shift) & 3;
            const float dl = d * static_cast<float>(sc & 0x0f);
            const float ml = dmin * static_cast<float>(sc >> 4);
            *y++ = dl * static_cast<float>(q) - ml;
        }
    }
}

namespace {

// The 16 signed 6-bit sub-block scales of a Q3_K block (already minus 32).
void unpack_q3_scales(const uint8_t* packed, int* sc) {
    for (int s = 0; s < 16; ++s) {
        const int lo = s < 8 ? (packed[s] & 0x0f) : (packed[s - 8] >> 4);
        const int hi = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
        sc[s] = (lo | (hi << 4)) - 32;
    }
}

}  // namespace

void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t n_blocks) {
    int sc[16];
    for (int64_t i = 0; i < n_blocks; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        unpack_q3_scales(x[i].scales, sc);
        for (int e = 0; e < kQK_K; ++e) {
            const int shift = 2 * ((e % 128) / 32);
            const int lo = (x[i].qs[32 * (e / 128) + e % 32] >> shift) & 3;
            // A clear high bit means "subtract 4": q - 4 with q = lo | hbit << 2.
            const bool has_high = (x[i].hmask[e % 32] >> (e / 32)) & 1;
            const float dl = d * static_cast<float>(sc[e / 16]);
            *y++ = dl * static_cast<float>(lo - (has_high ? 0 : 4));
        }
    }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const float dmin = fp16_to_fp32(x[i].dmin);
        for (int s = 0; s < kQK_K / 32; ++s) {
            uint8_t sc = 0;
            uint8_t m = 0;
            scale_min_k4(s, x[i].scales, &sc, &m);
            const float dl = d * static_cast<float>(sc);
            const float ml = dmin * static_cast<float>(m);
            const uint8_t* q = x[i].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int l = 0; l < 32; ++l) {
                *y++ = dl * static_cast<float>((q[l] >> shift) & 0x0f) - ml;
            }
        }
    }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        const float dmin = fp16_to_fp32(x[i].dmin);
        for (int s = 0; s < kQK_K / 32; ++s) {
            uint8_t sc = 0;
            uint8_t m = 0;
            scale_min_k4(s, x[i].scales, &sc, &m);
            const float dl = d * static_cast<float>(sc);
            const float ml = dmin * static_cast<float>(m);
            const uint8_t* q = x[i].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            for (int l = 0; l < 32; ++l) {
                const int hi = ((x[i].qh[l] >> s) & 1) << 4;
                *y++ = dl * static_cast<float>(((q[l] >> shift) & 0x0f) + hi) - ml;
            }
        }
    }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        const float d = fp16_to_fp32(x[i].d);
        for (int e = 0; e < kQK_K; ++e) {
            const int h = e / 128;
            const int k = (e % 128) / 32;
            const int l = e % 32;
            const uint8_t ql = x[i].ql[64 * h + 32 * (k & 1) + l];
            const int lo = k < 2 ? (ql & 0x0f) : (ql >> 4);
            const int hi = (x[i].qh[32 * h + l] >> (2 * k)) & 3;
            const int q = (lo | (hi << 4)) - 32;
            *y++ = d * static_cast<float>(x[i].scales[e / 16]) * static_cast<float>(q);
        }
    }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i) {
        for (int e = 0; e < kQK_K; ++e) {
            *y++ = x[i].d * static_cast<float>(x[i].qs[e]);
        }
    }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK_K) {
        float amax = 0.0f;
        float max = 0.0f;
        for (int e = 0; e < kQK_K; ++e) {
            if (std::fabs(x[e]) > amax) {
                amax = std::fabs(x[e]);
                max = x[e];
            }
        }
        std::memset(&y[i], 0, sizeof(BlockQ8_K));
        if (amax == 0.0f) {
            continue;
        }
        // -127 / max (not 127 / amax): llama.cpp picked it so the signed extreme lands on -127.
        const float iscale = -127.0f / max;
        for (int e = 0; e < kQK_K; ++e) {
            // nearbyint: round half to even, as llama.cpp's nearest_int() magic-number add does.
            const int v = static_cast<int>(std::nearbyint(iscale * x[e]));
            y[i].qs[e] = static_cast<int8_t>(std::min(127, v));
        }
        for (int g = 0; g < kQK_K / 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) {
                sum += y[i].qs[16 * g + l];
            }
            y[i].bsums[g] = static_cast<int16_t>(sum);
        }
        y[i].d = 1 / iscale;
    }
}

}  // namespace gannet::tensor
