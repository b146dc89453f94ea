// One 1024-thread block per row: 128256 logits are 500 KB, one pass; each thread keeps its best
// (value, index), then warps and the block reduce with "larger value, else smaller index".
#include <cmath>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/argmax.h"
#include "kernels/cuda/common.cuh"

namespace gannet::kernels::cuda {
namespace {

__device__ __forceinline__ void better(float& v, int32_t& i, float v2, int32_t i2) {
    if (i2 >= 0 && (i < 0 || v2 > v || (v2 == v && i2 < i))) {
        v = v2;
        i = i2;
    }
}

__global__ void argmax_kernel(const float* __restrict__ logits, int64_t n_vocab, int32_t* __restrict__ out) {
    __shared__ float s_val[32];
    __shared__ int32_t s_idx[32];
    const float* row = logits + blockIdx.x * n_vocab;
    float v = -INFINITY;
    int32_t idx = -1;
    for (int64_t j = threadIdx.x; j < n_vocab; j += blockDim.x) {
        const float x = row[j];
        if (!isnan(x)) {
            better(v, idx, x, static_cast<int32_t>(j));
        }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        better(v, idx, __shfl_xor_sync(kFullMask, v, off), __shfl_xor_sync(kFullMask, idx, off));
    }
    if (threadIdx.x % 32 == 0) {
        s_val[threadIdx.x / 32] = v;
        s_idx[threadIdx.x / 32] = idx;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        const bool has = threadIdx.x < blockDim.x / 32;
        v = has ? s_val[threadIdx.x] : -INFINITY;
        idx = has ? s_idx[threadIdx.x] : -1;
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            better(v, idx, __shfl_xor_sync(kFullMask, v, off), __shfl_xor_sync(kFullMask, idx, off));
        }
        if (threadIdx.x == 0) {
            out[blockIdx.x] = idx;
        }
    }
}

}  // namespace

Status argmax(const ArgmaxArgs& a, cudaStream_t stream) {
    if (a.n_rows == 0) {
        return Status();
    }
    if (a.n_rows < 0 || a.n_rows > INT32_MAX || a.n_vocab <= 0 || a.n_vocab > INT32_MAX || a.logits == nullptr
        || a.out == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "argmax: bad args n_rows=%lld n_vocab=%lld",
                          static_cast<long long>(a.n_rows), static_cast<long long>(a.n_vocab));
    }
    constexpr int kBlock = 1024;
    argmax_kernel<<<static_cast<unsigned>(a.n_rows), kBlock, 0, stream>>>(a.logits, a.n_vocab, a.out);
    return gannet::cuda::cuda_status(cudaGetLastError(), "argmax launch");
}

}  // namespace gannet::kernels::cuda
