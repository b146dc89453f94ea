// Matrix-vector products for GGUF weight layouts. Napkin math for Llama-3-8B's 4096x4096 Q4_0
// projection: 9.4 MB of weights at ~3 TB/s is ~3.1 us; x (16 KB f32) stays in L1/L2, so the kernel
// is bound by the weight stream as long as each warp's x and W accesses coalesce (L1 wavefronts,
// not DRAM, is what the first, strided version ran out of).
//
// With scratch (int8 activations): quantize_x_kernel, then matvec_dp4a_kernel (Q4_0, Q8_0),
// matvec_legacy_dp4a_kernel (Q4_1, Q5_0, Q5_1) or matvec_kq_dp4a_kernel (Q4_K, Q5_K, Q6_K); see there.
// Other block types (Q2_K, Q3_K, and the types above without scratch):
// matvec_block_kernel over dequant8 (dequantize.cuh) with f32/bf16 activations.
// Q4_0 / Q8_0 without scratch: matvec_q_kernel, one warp per row, lane l owning weights 4l..4l+3
// of each 128-weight window (see there); any n_in that is a whole number of blocks.
// F16 / BF16: matvec_kernel, a group of `tpr` threads (8, 16 or 32) per row walking it in 16-weight
// units of two 16-byte loads; a 256-thread block holds 256 / tpr rows and the group's partial sums
// meet through shuffles. Rows that break 16-byte alignment (n_in % 16 != 0) use one element per
// unit: correct at any size, slower, and only hit by shapes no real model has.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/int8_x.cuh"
#include "kernels/cuda/matvec.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

// The rows one launch computes: up to kMatvecMaxGroup matrices (same n_in, dtype and layout) stacked,
// global row r belonging to the first entry with r < end[e]. A plain matvec is one entry.
struct RowSet {
    const uint8_t* w[kMatvecMaxGroup];
    float* y[kMatvecMaxGroup];
    int64_t n_out[kMatvecMaxGroup];
    int64_t end[kMatvecMaxGroup];  // cumulative row counts; unused entries repeat the last
    __host__ __device__ int64_t total() const { return end[kMatvecMaxGroup - 1]; }
};

RowSet one_row_set(const void* w, float* y, int64_t n_out) {
    RowSet r{};
    for (int e = 0; e < kMatvecMaxGroup; ++e) {
        r.w[e] = static_cast<const uint8_t*>(w);
        r.y[e] = y;
        r.n_out[e] = n_out;
        r.end[e] = n_out;
    }
    return r;
}

// Global row (< rows.total()) to its entry's w, y, n_out and local row. Constant indices only, so
// the parameter arrays stay in the constant bank.
__device__ __forceinline__ void locate_row(const RowSet& rows, int64_t global, const uint8_t*& w, float*& y,
                                           int64_t& n_out, int64_t& row) {
    if (global < rows.end[0]) {
        w = rows.w[0], y = rows.y[0], n_out = rows.n_out[0], row = global;
    } else if (global < rows.end[1]) {
        w = rows.w[1], y = rows.y[1], n_out = rows.n_out[1], row = global - rows.end[0];
    } else {
        w = rows.w[2], y = rows.y[2], n_out = rows.n_out[2], row = global - rows.end[1];
    }
}

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
                    int64_t n_in, int64_t n_out, int n_tok, bool is_acc) {
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
                y[t * n_out + row] = is_acc ? y[t * n_out + row] + acc[t] : acc[t];
            }
        }
    }
}

template <bool kIsQ4, typename XT>
void launch_matvec_q(const MatvecArgs& a, int64_t row_bytes, const XT* x, float* y, int n_tok, cudaStream_t stream) {
    const bool is_acc = a.y_mode == MatvecOutput::kAccumulate;
    // 8 rows (warps) per 256-thread block: 4096 rows make 512 blocks, ~4 per SM.
    constexpr int kBlock = 256;
    const auto n_blocks = static_cast<unsigned>((a.n_out + 7) / 8);
    const auto* w = static_cast<const uint8_t*>(a.w);
    if (n_tok == 1) {
        matvec_q_kernel<kIsQ4, XT, 1>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    } else if (n_tok == 2) {
        matvec_q_kernel<kIsQ4, XT, 2>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    } else if (n_tok <= 4) {
        matvec_q_kernel<kIsQ4, XT, 4>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    } else {
        matvec_q_kernel<kIsQ4, XT, 8>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    }
}

template <typename Unit, typename XT, int kTokens>
__global__ void __launch_bounds__(256)
    matvec_kernel(const RowSet rows, int64_t row_bytes, const XT* __restrict__ x, int64_t n_in, int n_tok, int tpr,
                  bool is_acc) {
    const int rows_per_block = blockDim.x / tpr;
    const int64_t global_row = static_cast<int64_t>(blockIdx.x) * rows_per_block + threadIdx.x / tpr;
    const int sub = threadIdx.x % tpr;
    // Threads past the last row still take part in the shuffles below (full-warp masks), so they
    // compute on row 0 and skip the store instead of returning early.
    const bool is_valid = global_row < rows.total();
    const uint8_t* w;
    float* y;
    int64_t n_out;
    int64_t row;
    locate_row(rows, is_valid ? global_row : 0, w, y, n_out, row);
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
                y[t * n_out + row] = is_acc ? y[t * n_out + row] + acc[t] : acc[t];
            }
        }
    }
}

