#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "memory/cuda/h2d_probe.h"

namespace gannet::memory::cuda {

using gannet::cuda::cuda_status;
using gannet::cuda::DeviceBuffer;
using gannet::cuda::PinnedBuffer;
using gannet::cuda::PinnedMapping;

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Grid-stride over 16-byte words, kUnroll independent loads in flight per thread (the bus has
// microseconds of latency), one 64-bit atomic per block.
__global__ void read_all_kernel(const uint4* __restrict__ p, size_t n_words, unsigned long long* out) {
    unsigned long long acc = 0;
    const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
    size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    for (; i + (kUnroll - 1) * stride < n_words; i += kUnroll * stride) {
        uint4 v[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            v[u] = p[i + u * stride];
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            acc += static_cast<unsigned long long>(v[u].x) + v[u].y + v[u].z + v[u].w;
        }
    }
    for (; i < n_words; i += stride) {
        const uint4 v = p[i];
        acc += static_cast<unsigned long long>(v.x) + v.y + v.z + v.w;
    }
    __shared__ unsigned long long block_sum[kThreads];
    block_sum[threadIdx.x] = acc;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (static_cast<int>(threadIdx.x) < s) {
            block_sum[threadIdx.x] += block_sum[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        atomicAdd(out, block_sum[0]);
    }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<ReadResult> read_all(const void* device_visible, size_t size_bytes) {
    if (device_visible == nullptr || size_bytes == 0 || size_bytes % 16 != 0
        || reinterpret_cast<uintptr_t>(device_visible) % 16 != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "read_all: %zu bytes at %p (need 16-byte aligned, multiple of 16)", size_bytes,
                          device_visible);
    }
    int dev = 0;
    int n_sm = 0;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaGetDevice(&dev), "cudaGetDevice"));
    GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev), "sm count"));
    GANNET_ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::allocate(sizeof(unsigned long long)));
    GANNET_RETURN_IF_ERROR(cuda_status(cudaMemset(out.data(), 0, sizeof(unsigned long long)), "memset"));
    GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceSynchronize(), "sync"));
    const size_t n_words = size_bytes / 16;
    const size_t want_blocks = (n_words + kThreads - 1) / kThreads;
    const int n_blocks = static_cast<int>(std::min<size_t>(want_blocks, static_cast<size_t>(n_sm) * 8));
    const auto t0 = std::chrono::steady_clock::now();
    read_all_kernel<<<n_blocks, kThreads>>>(static_cast<const uint4*>(device_visible), n_words,
                                            out.as<unsigned long long>());
    GANNET_RETURN_IF_ERROR(cuda_status(cudaGetLastError(), "read_all launch"));
    GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceSynchronize(), "read_all"));
    ReadResult r;
    r.seconds = seconds_since(t0);
    GANNET_RETURN_IF_ERROR(cuda_status(
        cudaMemcpy(&r.checksum, out.data(), sizeof(unsigned long long), cudaMemcpyDeviceToHost), "copy checksum"));
    return r;
}

Result<H2dBandwidth> measure_h2d(size_t size_bytes, int n_reps) {
    if (size_bytes < (size_t{1} << 20) || size_bytes % 16 != 0 || n_reps < 1) {
        return make_error(ErrorCode::kInvalidArgument, "measure_h2d: %zu bytes, %d reps (need >= 1 MiB, x16, >= 1)",
                          size_bytes, n_reps);
    }
    GANNET_ASSIGN_OR_RETURN(PinnedBuffer host, PinnedBuffer::allocate(size_bytes, PinnedMapping::kMapped));
    std::memset(host.data(), 1, size_bytes);
    GANNET_ASSIGN_OR_RETURN(DeviceBuffer dev, DeviceBuffer::allocate(size_bytes));
    GANNET_ASSIGN_OR_RETURN(void* mapped, host.device_ptr());
    H2dBandwidth bw;
    for (int i = 0; i < n_reps; ++i) {
        GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceSynchronize(), "sync"));
        const auto t0 = std::chrono::steady_clock::now();
        GANNET_RETURN_IF_ERROR(
            cuda_status(cudaMemcpy(dev.data(), host.data(), size_bytes, cudaMemcpyHostToDevice), "h2d copy"));
        GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceSynchronize(), "sync"));
        bw.copy_gb_s = std::max(bw.copy_gb_s, static_cast<double>(size_bytes) / seconds_since(t0) / 1e9);
        GANNET_ASSIGN_OR_RETURN(ReadResult r, read_all(mapped, size_bytes));
        bw.zero_copy_gb_s = std::max(bw.zero_copy_gb_s, static_cast<double>(size_bytes) / r.seconds / 1e9);
    }
    return bw;
}

}  // namespace gannet::memory::cuda
