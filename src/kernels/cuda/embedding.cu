// One block per token, threads over the row's elements: a row is a few KB, read once.
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/embedding.h"
#include "tensor/quant.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

template <DType kType>
__device__ __forceinline__ float element(const uint8_t* row, int64_t i) {
    if constexpr (kType == DType::kF32) {
        return reinterpret_cast<const float*>(row)[i];
    } else if constexpr (kType == DType::kF16) {
        return half_bits_to_float(reinterpret_cast<const uint16_t*>(row)[i]);
    } else if constexpr (kType == DType::kBF16) {
        return bf16_bits_to_float(reinterpret_cast<const uint16_t*>(row)[i]);
    } else if constexpr (kType == DType::kQ4_0) {
        const uint8_t* b = row + (i / 32) * 18;
        const int j = static_cast<int>(i % 32);
        const int byte = b[2 + (j & 15)];
        const int q = (j < 16 ? (byte & 15) : (byte >> 4)) - 8;
        return half_bits_to_float(static_cast<uint16_t>(b[0] | (b[1] << 8))) * static_cast<float>(q);
    } else {
        const uint8_t* b = row + (i / 32) * 34;
        const int q = static_cast<int8_t>(b[2 + i % 32]);
        return half_bits_to_float(static_cast<uint16_t>(b[0] | (b[1] << 8))) * static_cast<float>(q);
    }
}

template <DType kType>
__global__ void embedding_kernel(const uint8_t* __restrict__ table, size_t row_bytes, int64_t n_vocab, int64_t dim,
                                 const int32_t* __restrict__ tokens, float* __restrict__ out) {
    const int32_t tok = tokens[blockIdx.x];
    float* o = out + blockIdx.x * dim;
    const bool is_valid = tok >= 0 && tok < n_vocab;
    const uint8_t* row = table + (is_valid ? static_cast<size_t>(tok) : 0) * row_bytes;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        o[i] = is_valid ? element<kType>(row, i) : NAN;
    }
}

// Other block types (Q4_1, Q5_x, Q2_K..Q6_K): threads over groups of 8 elements decoded by dequant8
// (dequantize.cuh); dim is a whole number of blocks, so a multiple of 32.
template <DType kType>
__global__ void embedding_block_kernel(const uint8_t* __restrict__ table, size_t row_bytes, int64_t n_vocab,
                                       int64_t dim, const int32_t* __restrict__ tokens, float* __restrict__ out) {
    const int32_t tok = tokens[blockIdx.x];
    float* o = out + blockIdx.x * dim;
    const bool is_valid = tok >= 0 && tok < n_vocab;
    const uint8_t* row = table + (is_valid ? static_cast<size_t>(tok) : 0) * row_bytes;
    for (int64_t e = 8 * static_cast<int64_t>(threadIdx.x); e < dim; e += 8 * static_cast<int64_t>(blockDim.x)) {
        float v[8];
        dequant8<kType>(row, e, v);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            o[e + i] = is_valid ? v[i] : NAN;
        }
    }
}

}  // namespace

Status embedding(const EmbeddingArgs& a, cudaStream_t stream) {
    if (a.n_tokens == 0) {
        return Status();
    }
    if (a.n_tokens < 0 || a.n_tokens > INT32_MAX || a.n_vocab <= 0 || a.dim <= 0 || a.table == nullptr
        || a.tokens == nullptr || a.out == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "embedding: bad args n_tokens=%lld n_vocab=%lld dim=%lld",
                          static_cast<long long>(a.n_tokens), static_cast<long long>(a.n_vocab),
                          static_cast<long long>(a.dim));
    }
    if (a.dim % tensor::block_size(a.dtype) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "embedding: dim=%lld is not a multiple of %lld for %s",
                          static_cast<long long>(a.dim), static_cast<long long>(tensor::block_size(a.dtype)),
                          tensor::dtype_name(a.dtype));
    }
    const auto* t = static_cast<const uint8_t*>(a.table);
    const auto n = static_cast<unsigned>(a.n_tokens);
    constexpr int kBlock = 256;
    const size_t rb = tensor::row_size_bytes(a.dtype, a.dim);
    switch (a.dtype) {
        case DType::kF32:
            embedding_kernel<DType::kF32><<<n, kBlock, 0, stream>>>(t, rb, a.n_vocab, a.dim, a.tokens, a.out);
            break;
        case DType::kF16:
            embedding_kernel<DType::kF16><<<n, kBlock, 0, stream>>>(t, rb, a.n_vocab, a.dim, a.tokens, a.out);
            break;
        case DType::kBF16:
            embedding_kernel<DType::kBF16><<<n, kBlock, 0, stream>>>(t, rb, a.n_vocab, a.dim, a.tokens, a.out);
            break;
        case DType::kQ4_0:
            embedding_kernel<DType::kQ4_0><<<n, kBlock, 0, stream>>>(t, rb, a.n_vocab, a.dim, a.tokens, a.out);
            break;
        case DType::kQ8_0:
            embedding_kernel<DType::kQ8_0><<<n, kBlock, 0, stream>>>(t, rb, a.n_vocab, a.dim, a.tokens, a.out);
            break;
        case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ2_K: case DType::kQ3_K:
        case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
            visit_block_dtype(a.dtype, [&](auto tag) {
                embedding_block_kernel<decltype(tag)::value><<<n, kBlock, 0, stream>>>(t, rb, a.n_vocab, a.dim,
                                                                                         a.tokens, a.out);
            });
            break;
        default:
            return make_error(ErrorCode::kUnimplemented, "embedding: no cuda kernel for %s",
                              tensor::dtype_name(a.dtype));
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "embedding launch");
}

}  // namespace gannet::kernels::cuda
