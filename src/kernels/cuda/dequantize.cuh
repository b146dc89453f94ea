// Device-side decoding of GGUF weight blocks: dequant8<dtype>(row, e, out) writes the float values
// of elements e..e+7 of a row (e a multiple of 8). Eight consecutive elements always share one
// scale (the smallest sub-block of any format is 16 weights), so each call decodes its scale once.
// The formulas are those of src/tensor/quant.h and src/tensor/quant_k.{h,cc}, which are the spec.
// Every block size and field offset is even, so all multi-byte loads are 16-bit (row starts only
// need 2-byte alignment). Owner: CUDA backend. Header-only device code; include from .cu files only.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {

__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) {
    return __ldg(reinterpret_cast<const unsigned short*>(p));
}
// Four bytes at a 2-byte aligned address, little-endian.
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t* p) {
    return ld_u16(p) | (ld_u16(p + 2) << 16);
}
__device__ __forceinline__ float ld_half(const uint8_t* p) {
    return half_bits_to_float(static_cast<uint16_t>(ld_u16(p)));
}
__device__ __forceinline__ int byte_of(uint32_t v, int i) {
    return static_cast<int>((v >> (8 * i)) & 0xffu);
}

// Bytes of one block and weights per block, as tensor::type_size_bytes / block_size (device side).
template <tensor::DType kType>
struct BlockInfo;
template <> struct BlockInfo<tensor::DType::kQ4_0> { static constexpr int kWeights = 32, kBytes = 18; };
template <> struct BlockInfo<tensor::DType::kQ4_1> { static constexpr int kWeights = 32, kBytes = 20; };
template <> struct BlockInfo<tensor::DType::kQ5_0> { static constexpr int kWeights = 32, kBytes = 22; };
template <> struct BlockInfo<tensor::DType::kQ5_1> { static constexpr int kWeights = 32, kBytes = 24; };
template <> struct BlockInfo<tensor::DType::kQ8_0> { static constexpr int kWeights = 32, kBytes = 34; };
template <> struct BlockInfo<tensor::DType::kQ2_K> { static constexpr int kWeights = 256, kBytes = 84; };
template <> struct BlockInfo<tensor::DType::kQ3_K> { static constexpr int kWeights = 256, kBytes = 110; };
template <> struct BlockInfo<tensor::DType::kQ4_K> { static constexpr int kWeights = 256, kBytes = 144; };
template <> struct BlockInfo<tensor::DType::kQ5_K> { static constexpr int kWeights = 256, kBytes = 176; };
template <> struct BlockInfo<tensor::DType::kQ6_K> { static constexpr int kWeights = 256, kBytes = 210; };
template <> struct BlockInfo<tensor::DType::kF16> { static constexpr int kWeights = 1, kBytes = 2; };
template <> struct BlockInfo<tensor::DType::kBF16> { static constexpr int kWeights = 1, kBytes = 2; };
template <> struct BlockInfo<tensor::DType::kF32> { static constexpr int kWeights = 1, kBytes = 4; };

// The 6-bit scale and min of sub-block j (0..7) of Q4_K/Q5_K (tensor::scale_min_k4).
__device__ __forceinline__ void scale_min_k4_dev(int j, const uint8_t* scales, int& sc, int& m) {
    if (j < 4) {
        sc = __ldg(scales + j) & 63;
        m = __ldg(scales + j + 4) & 63;
    } else {
        sc = (__ldg(scales + j + 4) & 0x0f) | ((__ldg(scales + j - 4) >> 6) << 4);
        m = (__ldg(scales + j + 4) >> 4) | ((__ldg(scales + j) >> 6) << 4);
    }
}

