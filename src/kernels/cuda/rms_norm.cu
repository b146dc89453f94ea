// One 256-thread block per row: each element is read twice (the second read hits L1/L2) and written
// once, so the op is bandwidth-bound; 256 threads leave room for several blocks per SM.
#include "base/cuda/cuda_status.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/rms_norm.h"

namespace gannet::kernels::cuda {
namespace {

__global__ void rms_norm_kernel(const float* x, const float* __restrict__ w, float* out, int64_t dim, float eps) {
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
        orow[i] = xr[i] * inv * w[i];
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
    rms_norm_kernel<<<static_cast<unsigned>(a.n_rows), kBlock, 0, stream>>>(a.x, a.w, a.out, a.dim, a.eps);
    return gannet::cuda::cuda_status(cudaGetLastError(), "rms_norm launch");
}

}  // namespace gannet::kernels::cuda