template <typename Unit, typename XT>
void launch_matvec(const MatvecArgs& a, const RowSet& rows, int64_t row_bytes, const XT* x, int n_tok,
                   cudaStream_t stream) {
    const bool is_acc = a.y_mode == MatvecOutput::kAccumulate;
    // Enough threads per row to cover its units in one pass where possible, but at least 8 so a
    // 256-thread block holds at most 32 rows (each a separate stream of 16-byte loads).
    const int64_t n_units = a.n_in / Unit::kWeights;
    const int tpr = n_units >= 32 ? 32 : (n_units >= 16 ? 16 : 8);
    constexpr int kBlock = 256;
    const int rows_per_block = kBlock / tpr;
    const auto n_blocks = static_cast<unsigned>((rows.total() + rows_per_block - 1) / rows_per_block);
    if (n_tok == 1) {
        matvec_kernel<Unit, XT, 1><<<n_blocks, kBlock, 0, stream>>>(rows, row_bytes, x, a.n_in, n_tok, tpr, is_acc);
    } else if (n_tok == 2) {
        matvec_kernel<Unit, XT, 2><<<n_blocks, kBlock, 0, stream>>>(rows, row_bytes, x, a.n_in, n_tok, tpr, is_acc);
    } else if (n_tok <= 4) {
        matvec_kernel<Unit, XT, 4><<<n_blocks, kBlock, 0, stream>>>(rows, row_bytes, x, a.n_in, n_tok, tpr, is_acc);
    } else {
        matvec_kernel<Unit, XT, 8><<<n_blocks, kBlock, 0, stream>>>(rows, row_bytes, x, a.n_in, n_tok, tpr, is_acc);
    }
}

