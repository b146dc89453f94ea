// Grid-stride element-wise kernels: one read per input and one write, bandwidth-bound; float4 when
// all pointers are 16-byte aligned and n % 4 == 0 (every hidden size of a real model).
#include <cstdint>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/activation.h"
#include "kernels/cuda/int8_x.cuh"
#include "kernels/cuda/matvec.h"

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

// glu_kernel plus the int8 copy: n % 32 == 0 and a grid stride that is a multiple of 32 keep every
// trip warp-uniform, and each warp's 32 consecutive outputs are one 32-block.
template <GluKind kKind>
__global__ void glu_quantize_kernel(const float* gate, const float* up, float* out, int64_t n, int8_t* __restrict__ xq,
                                    float* __restrict__ xd) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float v = act<kKind>(gate[i]) * up[i];
        out[i] = v;
        quantize_block32(v, i / 32, xq, xd);
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

Status glu_quantize(const GluArgs& a, cudaStream_t stream) {
    const size_t need = int8_x_size_bytes(a.n);
    if (a.n % 32 != 0 || a.quantized_out_size_bytes < need || reinterpret_cast<uintptr_t>(a.quantized_out) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "glu: quantized_out of %zu bytes at %p for n=%lld; need %zu bytes, 16-byte aligned, "
                          "n %% 32 == 0",
                          a.quantized_out_size_bytes, a.quantized_out, static_cast<long long>(a.n), need);
    }
    auto* xq = static_cast<int8_t*>(a.quantized_out);
    auto* xd = reinterpret_cast<float*>(static_cast<uint8_t*>(a.quantized_out) + int8_x_xq_bytes(a.n));
    constexpr int kBlock = 256;  // a multiple of 32: see glu_quantize_kernel
    if (a.kind == GluKind::kSilu) {
        glu_quantize_kernel<GluKind::kSilu>
            <<<grid_for(a.n, kBlock), kBlock, 0, stream>>>(a.gate, a.up, a.out, a.n, xq, xd);
    } else {
        glu_quantize_kernel<GluKind::kGeluTanh>
            <<<grid_for(a.n, kBlock), kBlock, 0, stream>>>(a.gate, a.up, a.out, a.n, xq, xd);
    }
    return gannet::cuda::cuda_status(cudaGetLastError(), "glu launch");
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
    if (a.quantized_out != nullptr) {
        return glu_quantize(a, stream);
    }
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
