// One 256-thread block per row; three passes over the row (max, sum of exp, scale), the later two
// from L1/L2 for rows up to a vocabulary (128256 floats = 500 KB, in L2).
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/softmax.h"

namespace gannet::kernels::cuda {
namespace {

__global__ void softmax_kernel(float* x, int64_t n_cols) {
    __shared__ float scratch[32];
    float* row = x + blockIdx.x * n_cols;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n_cols; i += blockDim.x) {
        m = fmaxf(m, row[i]);
    }
    m = warp_max(m);
    __syncthreads();
    if (threadIdx.x % 32 == 0) {
        scratch[threadIdx.x / 32] = m;
    }
    __syncthreads();
    m = threadIdx.x % 32 < blockDim.x / 32 ? scratch[threadIdx.x % 32] : -INFINITY;
    m = warp_max(m);
    if (m == -INFINITY) {  // all -inf: defined as zeros, like the CPU op
        for (int64_t i = threadIdx.x; i < n_cols; i += blockDim.x) {
            row[i] = 0.0f;
        }
        return;
    }
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n_cols; i += blockDim.x) {
        const float e = expf(row[i] - m);
        row[i] = e;
        s += e;
    }
    s = block_sum(s, scratch);
    const float inv = 1.0f / s;
    for (int64_t i = threadIdx.x; i < n_cols; i += blockDim.x) {
        row[i] *= inv;
    }
}

}  // namespace

Status softmax(const SoftmaxArgs& a, cudaStream_t stream) {
    if (a.n_rows == 0) {
        return Status();
    }
    if (a.n_rows < 0 || a.n_rows > INT32_MAX || a.n_cols <= 0 || a.x == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "softmax: bad args n_rows=%lld n_cols=%lld",
                          static_cast<long long>(a.n_rows), static_cast<long long>(a.n_cols));
    }
    constexpr int kBlock = 256;
    softmax_kernel<<<static_cast<unsigned>(a.n_rows), kBlock, 0, stream>>>(a.x, a.n_cols);
    return gannet::cuda::cuda_status(cudaGetLastError(), "softmax launch");
}

}  // namespace gannet::kernels::cuda
