// Owners of device memory and of pinned (page-locked) host memory. Both are move-only: a copy would
// free the allocation twice. Acquisition goes through allocate(), which returns kResourceExhausted
// when the device (or the host's pinnable memory) is out of memory.
// Owner: CUDA backend. Thread-safety: a buffer is a plain value; the memory it owns is not guarded.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

#include "base/result.h"

namespace gannet::cuda {

// Owns one cudaMalloc allocation (256-byte aligned, so every 16-byte vector load is legal).
class DeviceBuffer {
public:
    // Acquisition can fail, and constructors cannot return a Status. size_bytes 0 gives an empty buffer.
    static Result<DeviceBuffer> allocate(size_t size_bytes);

    DeviceBuffer() = default;
    DeviceBuffer(DeviceBuffer&& other) noexcept
        : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
        if (this != &other) {
            cudaFree(ptr_);
            ptr_ = std::exchange(other.ptr_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { cudaFree(ptr_); }  // no-op on nullptr; errors at exit are moot

    void* data() const { return ptr_; }
    template <typename T>
    T* as() const {
        return static_cast<T*>(ptr_);
    }
    size_t size_bytes() const { return size_; }

private:
    DeviceBuffer(void* ptr, size_t size_bytes) : ptr_(ptr), size_(size_bytes) {}

    void* ptr_ = nullptr;
    size_t size_ = 0;
};

// How a pinned buffer is seen from the device.
enum class PinnedMapping {
    kUnmapped,  // staging for cudaMemcpyAsync only
    kMapped,    // also readable by kernels over the bus (zero-copy); device_ptr() is valid
};

// Owns one cudaHostAlloc allocation: page-locked host memory, so async copies really overlap.
class PinnedBuffer {
public:
    static Result<PinnedBuffer> allocate(size_t size_bytes, PinnedMapping mapping);

    PinnedBuffer() = default;
    PinnedBuffer(PinnedBuffer&& other) noexcept
        : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    PinnedBuffer& operator=(PinnedBuffer&& other) noexcept {
        if (this != &other) {
            cudaFreeHost(ptr_);
            ptr_ = std::exchange(other.ptr_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    ~PinnedBuffer() { cudaFreeHost(ptr_); }

    void* data() const { return ptr_; }  // host address
    size_t size_bytes() const { return size_; }
    // The device address of a kMapped buffer; kInternal for an unmapped one.
    Result<void*> device_ptr() const;

private:
    PinnedBuffer(void* ptr, size_t size_bytes) : ptr_(ptr), size_(size_bytes) {}

    void* ptr_ = nullptr;
    size_t size_ = 0;
};

}  // namespace gannet::cuda
