// Prefill matrix products: convert, then cublasGemmEx (tensor cores, f32 accumulation).
// Row-major y[n_tokens, n_out] is column-major Yᵀ (n_out x n_tokens); with W row-major [n_out, n_in]
// read as column-major (n_in x n_out) and transposed, Yᵀ = W · xᵀ is one GEMM with m = rows of the
// tile, n = n_tokens, k = n_in.
// Napkin math (Llama-3-8B layer, 512 tokens, H100): the GEMMs are 2·512·218M = 223 GFLOP, ~0.4 ms at
// ~600 TFLOP/s. Dequantizing Q4_0 reads 0.56 B/weight and writes 2 B/weight: 560 MB, ~0.2 ms at
// ~2.5 TB/s, as long as every store is a coalesced 16-byte store. The first version wrote 32 scalar
// bf16 per thread at a 64-byte stride across the warp and ran at ~200 GB/s, which made Q4_0/Q8_0
// prefill 2.7x slower than F16; it also cut W into 4096-row tiles (4 cuBLAS calls for w_gate).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/dequantize.h"
#include "kernels/cuda/gemm.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

constexpr int kBlock = 256;

// Weights that go to cuBLAS through a bf16 tile: every block type with a device decoder
// (dequantize.h). Q4_0 and Q8_0, the common prefill types, use the specialised kernel below.
bool is_tiled(DType t) {
    return t != DType::kF16 && t != DType::kBF16;
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
    return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void convert_kernel(const float* __restrict__ x, T* __restrict__ out, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        out[i] = from_float<T>(x[i]);
    }
}

// Four floats per thread: one 16-byte load, one 8-byte store. REQUIRES: x 16-byte and out 8-byte aligned.
template <typename T>
__global__ void convert4_kernel(const float4* __restrict__ x, T* __restrict__ out, int64_t n4) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float4 v = x[i];
        struct alignas(8) Four {
            T e[4];
        } o;
        o.e[0] = from_float<T>(v.x);
        o.e[1] = from_float<T>(v.y);
        o.e[2] = from_float<T>(v.z);
        o.e[3] = from_float<T>(v.w);
        reinterpret_cast<Four*>(out)[i] = o;
    }
}

__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    const __nv_bfloat162 p = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&p);
}

// One thread per 8 consecutive output weights, so a warp stores 512 contiguous bytes with 16-byte
// stores. Q4_0 block (18 bytes: f16 d, 16 bytes of nibbles): weight i < 16 is the low nibble of
// qs[i], weight i >= 16 the high nibble of qs[i - 16]; chunk c of a block (weights 8c..8c+7) reads
// qs[(c & 1) * 8 ..] shifted by (c >> 1) * 4. Q8_0 block (34 bytes: f16 d, 32 int8): chunk c reads
// qs[8c ..]. Blocks are only 2-byte aligned, so quants load as four 16-bit words (through L1: the
// four threads of a block share its lines).
template <bool kIsQ4>
__global__ void dequantize_kernel(const uint8_t* __restrict__ w, uint4* __restrict__ out, int64_t n_chunks) {
    constexpr int kBytes = kIsQ4 ? 18 : 34;
    for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < n_chunks;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t b = c >> 2;
        const int sub = static_cast<int>(c & 3);
        const auto* p = reinterpret_cast<const uint16_t*>(w + b * kBytes);
        const float d = half_bits_to_float(__ldg(p));
        const int word0 = kIsQ4 ? 1 + (sub & 1) * 4 : 1 + sub * 4;  // in 16-bit words from the block start
        uint32_t bytes[2];
        bytes[0] = static_cast<uint32_t>(__ldg(p + word0)) | (static_cast<uint32_t>(__ldg(p + word0 + 1)) << 16);
        bytes[1] = static_cast<uint32_t>(__ldg(p + word0 + 2)) | (static_cast<uint32_t>(__ldg(p + word0 + 3)) << 16);
        float q[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const uint32_t byte = (bytes[i / 4] >> (8 * (i % 4))) & 0xffu;
            if constexpr (kIsQ4) {
                q[i] = static_cast<float>(static_cast<int>((byte >> ((sub >> 1) * 4)) & 15u) - 8);
            } else {
                q[i] = static_cast<float>(static_cast<int8_t>(static_cast<uint8_t>(byte)));
            }
        }
        uint4 o;
        o.x = pack_bf16x2(d * q[0], d * q[1]);
        o.y = pack_bf16x2(d * q[2], d * q[3]);
        o.z = pack_bf16x2(d * q[4], d * q[5]);
        o.w = pack_bf16x2(d * q[6], d * q[7]);
        out[c] = o;
    }
}

