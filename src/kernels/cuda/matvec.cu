// Matrix-vector products for GGUF weight layouts. Napkin math for Llama-3-8B's 4096x4096 Q4_0
// projection: 9.4 MB of weights at ~3 TB/s is ~3.1 us; x (16 KB f32) stays in L1/L2, so the kernel
// is bound by the weight stream as long as each warp's x and W accesses coalesce (L1 wavefronts,
// not DRAM, is what the first, strided version ran out of).
//
// Q4_0 / Q8_0: matvec_q_kernel, one warp per row, lane l owning weights 4l..4l+3 of each 128-weight
// window (see there); any n_in that is a whole number of blocks.
// F16 / BF16: matvec_kernel, a group of `tpr` threads (8, 16 or 32) per row walking it in 16-weight
// units of two 16-byte loads; a 256-thread block holds 256 / tpr rows and the group's partial sums
// meet through shuffles. Rows that break 16-byte alignment (n_in % 16 != 0) use one element per
// unit: correct at any size, slower, and only hit by shapes no real model has.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/matvec.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

// Accumulates kTokens dot products of 8 consecutive weights `wv` against x rows at x0 (stride n_in).
template <int kTokens, typename XT>
__device__ __forceinline__ void dot8(const float (&wv)[8], const XT* x0, int64_t n_in, int n_tok,
                                     float (&acc)[kTokens]) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        if (t < n_tok) {
            const XT* xp = x0 + t * n_in;
            float xs[8];
            if constexpr (sizeof(XT) == 4) {
                const float4 a = __ldg(reinterpret_cast<const float4*>(xp));
                const float4 b = __ldg(reinterpret_cast<const float4*>(xp) + 1);
                xs[0] = a.x, xs[1] = a.y, xs[2] = a.z, xs[3] = a.w, xs[4] = b.x, xs[5] = b.y, xs[6] = b.z, xs[7] = b.w;
            } else {
                const uint4 raw = __ldg(reinterpret_cast<const uint4*>(xp));
                const uint32_t u[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    xs[2 * i] = __uint_as_float(u[i] << 16);
                    xs[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
                }
            }
            float s = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                s = fmaf(wv[i], xs[i], s);
            }
            acc[t] += s;
        }
    }
}

// Scalar x access for the unaligned fallback paths.
template <typename XT>
__device__ __forceinline__ float load_x(const XT* p) {
    if constexpr (sizeof(XT) == 4) {
        return __ldg(reinterpret_cast<const float*>(p));
    } else {
        return bf16_bits_to_float(__ldg(reinterpret_cast<const unsigned short*>(p)));
    }
}

// --- Units. Each has kWeights (weights per unit), kBytes (bytes per unit) and dot<kTokens>(). ---

// Sixteen f16 or bf16 weights in two 16-byte registers.
template <bool kIsBf16>
struct HalfUnit {
    static constexpr int kWeights = 16;
    static constexpr int kBytes = 32;
    template <int kTokens, typename XT>
    __device__ __forceinline__ static void dot(const uint8_t* w, const XT* x, int64_t n_in, int n_tok,
                                               float (&acc)[kTokens]) {
        uint4 v[2];
        v[0] = __ldg(reinterpret_cast<const uint4*>(w));
        v[1] = __ldg(reinterpret_cast<const uint4*>(w) + 1);
        const uint16_t* h = reinterpret_cast<const uint16_t*>(v);
#pragma unroll
        for (int g = 0; g < 2; ++g) {
            float wv[8];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                wv[i] = kIsBf16 ? bf16_bits_to_float(h[g * 8 + i]) : half_bits_to_float(h[g * 8 + i]);
            }
            dot8<kTokens>(wv, x + g * 8, n_in, n_tok, acc);
        }
    }
};

// Fallback: one f16/bf16 element.
template <bool kIsBf16>
struct ScalarUnit {
    static constexpr int kWeights = 1;
    static constexpr int kBytes = 2;
    template <int kTokens, typename XT>
    __device__ __forceinline__ static void dot(const uint8_t* w, const XT* x, int64_t n_in, int n_tok,
                                               float (&acc)[kTokens]) {
        const uint16_t bits = __ldg(reinterpret_cast<const unsigned short*>(w));
        const float wf = kIsBf16 ? bf16_bits_to_float(bits) : half_bits_to_float(bits);
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
                acc[t] = fmaf(wf, load_x(x + t * n_in), acc[t]);
            }
        }
    }
};