// Elements e..e+7 (e % 8 == 0) of the row at `row` (2-byte aligned) as floats.
template <tensor::DType kType>
__device__ __forceinline__ void dequant8(const uint8_t* __restrict__ row, int64_t e, float (&out)[8]) {
    using tensor::DType;
    constexpr int kW = BlockInfo<kType>::kWeights;
    constexpr int kB = BlockInfo<kType>::kBytes;
    if constexpr (kType == DType::kF32) {
        const float* p = reinterpret_cast<const float*>(row) + e;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            out[i] = __ldg(p + i);
        }
    } else if constexpr (kType == DType::kF16 || kType == DType::kBF16) {
        const uint8_t* p = row + 2 * e;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const auto h = static_cast<uint16_t>(ld_u16(p + 2 * i));
            out[i] = kType == DType::kF16 ? half_bits_to_float(h) : bf16_bits_to_float(h);
        }
    } else {
        const uint8_t* blk = row + (e / kW) * kB;
        const int j = static_cast<int>(e % kW);  // element within the block, a multiple of 8
        if constexpr (kType == DType::kQ8_0) {
            const float d = ld_half(blk);
            const uint32_t v0 = ld_u32_a2(blk + 2 + j);
            const uint32_t v1 = ld_u32_a2(blk + 2 + j + 4);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                out[i] = d * static_cast<float>(static_cast<int8_t>(byte_of(v0, i)));
                out[i + 4] = d * static_cast<float>(static_cast<int8_t>(byte_of(v1, i)));
            }
        } else if constexpr (kType == DType::kQ4_0 || kType == DType::kQ4_1 || kType == DType::kQ5_0 ||
                             kType == DType::kQ5_1) {
            // Low nibbles of qs hold elements 0..15, high nibbles 16..31.
            constexpr bool kHasMin = kType == DType::kQ4_1 || kType == DType::kQ5_1;
            constexpr bool kHasHigh = kType == DType::kQ5_0 || kType == DType::kQ5_1;
            constexpr int kQhOff = kHasMin ? 4 : 2;
            constexpr int kQsOff = kQhOff + (kHasHigh ? 4 : 0);
            const float d = ld_half(blk);
            const float m = kHasMin ? ld_half(blk + 2) : 0.0f;
            const uint32_t qh = kHasHigh ? ld_u32_a2(blk + kQhOff) : 0u;
            const int shift = j < 16 ? 0 : 4;
            const uint32_t v0 = ld_u32_a2(blk + kQsOff + (j & 15));
            const uint32_t v1 = ld_u32_a2(blk + kQsOff + (j & 15) + 4);
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                int q = (byte_of(i < 4 ? v0 : v1, i & 3) >> shift) & 0x0f;
                if constexpr (kHasHigh) {
                    q |= static_cast<int>((qh >> (j + i)) & 1u) << 4;
                }
                if constexpr (kType == DType::kQ4_0) {
                    out[i] = d * static_cast<float>(q - 8);
                } else if constexpr (kType == DType::kQ5_0) {
                    out[i] = d * static_cast<float>(q - 16);
                } else {
                    out[i] = d * static_cast<float>(q) + m;
                }
            }
        } else if constexpr (kType == DType::kQ2_K) {
            // scales[16] @0, qs[64] @16, d @80, dmin @82.
            const float d = ld_half(blk + 80);
            const float dmin = ld_half(blk + 82);
            const int sc = __ldg(blk + j / 16);
            const float dl = d * static_cast<float>(sc & 0x0f);
            const float ml = dmin * static_cast<float>(sc >> 4);
            const int shift = 2 * ((j % 128) / 32);
            const uint8_t* q = blk + 16 + 32 * (j / 128) + j % 32;
            const uint32_t v0 = ld_u32_a2(q);
            const uint32_t v1 = ld_u32_a2(q + 4);
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const int qq = (byte_of(i < 4 ? v0 : v1, i & 3) >> shift) & 3;
                out[i] = dl * static_cast<float>(qq) - ml;
            }
        } else if constexpr (kType == DType::kQ3_K) {
            // hmask[32] @0, qs[64] @32, scales[12] @96, d @108.
            const float d = ld_half(blk + 108);
            const uint8_t* scales = blk + 96;
            const int s = j / 16;
            const int lo = s < 8 ? (__ldg(scales + s) & 0x0f) : (__ldg(scales + s - 8) >> 4);
            const int hi = (__ldg(scales + 8 + s % 4) >> (2 * (s / 4))) & 3;
            const float dl = d * static_cast<float>((lo | (hi << 4)) - 32);
            const int shift = 2 * ((j % 128) / 32);
            const uint8_t* q = blk + 32 + 32 * (j / 128) + j % 32;
            const uint32_t v0 = ld_u32_a2(q);
            const uint32_t v1 = ld_u32_a2(q + 4);
            const uint32_t h0 = ld_u32_a2(blk + j % 32);
            const uint32_t h1 = ld_u32_a2(blk + j % 32 + 4);
            const int hbit = j / 32;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const int ql = (byte_of(i < 4 ? v0 : v1, i & 3) >> shift) & 3;
                const int has_high = (byte_of(i < 4 ? h0 : h1, i & 3) >> hbit) & 1;
                out[i] = dl * static_cast<float>(ql - (has_high ? 0 : 4));
            }
        } else if constexpr (kType == DType::kQ4_K || kType == DType::kQ5_K) {
            // d @0, dmin @2, scales[12] @4; Q4_K: qs[128] @16; Q5_K: qh[32] @16, qs[128] @48.
            constexpr bool kIsQ5 = kType == DType::kQ5_K;
            const float d = ld_half(blk);
            const float dmin = ld_half(blk + 2);
            const int s = j / 32;
            int sc = 0;
            int m = 0;
            scale_min_k4_dev(s, blk + 4, sc, m);
            const float dl = d * static_cast<float>(sc);
            const float ml = dmin * static_cast<float>(m);
            const int shift = 4 * (s % 2);
            const int l = j % 32;
            const uint8_t* q = blk + (kIsQ5 ? 48 : 16) + 32 * (j / 64) + l;
            const uint32_t v0 = ld_u32_a2(q);
            const uint32_t v1 = ld_u32_a2(q + 4);
            uint32_t h0 = 0;
            uint32_t h1 = 0;
            if constexpr (kIsQ5) {
                h0 = ld_u32_a2(blk + 16 + l);
                h1 = ld_u32_a2(blk + 16 + l + 4);
            }
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                int qq = (byte_of(i < 4 ? v0 : v1, i & 3) >> shift) & 0x0f;
                if constexpr (kIsQ5) {
                    qq += ((byte_of(i < 4 ? h0 : h1, i & 3) >> s) & 1) << 4;
                }
                out[i] = dl * static_cast<float>(qq) - ml;
            }
        } else if constexpr (kType == DType::kQ6_K) {
            // ql[128] @0, qh[64] @128, scales[16] (int8) @192, d @208.
            const float d = ld_half(blk + 208);
            const float dl = d * static_cast<float>(static_cast<int8_t>(__ldg(blk + 192 + j / 16)));
            const int h = j / 128;
            const int k = (j % 128) / 32;
            const int l = j % 32;
            const uint8_t* ql = blk + 64 * h + 32 * (k & 1) + l;
            const uint8_t* qh = blk + 128 + 32 * h + l;
            const uint32_t v0 = ld_u32_a2(ql);
            const uint32_t v1 = ld_u32_a2(ql + 4);
            const uint32_t h0 = ld_u32_a2(qh);
            const uint32_t h1 = ld_u32_a2(qh + 4);
            const int lo_shift = k < 2 ? 0 : 4;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const int lo = (byte_of(i < 4 ? v0 : v1, i & 3) >> lo_shift) & 0x0f;
                const int hi = (byte_of(i < 4 ? h0 : h1, i & 3) >> (2 * k)) & 3;
                out[i] = dl * static_cast<float>((lo | (hi << 4)) - 32);
            }
        } else {
            static_assert(kType == DType::kQ4_0, "dequant8: no decoder for this dtype");
        }
    }
}

