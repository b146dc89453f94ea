#include <cmath>

#include "base/cuda/cuda_status.h"
#include "base/result.h"
#include "kernels/cuda/elementwise.h"

namespace gannet::kernels::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    return static_cast<int>(b < 65535 * 16 ? b : 65535 * 16);
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] *= s;
    }
}

__global__ void add_bias_kernel(float* x, const float* b, int64_t n, int64_t dim) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] += b[i % dim];
    }
}

__global__ void softcap_kernel(float* x, float cap, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        x[i] = cap * tanhf(x[i] / cap);
    }
}

Status launched(const char* what) {
    return gannet::cuda::cuda_status(cudaGetLastError(), what);
}

}  // namespace

Status scale(float* x, float s, int64_t n, cudaStream_t stream) {
    if (n <= 0) {
        return Status();
    }
    scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, s, n);
    return launched("scale");
}

Status add_bias(float* x, const float* b, int64_t n_rows, int64_t dim, cudaStream_t stream) {
    const int64_t n = n_rows * dim;
    if (n <= 0) {
        return Status();
    }
    add_bias_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, b, n, dim);
    return launched("add_bias");
}

Status softcap(float* x, float cap, int64_t n, cudaStream_t stream) {
    if (n <= 0) {
        return Status();
    }
    softcap_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, cap, n);
    return launched("softcap");
}

}  // namespace gannet::kernels::cuda