// Quantized rows (Q4_0, Q8_0): one warp per row, and lane l owns weights 4l..4l+3 of each 128-weight
// window (four blocks). Consecutive lanes then read consecutive x (one 512-byte float4 access per
// warp, 4 L1 wavefronts) and the window's 72 or 136 weight bytes, so both streams coalesce. Blocks
// are 18 or 34 bytes, only 2-byte aligned, so a lane's 4 quants come in as two 16-bit loads.
// (A lane owning whole 256-weight units issues 16-byte weight loads but reads x at a 1 KB stride
// across the warp: 16 wavefronts per access, which measured 15% of bandwidth on an H100.)
template <bool kIsQ4>
__device__ __forceinline__ void load_q4(const uint8_t* __restrict__ wrow, int64_t base, float& d, float (&q)[4]) {
    constexpr int kBytes = kIsQ4 ? 18 : 34;
    const uint8_t* blk = wrow + (base / 32) * kBytes;
    const int j = static_cast<int>(base % 32);
    d = half_bits_to_float(__ldg(reinterpret_cast<const unsigned short*>(blk)));
    const int off = kIsQ4 ? 2 + (j & 15) : 2 + j;  // even: j is a multiple of 4
    const uint32_t lo = __ldg(reinterpret_cast<const unsigned short*>(blk + off));
    const uint32_t hi = __ldg(reinterpret_cast<const unsigned short*>(blk + off + 2));
    const uint32_t v = lo | (hi << 16);
    // Integer to float without I2F (a quarter-rate instruction on Hopper, and the Q4_0 kernel's
    // bottleneck once the loads coalesced): put the unsigned byte u in the low mantissa of 2^23
    // (one byte permute), then subtract 2^23 plus the format's offset, exactly, in one FADD.
    //   Q4_0: u = nibble, x = u - 8.   Q8_0: u = q + 128 (flip each sign bit), x = u - 128.
    uint32_t u4;
    float bias;
    if constexpr (kIsQ4) {
        u4 = (v >> (j < 16 ? 0 : 4)) & 0x0f0f0f0fu;
        bias = 8388608.0f + 8.0f;
    } else {
        u4 = v ^ 0x80808080u;
        bias = 8388608.0f + 128.0f;
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        // Selector bytes: byte i of u4, then 0x00, 0x00 (byte 4 of 0x4b000000), 0x4b (byte 7).
        q[i] = __uint_as_float(__byte_perm(u4, 0x4b000000u, 0x7440u | static_cast<uint32_t>(i))) - bias;
    }
}

template <typename XT>
__device__ __forceinline__ void load_x4(const XT* p, float (&x)[4]) {
    if constexpr (sizeof(XT) == 4) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(p));
        x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w;
    } else {
        const uint2 raw = __ldg(reinterpret_cast<const uint2*>(p));
        x[0] = __uint_as_float(raw.x << 16), x[1] = __uint_as_float(raw.x & 0xffff0000u);
        x[2] = __uint_as_float(raw.y << 16), x[3] = __uint_as_float(raw.y & 0xffff0000u);
    }
}

