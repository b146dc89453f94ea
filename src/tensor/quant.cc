#include "tensor/quant.h"

#include <algorithm>
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "base/result.h"
#include "tensor/quant_k.h"

// Quantizers reproduce llama.cpp's *_ref quantizers operation for operation (same float order,
// same casts, no fused multiply-add: C++20 without GNU extensions compiles with fp-contract off),
// so a row quantized here is byte-identical to one quantized by llama-quantize's reference path.

namespace gannet::tensor {
namespace {

template <typename Block>
const Block* blocks_of(const void* p) {
    return static_cast<const Block*>(p);
}

// ---- 32-element block formats -------------------------------------------------------------

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, y += kQK4_0) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            y[j] = static_cast<float>((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + kQK4_0 / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, y += kQK4_0) {
        const float d = fp16_to_fp32(x[i].d);
        const float m = fp16_to_fp32(x[i].m);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            y[j] = static_cast<float>(x[i].qs[j] & 0x0f) * d + m;
            y[j + kQK4_0 / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
        }
    }
}

// Bit 4 of the 5-bit quants: element j's high bit is bit j of qh (little-endian u32).
uint32_t load_qh(const uint8_t* qh) {
    return static_cast<uint32_t>(qh[0]) | (static_cast<uint32_t>(qh[1]) << 8) | (static_cast<uint32_t>(qh[2]) << 16)
           | (static_cast<uint32_t>(qh[3]) << 24);
}

void store_qh(uint32_t qh, uint8_t* out) {
    for (int b = 0; b < 4; ++b) {
        out[b] = static_cast<uint8_t>(qh >> (8 * b));
    }
}

// The 5-bit quant of element j of a Q5 block (0..31).
int q5_value(const uint8_t* qs, uint32_t qh, int j) {
    const int half = kQK4_0 / 2;
    const int lo = j < half ? (qs[j] & 0x0f) : (qs[j - half] >> 4);
    return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, y += kQK4_0) {
        const float d = fp16_to_fp32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < kQK4_0; ++j) {
            y[j] = static_cast<float>(q5_value(x[i].qs, qh, j) - 16) * d;
        }
    }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, y += kQK4_0) {
        const float d = fp16_to_fp32(x[i].d);
        const float m = fp16_to_fp32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < kQK4_0; ++j) {
            y[j] = static_cast<float>(q5_value(x[i].qs, qh, j)) * d + m;
        }
    }
}

template <typename Block>
void dequantize_q8(const Block* x, float* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, y += kQK8_0) {
        const float d = fp16_to_fp32(x[i].d);
        for (int j = 0; j < kQK8_0; ++j) {
            y[j] = static_cast<float>(x[i].qs[j]) * d;
        }
    }
}

// Largest |x| in the block and the signed value that has it (the first one on ties).
struct SignedMax {
    float amax = 0.0f;
    float max = 0.0f;
};

SignedMax signed_max(const float* x, int n) {
    SignedMax m;
    for (int j = 0; j < n; ++j) {
        if (m.amax < std::fabs(x[j])) {
            m.amax = std::fabs(x[j]);
            m.max = x[j];
        }
    }
    return m;
}

void min_max(const float* x, int n, float* min, float* max) {
    *min = FLT_MAX;
    *max = -FLT_MAX;
    for (int j = 0; j < n; ++j) {
        *min = std::min(*min, x[j]);
        *max = std::max(*max, x[j]);
    }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK4_0) {
        // The signed extreme maps to q = 0 (x = -8d), which uses the asymmetric level.
        const float d = signed_max(x, kQK4_0).max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            const float x0 = x[j] * id;
            const float x1 = x[j + kQK4_0 / 2] * id;
            // Truncating x + 8.5 rounds half up; the values lie in [0.5, 16.5], so the cast is defined.
            const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f)));
            const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f)));
            y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK4_0) {
        float min = 0.0f;
        float max = 0.0f;
        min_max(x, kQK4_0, &min, &max);
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[j + kQK4_0 / 2] - min) * id;
            const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f)));
            const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f)));
            y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

