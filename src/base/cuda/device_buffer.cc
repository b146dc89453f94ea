#include "base/cuda/device_buffer.h"

#include "base/cuda/cuda_status.h"

namespace gannet::cuda {

Result<DeviceBuffer> DeviceBuffer::allocate(size_t size_bytes) {
    if (size_bytes == 0) {
        return DeviceBuffer();
    }
    void* ptr = nullptr;
    const cudaError_t err = cudaMalloc(&ptr, size_bytes);
    if (err != cudaSuccess) {
        cudaGetLastError();  // an OOM is not sticky: clear it so the next launch check stays clean
        return make_error(err == cudaErrorMemoryAllocation ? ErrorCode::kResourceExhausted : ErrorCode::kInternal,
                          "cuda: cudaMalloc of %zu bytes: %s", size_bytes, cudaGetErrorString(err));
    }
    return DeviceBuffer(ptr, size_bytes);
}

Result<PinnedBuffer> PinnedBuffer::allocate(size_t size_bytes, PinnedMapping mapping) {
    if (size_bytes == 0) {
        return PinnedBuffer();
    }
    void* ptr = nullptr;
    const unsigned flags = mapping == PinnedMapping::kMapped ? cudaHostAllocMapped : cudaHostAllocDefault;
    const cudaError_t err = cudaHostAlloc(&ptr, size_bytes, flags);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return make_error(err == cudaErrorMemoryAllocation ? ErrorCode::kResourceExhausted : ErrorCode::kInternal,
                          "cuda: cudaHostAlloc of %zu bytes: %s", size_bytes, cudaGetErrorString(err));
    }
    return PinnedBuffer(ptr, size_bytes);
}

Result<void*> PinnedBuffer::device_ptr() const {
    void* dev = nullptr;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaHostGetDevicePointer(&dev, ptr_, 0), "cudaHostGetDevicePointer"));
    return dev;
}

}  // namespace gannet::cuda