// --- Other block types (Q4_1, Q5_0, Q5_1, Q2_K..Q6_K): f32/bf16 activations. ---
// One warp per row; lane l owns weights 8l..8l+7 of each 256-weight window, decoded by dequant8
// (dequantize.cuh, one scale per call), so x is read as one contiguous 1 KB (f32) run per warp and
// the window's weight bytes are one contiguous run too. kUnroll windows are decoded (loads issued)
// before any is used.
template <DType kType, typename XT, int kTokens>
__global__ void __launch_bounds__(256)
    matvec_block_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, const XT* __restrict__ x,
                        float* __restrict__ y, int64_t n_in, int64_t n_out, int n_tok, bool is_acc) {
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
    constexpr int kUnroll = 4;
    for (int64_t e0 = lane * 8; e0 < n_in; e0 += 256 * kUnroll) {
        float wv[kUnroll][8];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t e = e0 + u * 256;
            if (e < n_in) {
                dequant8<kType>(wrow, e, wv[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t e = e0 + u * 256;
            if (e < n_in) {
                dot8<kTokens>(wv[u], x + e, n_in, n_tok, acc);
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
                y[t * n_out + row] = is_acc ? y[t * n_out + row] + acc[t] : acc[t];
            }
        }
    }
}

template <DType kType, typename XT>
void launch_matvec_block(const MatvecArgs& a, int64_t row_bytes, const XT* x, float* y, int n_tok,
                         cudaStream_t stream) {
    constexpr int kBlock = 256;  // 8 rows (warps) per block
    const bool is_acc = a.y_mode == MatvecOutput::kAccumulate;
    const auto n_blocks = static_cast<unsigned>((a.n_out + 7) / 8);
    const auto* w = static_cast<const uint8_t*>(a.w);
    if (n_tok == 1) {
        matvec_block_kernel<kType, XT, 1>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    } else if (n_tok == 2) {
        matvec_block_kernel<kType, XT, 2>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    } else if (n_tok <= 4) {
        matvec_block_kernel<kType, XT, 4>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    } else {
        matvec_block_kernel<kType, XT, 8>
            <<<n_blocks, kBlock, 0, stream>>>(w, row_bytes, x, y, a.n_in, a.n_out, n_tok, is_acc);
    }
}

// --- Int8 activations + dp4a (Q4_0, Q8_0 with scratch). ---
// quantize_x_kernel: one warp per 32-element block of x, rounded by quantize_block32 (int8_x.cuh,
// which also gives the scratch layout).
template <typename XT>
__global__ void __launch_bounds__(256)
    quantize_x_kernel(const XT* __restrict__ x, int8_t* __restrict__ xq, float* __restrict__ xd, int64_t n_blocks) {
    const int64_t blk = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    if (blk >= n_blocks) {
        return;  // whole warps only
    }
    quantize_block32(load_x(x + blk * 32 + threadIdx.x % 32), blk, xq, xd);
}

template <typename XT>
Status launch_quantize_x(const XT* x, int64_t n_elems, void* scratch, cudaStream_t stream) {
    auto* xq = static_cast<int8_t*>(scratch);
    auto* xd = reinterpret_cast<float*>(static_cast<uint8_t*>(scratch) + int8_x_xq_bytes(n_elems));
    const int64_t n_xblocks = n_elems / 32;
    constexpr int kBlock = 256;
    const auto n_qblocks = static_cast<unsigned>((n_xblocks + 7) / 8);  // 8 warps per block
    quantize_x_kernel<XT><<<n_qblocks, kBlock, 0, stream>>>(x, xq, xd, n_xblocks);
    return gannet::cuda::cuda_status(cudaGetLastError(), "matvec quantize-x launch");
}

// Four unsigned nibbles (one per byte, 0..15) to four signed bytes nibble - 8, without carries
// between bytes: n + 0x78 <= 0x87 fits a byte, and flipping bit 7 subtracts 128.
__device__ __forceinline__ int nibbles_minus_8(uint32_t n) {
    return static_cast<int>((n + 0x78787878u) ^ 0x80808080u);
}

// One warp per row; two lanes per 32-weight block, 16 blocks per warp step. Q4_0: lane half h
// takes qs[8h..8h+7], i.e. weights 8h..8h+7 (low nibbles) and 16+8h..16+8h+7 (high nibbles);
// Q8_0: lane half h takes weights 16h..16h+15. Weight quants load as 16-bit words (blocks are
// 2-byte aligned) and are turned into signed bytes once, then reused for every token; x comes
// from scratch as 8- or 16-byte int8 loads. kUnroll steps of loads are issued before any is used.
// kIsSplit (Q4_0 in WeightLayout::kQ4_0Split): the same lanes, blocks and arithmetic (so y is bit
// for bit the GGUF layout's), but a lane's 8 nibble bytes are one aligned 8-byte load from the qs
// array (a warp step reads 256 contiguous bytes) and d comes from the separate scale array; twice
// the steps in flight, since each costs half the load instructions.
template <bool kIsQ4, int kTokens, bool kIsSplit = false>
__global__ void __launch_bounds__(256)
    matvec_dp4a_kernel(const RowSet rows, int64_t row_bytes, const int8_t* __restrict__ xq,
                       const float* __restrict__ xd, int64_t n_in, int n_tok, bool is_acc) {
    constexpr int kBytes = kIsSplit ? 16 : (kIsQ4 ? 18 : 34);  // per block in the row at w + row * row_bytes
    constexpr int kUnroll = kIsSplit ? 8 : 4;
    const int64_t global_row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (global_row >= rows.total()) {
        return;  // the whole warp leaves together
    }
    const uint8_t* w;
    float* y;
    int64_t n_out;
    int64_t row;
    locate_row(rows, global_row, w, y, n_out, row);
    const int h = lane & 1;
    const int64_t n_blocks = n_in / 32;
    const uint8_t* wrow = w + row * row_bytes;
    // kIsSplit: the scales follow the qs of all n_out rows.
    const auto* drow = reinterpret_cast<const unsigned short*>(w + n_out * row_bytes) + row * n_blocks;
    float acc[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = 0.0f;
    }
    for (int64_t b0 = lane >> 1; b0 < n_blocks; b0 += 16 * kUnroll) {
        float d[kUnroll];
        int wq[kUnroll][4];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t b = b0 + 16 * u;
            d[u] = 0.0f;
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                wq[u][k] = 0;
            }
            if (b < n_blocks) {
                const uint8_t* blk = wrow + b * kBytes;
                if constexpr (kIsSplit) {
                    d[u] = half_bits_to_float(__ldg(drow + b));
                    const uint2 v = __ldg(reinterpret_cast<const uint2*>(blk + 8 * h));  // qs[8h..8h+7]
                    wq[u][0] = nibbles_minus_8(v.x & 0x0f0f0f0fu);
                    wq[u][1] = nibbles_minus_8(v.y & 0x0f0f0f0fu);
                    wq[u][2] = nibbles_minus_8((v.x >> 4) & 0x0f0f0f0fu);
                    wq[u][3] = nibbles_minus_8((v.y >> 4) & 0x0f0f0f0fu);
                } else if constexpr (kIsQ4) {
                    d[u] = ld_half(blk);
                    const uint32_t v0 = ld_u32_a2(blk + 2 + 8 * h);
                    const uint32_t v1 = ld_u32_a2(blk + 2 + 8 * h + 4);
                    wq[u][0] = nibbles_minus_8(v0 & 0x0f0f0f0fu);         // weights 8h + 0..3
                    wq[u][1] = nibbles_minus_8(v1 & 0x0f0f0f0fu);         // 8h + 4..7
                    wq[u][2] = nibbles_minus_8((v0 >> 4) & 0x0f0f0f0fu);  // 16 + 8h + 0..3
                    wq[u][3] = nibbles_minus_8((v1 >> 4) & 0x0f0f0f0fu);  // 16 + 8h + 4..7
                } else {
                    d[u] = ld_half(blk);
#pragma unroll
                    for (int k = 0; k < 4; ++k) {
                        wq[u][k] = static_cast<int>(ld_u32_a2(blk + 2 + 16 * h + 4 * k));  // 16h + 4k..4k+3
                    }
                }
            }
        }
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) {
                    const int64_t b = b0 + 16 * u;
                    if (b < n_blocks) {
                        const int8_t* xb = xq + t * n_in + b * 32;
                        int s = 0;
                        if constexpr (kIsQ4) {
                            const uint2 lo = __ldg(reinterpret_cast<const uint2*>(xb + 8 * h));
                            const uint2 hi = __ldg(reinterpret_cast<const uint2*>(xb + 16 + 8 * h));
                            s = __dp4a(wq[u][0], static_cast<int>(lo.x), s);
                            s = __dp4a(wq[u][1], static_cast<int>(lo.y), s);
                            s = __dp4a(wq[u][2], static_cast<int>(hi.x), s);
                            s = __dp4a(wq[u][3], static_cast<int>(hi.y), s);
                        } else {
                            const uint4 v = __ldg(reinterpret_cast<const uint4*>(xb + 16 * h));
                            s = __dp4a(wq[u][0], static_cast<int>(v.x), s);
                            s = __dp4a(wq[u][1], static_cast<int>(v.y), s);
                            s = __dp4a(wq[u][2], static_cast<int>(v.z), s);
                            s = __dp4a(wq[u][3], static_cast<int>(v.w), s);
                        }
                        acc[t] = fmaf(d[u] * __ldg(xd + t * n_blocks + b), static_cast<float>(s), acc[t]);
                    }
                }
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
                y[t * n_out + row] = is_acc ? y[t * n_out + row] + acc[t] : acc[t];
            }
        }
    }
}