// Packs 32 five-bit quants into the nibbles + qh layout of Q5_0/Q5_1.
void pack_q5(const int* q, uint8_t* qs, uint8_t* qh_out) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
        const int q0 = q[j];
        const int q1 = q[j + kQK4_0 / 2];
        qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
        qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
        qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK4_0 / 2);
    }
    store_qh(qh, qh_out);
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n_blocks) {
    int q[kQK4_0];
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK4_0) {
        const float d = signed_max(x, kQK4_0).max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK4_0; ++j) {
            q[j] = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
        }
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n_blocks) {
    int q[kQK4_0];
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK4_0) {
        float min = 0.0f;
        float max = 0.0f;
        min_max(x, kQK4_0, &min, &max);
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        for (int j = 0; j < kQK4_0; ++j) {
            // llama.cpp clamps nothing here: (x - min) * id <= 31 + rounding, and the uint8 keeps 5 bits.
            q[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
        }
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

// Q8_0 and Q8_1 share the scale: amax / 127, q = round-half-away(x / d) computed as x * (1 / d).
float quantize_q8_block(const float* x, int8_t* qs) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) {
        amax = std::max(amax, std::fabs(x[j]));
    }
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQK8_0; ++j) {
        qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    }
    return d;
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK8_0) {
        y[i].d = fp32_to_fp16(quantize_q8_block(x, y[i].qs));
    }
}

void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t n_blocks) {
    for (int64_t i = 0; i < n_blocks; ++i, x += kQK8_0) {
        const float d = quantize_q8_block(x, y[i].qs);
        int sum = 0;
        for (int j = 0; j < kQK8_0; ++j) {
            sum += y[i].qs[j];
        }
        y[i].d = fp32_to_fp16(d);
        y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
    }
}

// ---- plain types ----------------------------------------------------------------------------

template <typename T>
void widen(const void* src, float* dst, int64_t n) {
    const T* s = static_cast<const T*>(src);
    for (int64_t i = 0; i < n; ++i) {
        dst[i] = static_cast<float>(s[i]);
    }
}

Status check_row(const char* what, DType dtype, int64_t n) {
    const int64_t bs = block_size(dtype);
    if (n < 0 || n % bs != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "%s: %s row of %" PRId64 " elements is not a whole number of %" PRId64 "-element blocks",
                          what, dtype_name(dtype), n, bs);
    }
    return Status();
}

}  // namespace

// Every DType has a dequantizer; the check only rejects values outside the enum.
bool can_dequantize(DType dtype) {
    return dtype_from_ggml(static_cast<uint32_t>(dtype)).has_value();
}

bool can_quantize(DType dtype) {
    switch (dtype) {
        case DType::kF32:
        case DType::kF16:
        case DType::kBF16:
        case DType::kF64:
        case DType::kQ4_0:
        case DType::kQ4_1:
        case DType::kQ5_0:
        case DType::kQ5_1:
        case DType::kQ8_0:
        case DType::kQ8_1:
        case DType::kQ8_K: return true;
        default: return false;
    }
}

