// Prefill matrix products: convert, then cublasGemmEx (tensor cores, f32 accumulation).
// Row-major y[n_tokens, n_out] is column-major Yᵀ (n_out x n_tokens); with W row-major [n_out, n_in]
// read as column-major (n_in x n_out) and transposed, Yᵀ = W · xᵀ is one GEMM with m = rows of the
// tile, n = n_tokens, k = n_in. Converting x costs one pass over it; dequantizing a W tile costs one
// read of the quantized bytes and one bf16 write + read: for 512 tokens that is small next to the
// 2·512·n_in·n_out flops.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/gemm.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

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

// One thread per 32-weight block of a tile of rows starting at w (row-major, n_in per row).
template <bool kIsQ4>
__global__ void dequantize_kernel(const uint8_t* __restrict__ w, __nv_bfloat16* __restrict__ out, int64_t n_blocks) {
    constexpr int kBytes = kIsQ4 ? 18 : 34;
    for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < n_blocks;
         b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const uint8_t* p = w + b * kBytes;
        const float d = half_bits_to_float(static_cast<uint16_t>(p[0] | (p[1] << 8)));
        __nv_bfloat16* o = out + b * 32;
        for (int i = 0; i < 32; ++i) {
            float q;
            if constexpr (kIsQ4) {
                const int byte = p[2 + (i & 15)];
                q = static_cast<float>((i < 16 ? (byte & 15) : (byte >> 4)) - 8);
            } else {
                q = static_cast<float>(static_cast<int8_t>(p[2 + i]));
            }
            o[i] = __float2bfloat16_rn(d * q);
        }
    }
}

unsigned grid_for(int64_t n, int block) {
    const int64_t blocks = (n + block - 1) / block;
    return static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
}

}  // namespace

size_t gemm_scratch_size_bytes(const GemmArgs& a) {
    size_t bytes = static_cast<size_t>(a.n_tokens) * static_cast<size_t>(a.n_in) * 2;
    bytes = (bytes + 255) / 256 * 256;
    if (tensor::is_quantized(a.w_dtype)) {
        const int64_t rows = a.n_out < kGemmRowTile ? a.n_out : kGemmRowTile;
        bytes += static_cast<size_t>(rows) * static_cast<size_t>(a.n_in) * 2;
    }
    return bytes;
}

Status gemm(const GemmArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    if (a.n_in <= 0 || a.n_out <= 0 || a.n_tokens < 0 || a.n_in > INT32_MAX || a.n_out > INT32_MAX
        || a.n_tokens > INT32_MAX) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: bad sizes n_in=%lld n_out=%lld n_tokens=%lld",
                          static_cast<long long>(a.n_in), static_cast<long long>(a.n_out),
                          static_cast<long long>(a.n_tokens));
    }
    if (a.w == nullptr || a.x == nullptr || a.y == nullptr || a.cublas == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: null pointer or cublas handle");
    }
    const DType wt = a.w_dtype;
    if (wt != DType::kQ4_0 && wt != DType::kQ8_0 && wt != DType::kF16 && wt != DType::kBF16) {
        return make_error(ErrorCode::kUnimplemented, "gemm: no cuda kernel for weights of %s", tensor::dtype_name(wt));
    }
    if (a.n_in % tensor::block_size(wt) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: n_in=%lld is not a multiple of %lld for %s",
                          static_cast<long long>(a.n_in), static_cast<long long>(tensor::block_size(wt)),
                          tensor::dtype_name(wt));
    }
    const size_t need = gemm_scratch_size_bytes(a);
    if (a.scratch == nullptr || a.scratch_size_bytes < need) {
        return make_error(ErrorCode::kInvalidArgument, "gemm: scratch of %zu bytes, expected at least %zu",
                          a.scratch_size_bytes, need);
    }
    GANNET_RETURN_IF_ERROR(cublas_status(cublasSetStream(a.cublas, stream), "cublasSetStream"));

    // f16 weights multiply f16 activations; everything else meets in bf16.
    const bool is_f16 = wt == DType::kF16;
    const cudaDataType_t ab_type = is_f16 ? CUDA_R_16F : CUDA_R_16BF;
    const int64_t n_x = a.n_tokens * a.n_in;
    constexpr int kBlock = 256;
    if (is_f16) {
        convert_kernel<<<grid_for(n_x, kBlock), kBlock, 0, stream>>>(a.x, static_cast<__half*>(a.scratch), n_x);
    } else {
        convert_kernel<<<grid_for(n_x, kBlock), kBlock, 0, stream>>>(a.x, static_cast<__nv_bfloat16*>(a.scratch), n_x);
    }
    GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "gemm convert launch"));
    const size_t x_bytes = (static_cast<size_t>(n_x) * 2 + 255) / 256 * 256;
    auto* tile = reinterpret_cast<__nv_bfloat16*>(static_cast<uint8_t*>(a.scratch) + x_bytes);

    const float alpha = 1.0f;
    const float beta = 0.0f;
    const size_t row_bytes = tensor::row_size_bytes(wt, a.n_in);
    for (int64_t r0 = 0; r0 < a.n_out; r0 += kGemmRowTile) {
        const int64_t rows = a.n_out - r0 < kGemmRowTile ? a.n_out - r0 : kGemmRowTile;
        const auto* w_rows = static_cast<const uint8_t*>(a.w) + static_cast<size_t>(r0) * row_bytes;
        const void* a_ptr = w_rows;
        if (tensor::is_quantized(wt)) {
            const int64_t n_blocks = rows * a.n_in / 32;
            if (wt == DType::kQ4_0) {
                dequantize_kernel<true><<<grid_for(n_blocks, kBlock), kBlock, 0, stream>>>(w_rows, tile, n_blocks);
            } else {
                dequantize_kernel<false><<<grid_for(n_blocks, kBlock), kBlock, 0, stream>>>(w_rows, tile, n_blocks);
            }
            GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "gemm dequantize launch"));
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
