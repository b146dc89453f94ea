// One thread per 8 consecutive weights: dequant8 (dequantize.cuh) decodes them with one scale, and
// the thread writes 8 bf16 as one 16-byte store. Memory-bound and simple; consecutive threads walk
// consecutive elements so both the block reads and the bf16 writes coalesce.
#include <cuda_bf16.h>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/dequantize.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

template <DType kType>
__global__ void __launch_bounds__(256)
    dequantize_rows_kernel(const uint8_t* __restrict__ src, uint4* __restrict__ dst, int64_t row_bytes,
                           int64_t n_in, int64_t n_groups) {
    const int64_t groups_per_row = n_in / 8;
    for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < n_groups;
         g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = g / groups_per_row;
        const int64_t e = (g % groups_per_row) * 8;
        float v[8];
        dequant8<kType>(src + r * row_bytes, e, v);
        uint32_t packed[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const __nv_bfloat162 h = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);  // .x = low half
            packed[i] = *reinterpret_cast<const uint32_t*>(&h);
        }
        dst[g] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    }
}

}  // namespace

bool has_device_decoder(DType dtype) {
    return visit_block_dtype(dtype, [](auto) {});
}

Status dequantize_rows(DType dtype, const void* src, void* dst_bf16, int64_t n_rows, int64_t n_in,
                       cudaStream_t stream) {
    if (!has_device_decoder(dtype)) {
        return make_error(ErrorCode::kUnimplemented, "dequantize_rows: no cuda decoder for %s",
                          tensor::dtype_name(dtype));
    }
    if (n_rows < 0 || n_in <= 0) {
        return make_error(ErrorCode::kInvalidArgument, "dequantize_rows: bad sizes n_rows=%lld n_in=%lld",
                          static_cast<long long>(n_rows), static_cast<long long>(n_in));
    }
    if (n_in % tensor::block_size(dtype) != 0 || n_in % 8 != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "dequantize_rows: n_in=%lld is not a multiple of 8 and of the %s block (%lld)",
                          static_cast<long long>(n_in), tensor::dtype_name(dtype),
                          static_cast<long long>(tensor::block_size(dtype)));
    }
    if (n_rows == 0) {
        return Status();
    }
    if (src == nullptr || dst_bf16 == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "dequantize_rows: null pointer");
    }
    const uintptr_t src_align = dtype == DType::kF32 ? 4 : 2;
    if (reinterpret_cast<uintptr_t>(src) % src_align != 0 || reinterpret_cast<uintptr_t>(dst_bf16) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument, "dequantize_rows: misaligned src or dst");
    }
    const auto row_bytes = static_cast<int64_t>(tensor::row_size_bytes(dtype, n_in));
    const int64_t n_groups = n_rows * (n_in / 8);
    constexpr int kBlock = 256;
    const int64_t want = (n_groups + kBlock - 1) / kBlock;
    const auto n_blocks = static_cast<unsigned>(want < 65536 * 8 ? want : 65536 * 8);  // grid-stride beyond
    const auto* s = static_cast<const uint8_t*>(src);
    auto* d = static_cast<uint4*>(dst_bf16);
    visit_block_dtype(dtype, [&](auto tag) {
        dequantize_rows_kernel<decltype(tag)::value><<<n_blocks, kBlock, 0, stream>>>(s, d, row_bytes, n_in, n_groups);
    });
    return gannet::cuda::cuda_status(cudaGetLastError(), "dequantize_rows launch");
}

}  // namespace gannet::kernels::cuda