// Q4_K / Q5_K with int8 x: one warp per row, one 256-weight super-block per warp per step, lane l
// owning weights 8l..8l+7, i.e. bytes 8(l % 4).. of sub-block s = l / 4, whose 32 weights are
// exactly one 32-block of x. Per sub-block, sum_i (d sc q_i - dmin m) x_i = xd (d sc sum q_i xq_i
// - dmin m sum xq_i): two dp4a for the quants (unsigned 0..31, so valid as signed bytes) and two
// against 0x01010101 for the sum of x. kUnroll super-blocks of loads are issued before any is used.
// Q6_K: the same lanes; the lane's 8 weights share one 16-weight int8 scale, and sum_i d sc (q_i - 32)
// x_i = xd d sc (sum q_i xq_i - 32 sum xq_i) with q (0..63) from 4 bits of ql and 2 of qh.
template <DType kType, int kTokens>
__global__ void __launch_bounds__(256)
    matvec_kq_dp4a_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, const int8_t* __restrict__ xq,
                          const float* __restrict__ xd, float* __restrict__ y, int64_t n_in, int64_t n_out, int n_tok,
                          bool is_acc) {
    constexpr bool kIsQ5 = kType == DType::kQ5_K;
    constexpr bool kIsQ6 = kType == DType::kQ6_K;
    constexpr int kBytes = kIsQ6 ? 210 : kIsQ5 ? 176 : 144;
    constexpr int kUnroll = 4;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= n_out) {
        return;  // the whole warp leaves together
    }
    const int s = lane / 4;        // sub-block of 32 weights
    const int l = 8 * (lane % 4);  // first weight of the lane within it
    const int64_t n_sb = n_in / 256;
    const int64_t n_xblocks = n_in / 32;
    const uint8_t* wrow = w + row * row_bytes;
    float acc[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = 0.0f;
    }
    for (int64_t sb0 = 0; sb0 < n_sb; sb0 += kUnroll) {
        float dl[kUnroll];
        float ml[kUnroll];
        int wq[kUnroll][2];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t sb = sb0 + u;
            dl[u] = 0.0f;
            ml[u] = 0.0f;
            wq[u][0] = 0;
            wq[u][1] = 0;
            if (sb < n_sb) {
                const uint8_t* blk = wrow + sb * kBytes;
                if constexpr (kIsQ6) {
                    // ql[128], qh[64], scales[16] (int8), d (fp16 at 208). Weight 32s + l + i:
                    // half h = s / 4, quarter k = s % 4.
                    const int h = s / 4;
                    const int k = s % 4;
                    const uint8_t* ql = blk + 64 * h + 32 * (k & 1) + l;
                    const uint8_t* qh = blk + 128 + 32 * h + l;
                    const int shift = 4 * (k / 2);
                    uint32_t v0 = (ld_u32_a2(ql) >> shift) & 0x0f0f0f0fu;
                    uint32_t v1 = (ld_u32_a2(ql + 4) >> shift) & 0x0f0f0f0fu;
                    v0 |= ((ld_u32_a2(qh) >> (2 * k)) & 0x03030303u) << 4;
                    v1 |= ((ld_u32_a2(qh + 4) >> (2 * k)) & 0x03030303u) << 4;
                    const int sc = static_cast<int8_t>(blk[192 + 2 * s + l / 16]);
                    dl[u] = ld_half(blk + 208) * static_cast<float>(sc);
                    wq[u][0] = static_cast<int>(v0);
                    wq[u][1] = static_cast<int>(v1);
                } else {
                    int sc = 0;
                    int m = 0;
                    scale_min_k4_dev(s, blk + 4, sc, m);
                    dl[u] = ld_half(blk) * static_cast<float>(sc);
                    ml[u] = ld_half(blk + 2) * static_cast<float>(m);
                    const uint8_t* q = blk + (kIsQ5 ? 48 : 16) + 32 * (s / 2) + l;
                    const int shift = 4 * (s % 2);
                    uint32_t v0 = (ld_u32_a2(q) >> shift) & 0x0f0f0f0fu;
                    uint32_t v1 = (ld_u32_a2(q + 4) >> shift) & 0x0f0f0f0fu;
                    if constexpr (kIsQ5) {
                        v0 |= ((ld_u32_a2(blk + 16 + l) >> s) & 0x01010101u) << 4;
                        v1 |= ((ld_u32_a2(blk + 16 + l + 4) >> s) & 0x01010101u) << 4;
                    }
                    wq[u][0] = static_cast<int>(v0);
                    wq[u][1] = static_cast<int>(v1);
                }
            }
        }
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) {
                    const int64_t sb = sb0 + u;
                    if (sb < n_sb) {
                        const uint2 xv = __ldg(reinterpret_cast<const uint2*>(xq + t * n_in + sb * 256 + 8 * lane));
                        int sq = __dp4a(wq[u][0], static_cast<int>(xv.x), 0);
                        sq = __dp4a(wq[u][1], static_cast<int>(xv.y), sq);
                        int sx = __dp4a(0x01010101, static_cast<int>(xv.x), 0);
                        sx = __dp4a(0x01010101, static_cast<int>(xv.y), sx);
                        const float xs = __ldg(xd + t * n_xblocks + sb * 8 + s);
                        if constexpr (kIsQ6) {
                            acc[t] = fmaf(xs, dl[u] * static_cast<float>(sq - 32 * sx), acc[t]);
                        } else {
                            acc[t] = fmaf(xs, dl[u] * static_cast<float>(sq) - ml[u] * static_cast<float>(sx), acc[t]);
                        }
                    }
                }
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
                y[t * n_out + row] = is_acc ? y[t * n_out + row] + acc[t] : acc[t];
            }
        }
    }
}

