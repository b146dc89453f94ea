// Grid-stride element-wise kernels: one read per input and one write, bandwidth-bound; float4 when
// all pointers are 16-byte aligned and n % 4 == 0 (every hidden size of a real model).
#include <cstdint>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/activation.h"

namespace gannet::kernels::cuda {
namespace {

__device__ __forceinline__ float silu(float x) {
    return x / (1.0f + expf(-x));
}

__device__ __forceinline__ float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

template <GluKind kKind>
__device__ __forceinline__ float act(float g) {
    if constexpr (kKind == GluKind::kSilu) {
        return silu(g);
    } else {
        return gelu_tanh(g);
    }
}

template <GluKind kKind>
__global__ void glu_kernel(const float* gate, const float* up, float* out, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        out[i] = act<kKind>(gate[i]) * up[i];
    }
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
    const int64_t n4 = n / 4;
    const auto* a4 = reinterpret_cast<const float4*>(a);
    const auto* b4 = reinterpret_cast<const float4*>(b);
    auto* o4 = reinterpret_cast<float4*>(out);
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4; i += stride) {
        const float4 x = a4[i];
        const float4 y = b4[i];
        o4[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
    }
    for (int64_t i = n4 * 4 + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride) {
        out[i] = a[i] + b[i];
    }
}

unsigned grid_for(int64_t n, int block) {
    const int64_t blocks = (n + block - 1) / block;
    return static_cast<unsigned>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

bool is_aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

Status glu(const GluArgs& a, cudaStream_t stream) {
    if (a.n < 0 || (a.n > 0 && (a.gate == nullptr || a.up == nullptr || a.out == nullptr))) {
        return make_error(ErrorCode::kInvalidArgument, "glu: bad args n=%lld", static_cast<long long>(a.n));
    }
    if (a.n == 0) {
        return Status();
    }
    constexpr int kBlock = 256;
    if (a.kind == GluKind::kSilu) {
        glu_kernel<GluKind::kSilu><<<grid_for(a.n, kBlock), kBlock, 0, stream>>>(a.gate, a.up, a.out, a.n);
    } else {
        glu_kernel<GluKind::kGeluTanh><<<grid_for(a.n, kBlock), kBlock, 0, stream>>>(a.gate, a.up, a.out, a.n);
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "glu launch");
}

Status add(const AddArgs& a, cudaStream_t stream) {
    if (a.n < 0 || (a.n > 0 && (a.a == nullptr || a.b == nullptr || a.out == nullptr))) {
        return make_error(ErrorCode::kInvalidArgument, "add: bad args n=%lld", static_cast<long long>(a.n));
    }
    if (a.n == 0) {
        return Status();
    }
    if (!is_aligned16(a.a) || !is_aligned16(a.b) || !is_aligned16(a.out)) {
        return make_error(ErrorCode::kInvalidArgument, "add: pointers must be 16-byte aligned");
    }
    constexpr int kBlock = 256;
    add_kernel<<<grid_for((a.n + 3) / 4, kBlock), kBlock, 0, stream>>>(a.a, a.b, a.out, a.n);
    return gannet::cuda::cuda_status(cudaGetLastError(), "add launch");
}

}  // namespace gannet::kernels::cuda