// Calls f(std::integral_constant-like tag) for a runtime dtype; returns false for a dtype without a
// device decoder. F is a generic lambda taking `auto tag` with `decltype(tag)::value` the DType.
template <tensor::DType kType>
struct DTypeTag {
    static constexpr tensor::DType value = kType;
};

template <typename F>
bool visit_block_dtype(tensor::DType d, F&& f) {
    using tensor::DType;
    switch (d) {
        case DType::kQ4_0: f(DTypeTag<DType::kQ4_0>{}); return true;
        case DType::kQ4_1: f(DTypeTag<DType::kQ4_1>{}); return true;
        case DType::kQ5_0: f(DTypeTag<DType::kQ5_0>{}); return true;
        case DType::kQ5_1: f(DTypeTag<DType::kQ5_1>{}); return true;
        case DType::kQ8_0: f(DTypeTag<DType::kQ8_0>{}); return true;
        case DType::kQ2_K: f(DTypeTag<DType::kQ2_K>{}); return true;
        case DType::kQ3_K: f(DTypeTag<DType::kQ3_K>{}); return true;
        case DType::kQ4_K: f(DTypeTag<DType::kQ4_K>{}); return true;
        case DType::kQ5_K: f(DTypeTag<DType::kQ5_K>{}); return true;
        case DType::kQ6_K: f(DTypeTag<DType::kQ6_K>{}); return true;
        case DType::kF16: f(DTypeTag<DType::kF16>{}); return true;
        case DType::kBF16: f(DTypeTag<DType::kBF16>{}); return true;
        case DType::kF32: f(DTypeTag<DType::kF32>{}); return true;
        default: return false;
    }
}

}  // namespace gannet::kernels::cuda