// Bit j of qh, for j = first..first+3, as bit 4 of byte j - first (the 5th bit of Q5_0 / Q5_1 quants).
__device__ __forceinline__ uint32_t qh_bits_to_bytes(uint32_t qh, int first) {
    const uint32_t b = qh >> first;
    return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}

// Q4_1 / Q5_0 / Q5_1 with int8 x: the lanes of matvec_dp4a_kernel (one warp per row, two lanes per
// 32-weight block, 16 blocks per warp step; lane half h takes weights 8h..8h+7 and 16+8h..16+8h+7)
// over one matrix. The quants stay unsigned (0..31, valid as signed bytes) and one dp4a pair against
// 0x01010101 gives the lane's sum of x: Q4_1 / Q5_1 add m sum xq_i, Q5_0 subtracts 16 d sum xq_i.
template <DType kType, int kTokens>
__global__ void __launch_bounds__(256)
    matvec_legacy_dp4a_kernel(const uint8_t* __restrict__ w, int64_t row_bytes, const int8_t* __restrict__ xq,
                              const float* __restrict__ xd, float* __restrict__ y, int64_t n_in, int64_t n_out,
                              int n_tok, bool is_acc) {
    constexpr bool kHasMin = kType != DType::kQ5_0;
    constexpr bool kHasHigh = kType != DType::kQ4_1;
    constexpr int kBytes = kType == DType::kQ4_1 ? 20 : kType == DType::kQ5_0 ? 22 : 24;
    constexpr int kQhOffset = kType == DType::kQ5_0 ? 2 : 4;  // Q5_0 / Q5_1 only
    constexpr int kQsOffset = kType == DType::kQ4_1 ? 4 : kType == DType::kQ5_0 ? 6 : 8;
    constexpr int kUnroll = 4;
    const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= n_out) {
        return;  // the whole warp leaves together
    }
    const int h = lane & 1;
    const int64_t n_blocks = n_in / 32;
    const uint8_t* wrow = w + row * row_bytes;
    float acc[kTokens];
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
        acc[t] = 0.0f;
    }
    for (int64_t b0 = lane >> 1; b0 < n_blocks; b0 += 16 * kUnroll) {
        float d[kUnroll];
        float m[kUnroll];
        int wq[kUnroll][4];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t b = b0 + 16 * u;
            d[u] = 0.0f;
            m[u] = 0.0f;
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                wq[u][k] = 0;
            }
            if (b < n_blocks) {
                const uint8_t* blk = wrow + b * kBytes;
                d[u] = ld_half(blk);
                if constexpr (kHasMin) {
                    m[u] = ld_half(blk + 2);
                }
                const uint32_t v0 = ld_u32_a2(blk + kQsOffset + 8 * h);
                const uint32_t v1 = ld_u32_a2(blk + kQsOffset + 8 * h + 4);
                uint32_t q[4] = {v0 & 0x0f0f0f0fu, v1 & 0x0f0f0f0fu, (v0 >> 4) & 0x0f0f0f0fu,
                                 (v1 >> 4) & 0x0f0f0f0fu};  // weights 8h + 0..3, 4..7, 16 + 8h + 0..3, 4..7
                if constexpr (kHasHigh) {
                    const uint32_t qh = ld_u32_a2(blk + kQhOffset);
                    q[0] |= qh_bits_to_bytes(qh, 8 * h);
                    q[1] |= qh_bits_to_bytes(qh, 8 * h + 4);
                    q[2] |= qh_bits_to_bytes(qh, 16 + 8 * h);
                    q[3] |= qh_bits_to_bytes(qh, 16 + 8 * h + 4);
                }
#pragma unroll
                for (int k = 0; k < 4; ++k) {
                    wq[u][k] = static_cast<int>(q[k]);
                }
            }
        }
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
            if (t < n_tok) {
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) {
                    const int64_t b = b0 + 16 * u;
                    if (b < n_blocks) {
                        const int8_t* xb = xq + t * n_in + b * 32;
                        const uint2 lo = __ldg(reinterpret_cast<const uint2*>(xb + 8 * h));
                        const uint2 hi = __ldg(reinterpret_cast<const uint2*>(xb + 16 + 8 * h));
                        int sq = __dp4a(wq[u][0], static_cast<int>(lo.x), 0);
                        sq = __dp4a(wq[u][1], static_cast<int>(lo.y), sq);
                        sq = __dp4a(wq[u][2], static_cast<int>(hi.x), sq);
                        sq = __dp4a(wq[u][3], static_cast<int>(hi.y), sq);
                        int sx = __dp4a(0x01010101, static_cast<int>(lo.x), 0);
                        sx = __dp4a(0x01010101, static_cast<int>(lo.y), sx);
                        sx = __dp4a(0x01010101, static_cast<int>(hi.x), sx);
                        sx = __dp4a(0x01010101, static_cast<int>(hi.y), sx);
                        const float xs = __ldg(xd + t * n_blocks + b);
                        if constexpr (kHasMin) {
                            acc[t] = fmaf(xs, d[u] * static_cast<float>(sq) + m[u] * static_cast<float>(sx), acc[t]);
                        } else {
                            acc[t] = fmaf(xs, d[u] * static_cast<float>(sq - 16 * sx), acc[t]);
                        }
                    }
                }
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
                y[t * n_out + row] = is_acc ? y[t * n_out + row] + acc[t] : acc[t];
            }
        }
    }
}