// dequantize_kernel<true> for WeightLayout::kQ4_0Split: the same chunks and values (so the same
// bf16 tile), the nibbles as one aligned 8-byte load from the qs array and d from the scale array.
// qs and d point at the tile's first row.
__global__ void dequantize_q4_0_split_kernel(const uint8_t* __restrict__ qs, const uint16_t* __restrict__ d_of_block,
                                             uint4* __restrict__ out, int64_t n_chunks) {
    for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < n_chunks;
         c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t b = c >> 2;
        const int sub = static_cast<int>(c & 3);
        const float d = half_bits_to_float(__ldg(d_of_block + b));
        const uint2 v = __ldg(reinterpret_cast<const uint2*>(qs + b * 16 + (sub & 1) * 8));
        const uint32_t bytes[2] = {v.x, v.y};
        float q[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const uint32_t byte = (bytes[i / 4] >> (8 * (i % 4))) & 0xffu;
            q[i] = static_cast<float>(static_cast<int>((byte >> ((sub >> 1) * 4)) & 15u) - 8);
        }
        uint4 o;
        o.x = pack_bf16x2(d * q[0], d * q[1]);
        o.y = pack_bf16x2(d * q[2], d * q[3]);
        o.z = pack_bf16x2(d * q[4], d * q[5]);
        o.w = pack_bf16x2(d * q[6], d * q[7]);
        out[c] = o;
    }
}

unsigned grid_for(int64_t n) {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    // Grid-stride loops cover the rest; 65535 x 256 threads keep every SM busy many times over.
    return static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
}

size_t x_bytes_aligned(const GemmArgs& a) {
    return (static_cast<size_t>(a.n_tokens) * static_cast<size_t>(a.n_in) * 2 + 255) / 256 * 256;
}

int64_t tile_rows_of(const GemmArgs& a) {
    const int64_t rows = a.tile_rows > 0 ? a.tile_rows : gemm_default_tile_rows(a.n_in);
    return rows < a.n_out ? rows : a.n_out;
}

// x (f32) into the first bytes of scratch as f16 or bf16.
Status convert_x(const GemmArgs& a, bool is_f16, cudaStream_t stream) {
    const int64_t n_x = a.n_tokens * a.n_in;
    const bool can_vec = n_x % 4 == 0 && reinterpret_cast<uintptr_t>(a.x) % 16 == 0;
    if (can_vec) {
        const auto* x4 = reinterpret_cast<const float4*>(a.x);
        if (is_f16) {
            convert4_kernel<<<grid_for(n_x / 4), kBlock, 0, stream>>>(x4, static_cast<__half*>(a.scratch), n_x / 4);
        } else {
            convert4_kernel<<<grid_for(n_x / 4), kBlock, 0, stream>>>(x4, static_cast<__nv_bfloat16*>(a.scratch),
                                                                      n_x / 4);
        }
    } else if (is_f16) {
        convert_kernel<<<grid_for(n_x), kBlock, 0, stream>>>(a.x, static_cast<__half*>(a.scratch), n_x);
    } else {
        convert_kernel<<<grid_for(n_x), kBlock, 0, stream>>>(a.x, static_cast<__nv_bfloat16*>(a.scratch), n_x);
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "gemm convert launch");
}

Status check_args(const GemmArgs& a) {
    if (a.n_in <= 0 || a.n_out <= 0 || a.n_tokens < 0 || a.n_in > INT32_MAX || a.n_out > INT32_MAX
        || a.n_tokens > INT32_MAX || a.tile_rows < 0) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: bad sizes n_in=%lld n_out=%lld n_tokens=%lld tile_rows=%lld",
                          static_cast<long long>(a.n_in), static_cast<long long>(a.n_out),
                          static_cast<long long>(a.n_tokens), static_cast<long long>(a.tile_rows));
    }
    if (a.w == nullptr || a.x == nullptr || a.y == nullptr || a.cublas == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: null pointer or cublas handle");
    }
    const DType wt = a.w_dtype;
    // F32 weights are left to cublasSgemm by the caller: through bf16 they would silently lose precision.
    if (wt == DType::kF32 || !has_device_decoder(wt)) {
        return make_error(ErrorCode::kUnimplemented, "gemm: no cuda kernel for weights of %s", tensor::dtype_name(wt));
    }
    if (a.n_in % tensor::block_size(wt) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: n_in=%lld is not a multiple of %lld for %s",
                          static_cast<long long>(a.n_in), static_cast<long long>(tensor::block_size(wt)),
                          tensor::dtype_name(wt));
    }
    if (a.w_layout == WeightLayout::kQ4_0Split && (wt != DType::kQ4_0 || reinterpret_cast<uintptr_t>(a.w) % 16 != 0)) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: split layout needs 16-byte aligned q4_0 weights, got %s",
                          tensor::dtype_name(wt));
    }
    const size_t need = gemm_scratch_size_bytes(a);
    if (a.scratch == nullptr || a.scratch_size_bytes < need) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: scratch of %zu bytes, expected at least %zu",
                          a.scratch_size_bytes, need);
    }
    if (reinterpret_cast<uintptr_t>(a.scratch) % 256 != 0) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: scratch is not 256-byte aligned");
    }
    return Status();
}

}  // namespace