template <bool kIsQ4, typename XT, int kTokens>
__global__ void __launch_bounds__(256)
    matvec_q_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, const XT* __restrict__ x, float* __restrict__ y,
                    int64_t n_in, int64_t n_out, int n_tok) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= n_out) {
        return;  // the whole warp leaves together
    }
    const uint8_t* wrow = w + row * row_bytes;
    float acc[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = 0.0f;
    }
    // Windows whose loads are issued before any is used. With ~4 blocks (32 warps) per SM at
    // Llama shapes, 8 windows put 32 x 8 x 72 B = 18 KB of Q4_0 in flight per SM, near the ~23 KB
    // that 3 TB/s x ~1 us of latency needs over 132 SMs; 4 windows measured 24-32% of bandwidth.
    constexpr int kUnroll = 8;
    int64_t base = lane * 4;
    for (; base + (kUnroll - 1) * 128 < n_in; base += kUnroll * 128) {
        float d[kUnroll];
        float q[kUnroll][4];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            load_q4<kIsQ4>(wrow, base + u * 128, d[u], q[u]);
        }
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) {
                    float xv[4];
                    load_x4(x + t * n_in + base + u * 128, xv);
                    const float s = q[u][0] * xv[0] + q[u][1] * xv[1] + q[u][2] * xv[2] + q[u][3] * xv[3];
                    acc[t] = fmaf(d[u], s, acc[t]);
                }
            }
        }
    }
    for (; base < n_in; base += 128) {
        float d;
        float q[4];
        load_q4<kIsQ4>(wrow, base, d, q);
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
                float xv[4];
                load_x4(x + t * n_in + base, xv);
                acc[t] = fmaf(d, q[0] * xv[0] + q[1] * xv[1] + q[2] * xv[2] + q[3] * xv[3], acc[t]);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = warp_sum(acc[t]);
    }
    if (lane == 0) {
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
                y[t * n_out + row] = acc[t];
            }
        }
    }
}

template <bool kIsQ4, typename XT>
void launch_matvec_q(const MatvecArgs& a, int64_t row_bytes, const XT* x, float* y, int n_tok, cudaStream_t stream) {
    // 8 rows (warps) per 256-thread block: 4096 rows make 512 blocks, ~4 per SM.
    constexpr int kBlock = 256;
    const auto n_blocks = static_cast<unsigned>((a.n_out + 7) / 8);
    const auto* w = static_cast<const uint8_t*>(a.w);
    if (n_tok == 1) {
        matvec_q_kernel<kIsQ4, XT, 1><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok);
    } else if (n_tok == 2) {
        matvec_q_kernel<kIsQ4, XT, 2><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok);
    } else if (n_tok <= 4) {
        matvec_q_kernel<kIsQ4, XT, 4><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok);
    } else {
        matvec_q_kernel<kIsQ4, XT, 8><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok);
    }
}

template <typename Unit, typename XT, int kTokens>
__global__ void __launch_bounds__(256)
    matvec_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, const XT* __restrict__ x, float* __restrict__ y,
                  int64_t n_in, int64_t n_out, int n_tok, int tpr) {
    const int rows_per_block = blockDim.x / tpr;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * rows_per_block + threadIdx.x / tpr;
    const int sub = threadIdx.x % tpr;
    // Threads past the last row still take part in the shuffles below (full-warp masks), so they
    // compute on row 0 and skip the store instead of returning early.
    const bool is_valid = row < n_out;
    const uint8_t* wrow = w + (is_valid ? row : 0) * row_bytes;
    const int64_t n_units = n_in / Unit::kWeights;
    float acc[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = 0.0f;
    }
    for (int64_t u = sub; u < n_units; u += tpr) {
        Unit::template dot<kTokens>(wrow + u * Unit::kBytes, x + u * Unit::kWeights, n_in, n_tok, acc);
    }
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        for (int off = tpr / 2; off > 0; off >>= 1) {
            acc[t] += __shfl_xor_sync(kFullMask, acc[t], off);
        }
    }
    if (is_valid && sub == 0) {
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
                y[t * n_out + row] = acc[t];
            }
        }
    }
}

template <typename Unit, typename XT>
void launch_matvec(const MatvecArgs& a, int64_t row_bytes, const XT* x, float* y, int n_tok, cudaStream_t stream) {
    // Enough threads per row to cover its units in one pass where possible, but at least 8 so a
    // 256-thread block holds at most 32 rows (each a separate stream of 16-byte loads).
    const int64_t n_units = a.n_in / Unit::kWeights;
    const int tpr = n_units >= 32 ? 32 : (n_units >= 16 ? 16 : 8);
    constexpr int kBlock = 256;
    const int rows_per_block = kBlock / tpr;
    const auto n_blocks = static_cast<unsigned>((a.n_out + rows_per_block - 1) / rows_per_block);
    const auto* w = static_cast<const uint8_t*>(a.w);
    if (n_tok == 1) {
        matvec_kernel<Unit, XT, 1><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, tpr);
    } else if (n_tok == 2) {
        matvec_kernel<Unit, XT, 2><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, tpr);
    } else if (n_tok <= 4) {
        matvec_kernel<Unit, XT, 4><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, tpr);
    } else {
        matvec_kernel<Unit, XT, 8><<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, tpr);
    }
}