bool uses_dp4a(DType d) {
    return d == DType::kQ4_0 || d == DType::kQ8_0 || d == DType::kQ4_K || d == DType::kQ5_K || d == DType::kQ6_K
           || d == DType::kQ4_1 || d == DType::kQ5_0 || d == DType::kQ5_1;
}

// The instantiation for up to n_tok tokens (1, 2, 4 or 8).
using Dp4aKernel = void (*)(RowSet, int64_t, const int8_t*, const float*, int64_t, int, bool);
using KqKernel = void (*)(const uint8_t*, int64_t, const int8_t*, const float*, float*, int64_t, int64_t, int, bool);

template <bool kIsQ4, bool kIsSplit = false>
Dp4aKernel q_kernel_for(int n_tok) {
    return n_tok == 1   ? matvec_dp4a_kernel<kIsQ4, 1, kIsSplit>
           : n_tok == 2 ? matvec_dp4a_kernel<kIsQ4, 2, kIsSplit>
           : n_tok <= 4 ? matvec_dp4a_kernel<kIsQ4, 4, kIsSplit>
                        : matvec_dp4a_kernel<kIsQ4, 8, kIsSplit>;
}

template <DType kType>
KqKernel kq_kernel_for(int n_tok) {
    return n_tok == 1   ? matvec_kq_dp4a_kernel<kType, 1>
           : n_tok == 2 ? matvec_kq_dp4a_kernel<kType, 2>
           : n_tok <= 4 ? matvec_kq_dp4a_kernel<kType, 4>
                        : matvec_kq_dp4a_kernel<kType, 8>;
}

template <DType kType>
KqKernel legacy_kernel_for(int n_tok) {
    return n_tok == 1   ? matvec_legacy_dp4a_kernel<kType, 1>
           : n_tok == 2 ? matvec_legacy_dp4a_kernel<kType, 2>
           : n_tok <= 4 ? matvec_legacy_dp4a_kernel<kType, 4>
                        : matvec_legacy_dp4a_kernel<kType, 8>;
}

// Quantizes n_tok rows of x into scratch (unless the caller did), then runs the dp4a kernel.
template <typename XT>
Status launch_matvec_dp4a(const MatvecArgs& a, const RowSet& rows, const XT* x, int n_tok, cudaStream_t stream) {
    const int64_t n_elems = n_tok * a.n_in;
    if (!a.is_x_quantized) {
        GANNET_RETURN_IF_ERROR(launch_quantize_x(x, n_elems, a.scratch, stream));
    }
    const auto* xq = static_cast<const int8_t*>(a.scratch);
    const auto* xd = reinterpret_cast<const float*>(static_cast<const uint8_t*>(a.scratch) + int8_x_xq_bytes(n_elems));
    const bool is_acc = a.y_mode == MatvecOutput::kAccumulate;
    constexpr int kBlock = 256;
    const bool is_split = a.w_layout == WeightLayout::kQ4_0Split;
    // Split: row_bytes is the stride of the qs array (16 bytes per block).
    const auto row_bytes = is_split ? static_cast<int64_t>(a.n_in / 32 * 16)
                                    : static_cast<int64_t>(tensor::row_size_bytes(a.w_dtype, a.n_in));
    const auto n_blocks = static_cast<unsigned>((rows.total() + 7) / 8);
    Dp4aKernel kernel = nullptr;
    KqKernel kq_kernel = nullptr;
    switch (a.w_dtype) {
        case DType::kQ4_0: kernel = is_split ? q_kernel_for<true, true>(n_tok) : q_kernel_for<true>(n_tok); break;
        case DType::kQ8_0: kernel = q_kernel_for<false>(n_tok); break;
        case DType::kQ4_K: kq_kernel = kq_kernel_for<DType::kQ4_K>(n_tok); break;
        case DType::kQ5_K: kq_kernel = kq_kernel_for<DType::kQ5_K>(n_tok); break;
        case DType::kQ6_K: kq_kernel = kq_kernel_for<DType::kQ6_K>(n_tok); break;
        case DType::kQ4_1: kq_kernel = legacy_kernel_for<DType::kQ4_1>(n_tok); break;
        case DType::kQ5_0: kq_kernel = legacy_kernel_for<DType::kQ5_0>(n_tok); break;
        case DType::kQ5_1: kq_kernel = legacy_kernel_for<DType::kQ5_1>(n_tok); break;
        default:
            return make_error(ErrorCode::kInternal, "matvec: no dp4a kernel for %s", tensor::dtype_name(a.w_dtype));
    }
    if (kernel != nullptr) {
        kernel<<<n_blocks, kBlock, 0, stream>>>(rows, row_bytes, xq, xd, a.n_in, n_tok, is_acc);
    } else {
        // K-quants, Q4_1, Q5_0, Q5_1: one entry only (matvec_group never groups them).
        kq_kernel<<<n_blocks, kBlock, 0, stream>>>(rows.w[0], row_bytes, xq, xd, rows.y[0], a.n_in, rows.n_out[0],
                                                   n_tok, is_acc);
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "matvec dp4a launch");
}

// True when the F16 / BF16 path for these weights uses 16-byte HalfUnit loads (every row start
// 16-byte aligned: the base, as cudaMalloc gives, and the row size).
bool uses_half_units(const void* w, int64_t row_bytes, int64_t n_in) {
    return reinterpret_cast<uintptr_t>(w) % 16 == 0 && row_bytes % 16 == 0 && n_in % 16 == 0;
}