Status dequantize_row(DType dtype, const void* src, float* dst, int64_t n) {
    if (!can_dequantize(dtype)) {
        return make_error(ErrorCode::kUnimplemented, "dequantize_row: unknown dtype %u", static_cast<uint32_t>(dtype));
    }
    GANNET_RETURN_IF_ERROR(check_row("dequantize_row", dtype, n));
    const int64_t nb = n / block_size(dtype);
    switch (dtype) {
        case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
        case DType::kF16: {
            const uint16_t* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) {
                dst[i] = fp16_to_fp32(s[i]);
            }
            break;
        }
        case DType::kBF16: {
            const uint16_t* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) {
                dst[i] = bf16_to_fp32(s[i]);
            }
            break;
        }
        case DType::kF64: widen<double>(src, dst, n); break;
        case DType::kI8: widen<int8_t>(src, dst, n); break;
        case DType::kI16: widen<int16_t>(src, dst, n); break;
        case DType::kI32: widen<int32_t>(src, dst, n); break;
        case DType::kI64: widen<int64_t>(src, dst, n); break;
        case DType::kQ4_0: dequantize_q4_0(blocks_of<BlockQ4_0>(src), dst, nb); break;
        case DType::kQ4_1: dequantize_q4_1(blocks_of<BlockQ4_1>(src), dst, nb); break;
        case DType::kQ5_0: dequantize_q5_0(blocks_of<BlockQ5_0>(src), dst, nb); break;
        case DType::kQ5_1: dequantize_q5_1(blocks_of<BlockQ5_1>(src), dst, nb); break;
        case DType::kQ8_0: dequantize_q8(blocks_of<BlockQ8_0>(src), dst, nb); break;
        case DType::kQ8_1: dequantize_q8(blocks_of<BlockQ8_1>(src), dst, nb); break;
        case DType::kQ2_K: dequantize_q2_k(blocks_of<BlockQ2_K>(src), dst, nb); break;
        case DType::kQ3_K: dequantize_q3_k(blocks_of<BlockQ3_K>(src), dst, nb); break;
        case DType::kQ4_K: dequantize_q4_k(blocks_of<BlockQ4_K>(src), dst, nb); break;
        case DType::kQ5_K: dequantize_q5_k(blocks_of<BlockQ5_K>(src), dst, nb); break;
        case DType::kQ6_K: dequantize_q6_k(blocks_of<BlockQ6_K>(src), dst, nb); break;
        case DType::kQ8_K: dequantize_q8_k(blocks_of<BlockQ8_K>(src), dst, nb); break;
        default:
            return make_error(ErrorCode::kUnimplemented, "dequantize_row: no dequantizer for %s", dtype_name(dtype));
    }
    return Status();
}

Status quantize_row(DType dtype, const float* src, void* dst, int64_t n) {
    if (!can_quantize(dtype)) {
        return make_error(ErrorCode::kUnimplemented, "quantize_row: no quantizer for %s", dtype_name(dtype));
    }
    GANNET_RETURN_IF_ERROR(check_row("quantize_row", dtype, n));
    if (is_quantized(dtype)) {
        // llama.cpp's casts are undefined for NaN/inf; refuse them rather than emit garbage blocks.
        for (int64_t i = 0; i < n; ++i) {
            if (!std::isfinite(src[i])) {
                return make_error(ErrorCode::kInvalidArgument, "quantize_row: %s: non-finite value at index %" PRId64,
                                  dtype_name(dtype), i);
            }
        }
    }
    const int64_t nb = n / block_size(dtype);
    switch (dtype) {
        case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
        case DType::kF16: {
            uint16_t* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) {
                d[i] = fp32_to_fp16(src[i]);
            }
            break;
        }
        case DType::kBF16: {
            uint16_t* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) {
                d[i] = fp32_to_bf16(src[i]);
            }
            break;
        }
        case DType::kF64: {
            double* d = static_cast<double*>(dst);
            for (int64_t i = 0; i < n; ++i) {
                d[i] = src[i];
            }
            break;
        }
        case DType::kQ4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); break;
        case DType::kQ4_1: quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), nb); break;
        case DType::kQ5_0: quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), nb); break;
        case DType::kQ5_1: quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), nb); break;
        case DType::kQ8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); break;
        case DType::kQ8_1: quantize_q8_1(src, static_cast<BlockQ8_1*>(dst), nb); break;
        case DType::kQ8_K: quantize_q8_k(src, static_cast<BlockQ8_K*>(dst), nb); break;
        default: break;  // excluded by can_quantize above
    }
    return Status();
}

}  // namespace gannet::tensor
