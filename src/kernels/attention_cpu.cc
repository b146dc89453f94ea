// flash_chunk dispatch and the portable path (the reference the SIMD paths are tested against; also
// what runs for head dims that are not a multiple of the SIMD width).
#include "kernels/attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/half.h"
#include "tensor/quant.h"

namespace gannet::kernels {
namespace detail {

float flash_exp(float x) {
    if (x < -87.3f) {
        return 0.0f;
    }
    x = std::min(x, 0.0f);
    // x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two so n * C1 is exact.
    const float n = std::floor(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    const float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    // 2^n through the exponent field: n >= -126 after the clamp, so the result stays normal.
    const auto bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
    float p2 = 0.0f;
    std::memcpy(&p2, &bits, sizeof(p2));
    return y * p2;
}

namespace {

// Element d of a stored row, converted the way the SIMD paths convert it (exactly: every type's
// value is representable in f32, and d * q of a q8_0/q4_0 block is an exact product).
float row_value(tensor::DType t, const std::byte* row, int64_t d) {
    switch (t) {
        case tensor::DType::kF16: return fp16_to_fp32(reinterpret_cast<const uint16_t*>(row)[d]);
        case tensor::DType::kBF16: return bf16_to_fp32(reinterpret_cast<const uint16_t*>(row)[d]);
        case tensor::DType::kQ8_0: {
            const auto* b = reinterpret_cast<const tensor::BlockQ8_0*>(row) + d / tensor::kQK8_0;
            return fp16_to_fp32(b->d) * static_cast<float>(b->qs[d % tensor::kQK8_0]);
        }
        case tensor::DType::kQ4_0: {
            const auto* b = reinterpret_cast<const tensor::BlockQ4_0*>(row) + d / tensor::kQK4_0;
            const int i = static_cast<int>(d % tensor::kQK4_0);
            const int nib = i < 16 ? (b->qs[i] & 0xF) : (b->qs[i - 16] >> 4);
            return fp16_to_fp32(b->d) * static_cast<float>(nib - 8);
        }
        default: return reinterpret_cast<const float*>(row)[d];
    }
}

}  // namespace

void flash_chunk_portable(const FlashChunkArgs& a) {
    float s[kFlashMaxRows];
    for (int64_t h = 0; h < a.n_heads; ++h) {
        const float* q = a.q + h * a.head_dim_k;
        float mx = a.m[h];
        for (int64_t i = 0; i < a.n_rows; ++i) {
            const std::byte* k = a.k + static_cast<size_t>(i) * a.k_row_bytes;
            float dot = 0.0f;
            for (int64_t d = 0; d < a.head_dim_k; ++d) {
                dot += q[d] * row_value(a.kv_dtype, k, d);
            }
            dot *= a.scale;
            if (a.softcap > 0.0f) {
                dot = a.softcap * std::tanh(dot / a.softcap);
            }
            s[i] = dot;
            mx = std::max(mx, dot);
        }
        const float alpha = a.m[h] == -std::numeric_limits<float>::infinity() ? 0.0f : flash_exp(a.m[h] - mx);
        float sum = 0.0f;
        for (int64_t i = 0; i < a.n_rows; ++i) {
            s[i] = flash_exp(s[i] - mx);
            sum += s[i];
        }
        a.m[h] = mx;
        a.l[h] = a.l[h] * alpha + sum;
        float* acc = a.acc + h * a.head_dim_v;
        for (int64_t d = 0; d < a.head_dim_v; ++d) {
            acc[d] *= alpha;
        }
        for (int64_t i = 0; i < a.n_rows; ++i) {
            const std::byte* v = a.v + static_cast<size_t>(i) * a.v_row_bytes;
            for (int64_t d = 0; d < a.head_dim_v; ++d) {
                acc[d] += s[i] * row_value(a.kv_dtype, v, d);
            }
        }
    }
}

}  // namespace detail

Isa flash_isa(Isa isa, int64_t head_dim_k, int64_t head_dim_v) {
    if (isa == Isa::kAuto) {
        isa = best_isa();
    }
    // AVX-512 needs whole 16-float vectors, AVX2 whole 8-float ones (head dim 80 runs on AVX2).
    if (isa == Isa::kAvx512 && (head_dim_k % 16 != 0 || head_dim_v % 16 != 0)) {
        isa = Isa::kAvx2;
    }
    if (isa == Isa::kAvx2 && (head_dim_k % 8 != 0 || head_dim_v % 8 != 0)) {
        isa = Isa::kPortable;
    }
    return isa;
}

void flash_chunk(const FlashChunkArgs& a, Isa isa) {
    FlashChunkArgs run = a;
    for (int64_t i = 0; i < a.n_rows; i += kFlashMaxRows) {
        run.k = a.k + static_cast<size_t>(i) * a.k_row_bytes;
        run.v = a.v + static_cast<size_t>(i) * a.v_row_bytes;
        run.n_rows = std::min(kFlashMaxRows, a.n_rows - i);
        switch (isa) {
            case Isa::kAvx512: detail::flash_chunk_avx512(run); break;
            case Isa::kAvx2: detail::flash_chunk_avx2(run); break;
            default: detail::flash_chunk_portable(run); break;
        }
    }
}

}  // namespace gannet::kernels