// rows: a's matrix (or, from matvec_group, several sharing a's dtype, layout and n_in); y (and
// a.y, a.w) are used only by the single-matrix kernels, which rows then describes too.
template <typename XT>
Status dispatch_weights(const MatvecArgs& a, const RowSet& rows, const XT* x, float* y, int n_tok,
                        cudaStream_t stream) {
    const auto row_bytes = static_cast<int64_t>(tensor::row_size_bytes(a.w_dtype, a.n_in));
    const bool is_half_units = uses_half_units(a.w, row_bytes, a.n_in);
    if (uses_dp4a(a.w_dtype) && a.scratch != nullptr) {
        return launch_matvec_dp4a(a, rows, x, n_tok, stream);
    }
    switch (a.w_dtype) {
        case DType::kQ4_0: launch_matvec_q<true>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ8_0: launch_matvec_q<false>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kF16:
            if (is_half_units) {
                launch_matvec<HalfUnit<false>>(a, rows, row_bytes, x, n_tok, stream);
            } else {
                launch_matvec<ScalarUnit<false>>(a, rows, row_bytes, x, n_tok, stream);
            }
            break;
        case DType::kBF16:
            if (is_half_units) {
                launch_matvec<HalfUnit<true>>(a, rows, row_bytes, x, n_tok, stream);
            } else {
                launch_matvec<ScalarUnit<true>>(a, rows, row_bytes, x, n_tok, stream);
            }
            break;
        case DType::kQ4_1: launch_matvec_block<DType::kQ4_1>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ5_0: launch_matvec_block<DType::kQ5_0>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ5_1: launch_matvec_block<DType::kQ5_1>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ2_K: launch_matvec_block<DType::kQ2_K>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ3_K: launch_matvec_block<DType::kQ3_K>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ4_K: launch_matvec_block<DType::kQ4_K>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ5_K: launch_matvec_block<DType::kQ5_K>(a, row_bytes, x, y, n_tok, stream); break;
        case DType::kQ6_K: launch_matvec_block<DType::kQ6_K>(a, row_bytes, x, y, n_tok, stream); break;
        default:
            return make_error(ErrorCode::kUnimplemented, "matvec: no cuda kernel for weights of %s",
                              tensor::dtype_name(a.w_dtype));
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "matvec launch");
}

bool has_matvec_kernel(DType d) {
    switch (d) {
        case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
        case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
        case DType::kF16: case DType::kBF16:
            return true;
        default:
            return false;
    }
}

}  // namespace

bool matvec_supports(DType w_dtype) {
    return has_matvec_kernel(w_dtype);
}

size_t matvec_scratch_size_bytes(const MatvecArgs& a) {
    if (!uses_dp4a(a.w_dtype) || a.n_tokens <= 0 || a.n_in <= 0) {
        return 0;
    }
    const int64_t n_tok = a.n_tokens < kMatvecMaxTokens ? a.n_tokens : kMatvecMaxTokens;
    return int8_x_size_bytes(n_tok * a.n_in);
}

bool matvec_uses_int8_x(DType w_dtype) {
    return uses_dp4a(w_dtype);
}

size_t int8_x_size_bytes(int64_t n_elems) {
    return n_elems <= 0 ? 0 : int8_x_xq_bytes(n_elems) + static_cast<size_t>(n_elems / 32) * sizeof(float);
}

Status quantize_x_int8(const QuantizeXArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    if (a.n_in <= 0 || a.n_in % 32 != 0 || a.n_tokens < 0 || a.n_tokens > kMatvecMaxTokens) {
        return make_error(ErrorCode::kInvalidArgument,
                          "quantize_x_int8: n_in=%lld (need a positive multiple of 32), n_tokens=%lld (need <= %lld)",
                          static_cast<long long>(a.n_in), static_cast<long long>(a.n_tokens),
                          static_cast<long long>(kMatvecMaxTokens));
    }
    if (a.x == nullptr || reinterpret_cast<uintptr_t>(a.x) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument, "quantize_x_int8: x null or not 16-byte aligned");
    }
    const int64_t n_elems = a.n_tokens * a.n_in;
    const size_t need = int8_x_size_bytes(n_elems);
    if (a.scratch == nullptr || a.scratch_size_bytes < need || reinterpret_cast<uintptr_t>(a.scratch) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "quantize_x_int8: scratch of %zu bytes at %p; need %zu bytes, 16-byte aligned",
                          a.scratch_size_bytes, a.scratch, need);
    }
    switch (a.x_dtype) {
        case DType::kF32: return launch_quantize_x(static_cast<const float*>(a.x), n_elems, a.scratch, stream);
        case DType::kBF16: return launch_quantize_x(static_cast<const __nv_bfloat16*>(a.x), n_elems, a.scratch, stream);
        default:
            return make_error(ErrorCode::kUnimplemented, "quantize_x_int8: x of %s, expected f32 or bf16",
                              tensor::dtype_name(a.x_dtype));
    }
}