template <typename XT>
Status dispatch_weights(const MatvecArgs& a, const XT* x, float* y, int n_tok, cudaStream_t stream) {
    const auto row_bytes = static_cast<int64_t>(tensor::row_size_bytes(a.w_dtype, a.n_in));
    // The vector units need every row start 16-byte aligned: the base (cudaMalloc gives 256) and the row size.
    const bool is_row_aligned = reinterpret_cast<uintptr_t>(a.w) % 16 == 0 && row_bytes % 16 == 0;
    switch (a.w_dtype) {
        case DType::kQ4_0: launch_matvec_q<true>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ8_0: launch_matvec_q<false>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kF16:
            if (is_row_aligned && a.n_in % 16 == 0) {
                launch_matvec<HalfUnit<false>>(a, row_bytes, x, y, n_tok, stream);
            } else {
                launch_matvec<ScalarUnit<false>>(a, row_bytes, x, y, n_tok, stream);
            }
            break;
        case DType::kBF16:
            if (is_row_aligned && a.n_in % 16 == 0) {
                launch_matvec<HalfUnit<true>>(a, row_bytes, x, y, n_tok, stream);
            } else {
                launch_matvec<ScalarUnit<true>>(a, row_bytes, x, y, n_tok, stream);
            }
            break;
        default:
            return make_error(ErrorCode::kUnimplemented, "matvec: no cuda kernel for weights of %s",
                              tensor::dtype_name(a.w_dtype));
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "matvec launch");
}

}  // namespace

Status matvec(const MatvecArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    if (a.n_in <= 0 || a.n_out <= 0 || a.n_tokens < 0) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: bad sizes n_in=%lld n_out=%lld n_tokens=%lld",
                          static_cast<long long>(a.n_in), static_cast<long long>(a.n_out),
                          static_cast<long long>(a.n_tokens));
    }
    if (a.w == nullptr || a.x == nullptr || a.y == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: null pointer");
    }
    if (a.w_dtype != DType::kQ4_0 && a.w_dtype != DType::kQ8_0 && a.w_dtype != DType::kF16
        && a.w_dtype != DType::kBF16) {
        return make_error(ErrorCode::kUnimplemented, "matvec: no cuda kernel for weights of %s",
                          tensor::dtype_name(a.w_dtype));
    }
    if (a.n_in % tensor::block_size(a.w_dtype) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: n_in=%lld is not a multiple of %lld for %s",
                          static_cast<long long>(a.n_in), static_cast<long long>(tensor::block_size(a.w_dtype)),
                          tensor::dtype_name(a.w_dtype));
    }
    if (a.x_dtype != DType::kF32 && a.x_dtype != DType::kBF16) {
        return make_error(ErrorCode::kUnimplemented, "matvec: activations of %s, expected f32 or bf16",
                          tensor::dtype_name(a.x_dtype));
    }
    // Vector x loads need 16-byte aligned token rows; every supported n_in keeps that when x is aligned,
    // except f16/bf16 weights with an odd-sized row, which use the scalar path anyway.
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kMatvecMaxTokens) {
        const int n_tok = static_cast<int>(a.n_tokens - t0 < kMatvecMaxTokens ? a.n_tokens - t0 : kMatvecMaxTokens);
        float* y = a.y + t0 * a.n_out;
        if (a.x_dtype == DType::kF32) {
            GANNET_RETURN_IF_ERROR(dispatch_weights(a, static_cast<const float*>(a.x) + t0 * a.n_in, y, n_tok, stream));
        } else {
            GANNET_RETURN_IF_ERROR(
                dispatch_weights(a, static_cast<const __nv_bfloat16*>(a.x) + t0 * a.n_in, y, n_tok, stream));
        }
    }
    return Status();
}

}  // namespace gannet::kernels::cuda
