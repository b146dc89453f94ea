// One 256-thread block per row: each element is read twice (the second read hits L1/L2) and written
// once, so the op is bandwidth-bound; 256 threads leave room for several blocks per SM. With
// quantized_out the same launch writes the int8 copy a following matvec reads (decode: saves the
// quantize-x launch of every product that reads this norm's output).
#include "base/cuda/cuda_status.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/int8_x.cuh"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/rms_norm.h"

namespace gannet::kernels::cuda {
namespace {

// kQuantize: each warp's 32 consecutive outputs are also one 32-block of the int8 copy (dim % 32 ==
// 0 keeps every loop trip warp-uniform, as quantize_block32's shuffles need).
template <bool kQuantize>
__global__ void rms_norm_kernel(const float* x, const float* __restrict__ w, float* out, int64_t dim, float eps,
                                int8_t* __restrict__ xq, float* __restrict__ xd) {
    __shared__ float scratch[32];
    const float* xr = x + blockIdx.x * dim;
    float* orow = out + blockIdx.x * dim;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        ss = fmaf(xr[i], xr[i], ss);
    }
    ss = block_sum(ss, scratch);
    const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
    // Every thread has read its elements before any writes (block_sum synchronizes), so out may alias x.
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        const float v = xr[i] * inv * w[i];
        orow[i] = v;
        if constexpr (kQuantize) {
            quantize_block32(v, (blockIdx.x * dim + i) / 32, xq, xd);
        }
    }
}

}  // namespace

Status rms_norm(const RmsNormArgs& a, cudaStream_t stream) {
    if (a.n_rows == 0) {
        return Status();
    }
    if (a.n_rows < 0 || a.n_rows > INT32_MAX || a.dim <= 0 || a.x == nullptr || a.w == nullptr || a.out == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "rms_norm: bad args n_rows=%lld dim=%lld",
                          static_cast<long long>(a.n_rows), static_cast<long long>(a.dim));
    }
    constexpr int kBlock = 256;
    const auto n_blocks = static_cast<unsigned>(a.n_rows);
    if (a.quantized_out == nullptr) {
        rms_norm_kernel<false><<<n_blocks, kBlock, 0, stream>>>(a.x, a.w, a.out, a.dim, a.eps, nullptr, nullptr);
        return gannet::cuda::cuda_status(cudaGetLastError(), "rms_norm launch");
    }
    const int64_t n_elems = a.n_rows * a.dim;
    const size_t need = int8_x_size_bytes(n_elems);
    if (a.dim % 32 != 0 || a.n_rows > kMatvecMaxTokens || a.quantized_out_size_bytes < need
        || reinterpret_cast<uintptr_t>(a.quantized_out) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "rms_norm: quantized_out of %zu bytes at %p for n_rows=%lld dim=%lld; need %zu bytes, "
                          "16-byte aligned, dim %% 32 == 0, n_rows <= %lld",
                          a.quantized_out_size_bytes, a.quantized_out, static_cast<long long>(a.n_rows),
                          static_cast<long long>(a.dim), need, static_cast<long long>(kMatvecMaxTokens));
    }
    auto* xq = static_cast<int8_t*>(a.quantized_out);
    auto* xd = reinterpret_cast<float*>(static_cast<uint8_t*>(a.quantized_out) + int8_x_xq_bytes(n_elems));
    rms_norm_kernel<true><<<n_blocks, kBlock, 0, stream>>>(a.x, a.w, a.out, a.dim, a.eps, xq, xd);
    return gannet::cuda::cuda_status(cudaGetLastError(), "rms_norm launch");
}

}  // namespace gannet::kernels::cuda