namespace {

// matvec's argument checks (n_tokens != 0).
Status check_matvec_args(const MatvecArgs& a) {
    if (a.n_in <= 0 || a.n_out <= 0 || a.n_tokens < 0) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: bad sizes n_in=%lld n_out=%lld n_tokens=%lld",
                          static_cast<long long>(a.n_in), static_cast<long long>(a.n_out),
                          static_cast<long long>(a.n_tokens));
    }
    if (a.w == nullptr || a.x == nullptr || a.y == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: null pointer");
    }
    if (!has_matvec_kernel(a.w_dtype)) {
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
    if (reinterpret_cast<uintptr_t>(a.w) % 2 != 0) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: weights not 2-byte aligned");
    }
    if (reinterpret_cast<uintptr_t>(a.x) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument, "matvec: x not 16-byte aligned");
    }
    if (a.w_layout == WeightLayout::kQ4_0Split
        && (a.w_dtype != DType::kQ4_0 || a.scratch == nullptr || reinterpret_cast<uintptr_t>(a.w) % 16 != 0)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "matvec: split layout needs q4_0 weights (got %s), 16-byte aligned, and scratch",
                          tensor::dtype_name(a.w_dtype));
    }
    if (a.is_x_quantized && uses_dp4a(a.w_dtype) && (a.scratch == nullptr || a.n_tokens > kMatvecMaxTokens)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "matvec: is_x_quantized needs scratch holding x and n_tokens <= %lld (got %lld)",
                          static_cast<long long>(kMatvecMaxTokens), static_cast<long long>(a.n_tokens));
    }
    if (a.scratch != nullptr && uses_dp4a(a.w_dtype)) {
        const size_t need = matvec_scratch_size_bytes(a);
        if (a.scratch_size_bytes < need || reinterpret_cast<uintptr_t>(a.scratch) % 16 != 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              "matvec: scratch of %zu bytes at %p; need %zu bytes, 16-byte aligned",
                              a.scratch_size_bytes, a.scratch, need);
        }
    }
    return Status();
}

}  // namespace

Status matvec(const MatvecArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    GANNET_RETURN_IF_ERROR(check_matvec_args(a));
    // Vector x loads need 16-byte aligned token rows; every supported n_in keeps that when x is aligned,
    // except f16/bf16 weights with an odd-sized row, which use the scalar path anyway.
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kMatvecMaxTokens) {
        const int n_tok = static_cast<int>(a.n_tokens - t0 < kMatvecMaxTokens ? a.n_tokens - t0 : kMatvecMaxTokens);
        float* y = a.y + t0 * a.n_out;
        const RowSet rows = one_row_set(a.w, y, a.n_out);
        if (a.x_dtype == DType::kF32) {
            GANNET_RETURN_IF_ERROR(
                dispatch_weights(a, rows, static_cast<const float*>(a.x) + t0 * a.n_in, y, n_tok, stream));
        } else {
            GANNET_RETURN_IF_ERROR(
                dispatch_weights(a, rows, static_cast<const __nv_bfloat16*>(a.x) + t0 * a.n_in, y, n_tok, stream));
        }
    }
    return Status();
}

Status matvec_group(const MatvecGroupArgs& a, cudaStream_t stream) {
    if (a.n_entries < 1 || a.n_entries > kMatvecMaxGroup) {
        return make_error(ErrorCode::kInvalidArgument, "matvec_group: %d entries, expected 1..%d", a.n_entries,
                          kMatvecMaxGroup);
    }
    if (a.n_tokens == 0) {
        return Status();
    }
    MatvecArgs each[kMatvecMaxGroup];
    for (int e = 0; e < a.n_entries; ++e) {
        const MatvecGroupEntry& g = a.entries[e];
        each[e] = {.w = g.w,
                   .w_dtype = g.w_dtype,
                   .w_layout = g.w_layout,
                   .n_in = a.n_in,
                   .n_out = g.n_out,
                   .n_tokens = a.n_tokens,
                   .x = a.x,
                   .x_dtype = a.x_dtype,
                   .y = g.y,
                   .scratch = a.scratch,
                   .scratch_size_bytes = a.scratch_size_bytes,
                   .is_x_quantized = a.is_x_quantized};
        GANNET_RETURN_IF_ERROR(check_matvec_args(each[e]));
    }
    // One launch when every entry takes the same grouped kernel: Q4_0 / Q8_0 on the int8 path (same
    // layout), or F16 / BF16 with the same unit; otherwise (and for more than one chunk of tokens)
    // one matvec per entry, which is what the grouped kernel computes row by row anyway.
    const MatvecArgs& first = each[0];
    const DType dt = first.w_dtype;
    const auto row_bytes = static_cast<int64_t>(tensor::row_size_bytes(dt, a.n_in));
    bool is_grouped = a.n_entries > 1 && a.n_tokens <= kMatvecMaxTokens
                      && (((dt == DType::kQ4_0 || dt == DType::kQ8_0) && a.scratch != nullptr) || dt == DType::kF16
                          || dt == DType::kBF16);
    for (int e = 1; e < a.n_entries && is_grouped; ++e) {
        is_grouped = each[e].w_dtype == dt && each[e].w_layout == first.w_layout
                     && uses_half_units(each[e].w, row_bytes, a.n_in) == uses_half_units(first.w, row_bytes, a.n_in);
    }
    if (!is_grouped) {
        for (int e = 0; e < a.n_entries; ++e) {
            GANNET_RETURN_IF_ERROR(matvec(each[e], stream));
        }
        return Status();
    }
    RowSet rows = one_row_set(first.w, first.y, first.n_out);
    int64_t end = 0;
    for (int e = 0; e < kMatvecMaxGroup; ++e) {
        const MatvecArgs& m = each[e < a.n_entries ? e : a.n_entries - 1];
        if (e < a.n_entries) {
            end += m.n_out;
        }
        rows.w[e] = static_cast<const uint8_t*>(m.w);
        rows.y[e] = m.y;
        rows.n_out[e] = m.n_out;
        rows.end[e] = end;
    }
    const int n_tok = static_cast<int>(a.n_tokens);
    if (a.x_dtype == DType::kF32) {
        return dispatch_weights(first, rows, static_cast<const float*>(a.x), first.y, n_tok, stream);
    }
    return dispatch_weights(first, rows, static_cast<const __nv_bfloat16*>(a.x), first.y, n_tok, stream);
}

}  // namespace gannet::kernels::cuda