int64_t gemm_default_tile_rows(int64_t n_in) {
    if (n_in <= 0) {
        return 128;
    }
    const int64_t rows = kGemmTileElems / n_in / 128 * 128;
    return rows > 128 ? rows : 128;
}

size_t gemm_scratch_size_bytes(const GemmArgs& a) {
    size_t bytes = x_bytes_aligned(a);
    if (is_tiled(a.w_dtype) && a.n_out > 0 && a.n_in > 0) {
        bytes += static_cast<size_t>(tile_rows_of(a)) * static_cast<size_t>(a.n_in) * 2;
    }
    return bytes;
}

Status gemm(const GemmArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    GANNET_RETURN_IF_ERROR(check_args(a));
    GANNET_RETURN_IF_ERROR(cublas_status(cublasSetStream(a.cublas, stream), "cublasSetStream"));

    // f16 weights multiply f16 activations; everything else meets in bf16.
    const DType wt = a.w_dtype;
    const bool is_f16 = wt == DType::kF16;
    const cudaDataType_t ab_type = is_f16 ? CUDA_R_16F : CUDA_R_16BF;
    GANNET_RETURN_IF_ERROR(convert_x(a, is_f16, stream));
    auto* tile = reinterpret_cast<uint4*>(static_cast<uint8_t*>(a.scratch) + x_bytes_aligned(a));

    const float alpha = 1.0f;
    const float beta = 0.0f;
    const size_t row_bytes = tensor::row_size_bytes(wt, a.n_in);
    const bool is_dequantized = is_tiled(wt);
    // 16-bit weights go to cuBLAS as they are, in one call.
    const int64_t tile_rows = is_dequantized ? tile_rows_of(a) : a.n_out;
    for (int64_t r0 = 0; r0 < a.n_out; r0 += tile_rows) {
        const int64_t rows = a.n_out - r0 < tile_rows ? a.n_out - r0 : tile_rows;
        const auto* w_rows = static_cast<const uint8_t*>(a.w) + static_cast<size_t>(r0) * row_bytes;
        const void* a_ptr = w_rows;
        if (is_dequantized) {
            if (reinterpret_cast<uintptr_t>(w_rows) % 2 != 0) {
                return make_error(ErrorCode::kInvalidArgument, "gemm: quantized weights are not 2-byte aligned");
            }
            const int64_t n_chunks = rows * a.n_in / 8;  // Q4_0/Q8_0: n_in is a multiple of 32
            if (a.w_layout == WeightLayout::kQ4_0Split) {
                const int64_t nb = a.n_in / 32;
                const auto* base = static_cast<const uint8_t*>(a.w);
                const auto* d_of_block = reinterpret_cast<const uint16_t*>(base + a.n_out * nb * 16) + r0 * nb;
                dequantize_q4_0_split_kernel<<<grid_for(n_chunks), kBlock, 0, stream>>>(base + r0 * nb * 16, d_of_block,
                                                                                        tile, n_chunks);
                GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "gemm dequantize launch"));
            } else if (wt == DType::kQ4_0) {
                dequantize_kernel<true><<<grid_for(n_chunks), kBlock, 0, stream>>>(w_rows, tile, n_chunks);
                GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "gemm dequantize launch"));
            } else if (wt == DType::kQ8_0) {
                dequantize_kernel<false><<<grid_for(n_chunks), kBlock, 0, stream>>>(w_rows, tile, n_chunks);
                GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "gemm dequantize launch"));
            } else {
                GANNET_RETURN_IF_ERROR(dequantize_rows(wt, w_rows, tile, rows, a.n_in, stream));
            }
            a_ptr = tile;
        }
        GANNET_RETURN_IF_ERROR(cublas_status(
            cublasGemmEx(a.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(a.n_tokens),
                         static_cast<int>(a.n_in), &alpha, a_ptr, ab_type, static_cast<int>(a.n_in), a.scratch, ab_type,
                         static_cast<int>(a.n_in), &beta, a.y + r0, CUDA_R_32F, static_cast<int>(a.n_out),
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx"));
    }
    return Status();
}

}  // namespace gannet::kernels::cuda
