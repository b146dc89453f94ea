#include "memory/cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "base/cuda/cuda_status.h"
#include "base/mapped_file.h"
#include "memory/placement.h"

namespace gannet::memory::cuda {

using gannet::cuda::cuda_status;

Result<DeviceMemoryInfo> query_device_memory() {
    int dev = 0;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaGetDevice(&dev), "cudaGetDevice"));
    DeviceMemoryInfo info;
    size_t free_b = 0;
    size_t total_b = 0;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo"));
    info.free_bytes = free_b;
    info.total_bytes = total_b;
    int v = 0;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaDeviceGetAttribute(&v, cudaDevAttrIntegrated, dev), "integrated"));
    info.is_integrated = v != 0;
    GANNET_RETURN_IF_ERROR(
        cuda_status(cudaDeviceGetAttribute(&v, cudaDevAttrPageableMemoryAccess, dev), "pageableMemoryAccess"));
    info.has_pageable_access = v != 0;
    GANNET_RETURN_IF_ERROR(cuda_status(
        cudaDeviceGetAttribute(&v, cudaDevAttrPageableMemoryAccessUsesHostPageTables, dev), "hostPageTables"));
    info.uses_host_page_tables = v != 0;
    if (info.is_unified()) {
        // Device and host allocations come out of the same memory: what the kernel says is available.
        Result<std::string> meminfo = read_file("/proc/meminfo");
        if (meminfo.has_value()) {
            Result<uint64_t> avail = mem_available_bytes(*meminfo);
            if (avail.has_value()) {
                info.free_bytes = std::max<uint64_t>(info.free_bytes, *avail);
            }
        }
    }
    return info;
}

}  // namespace gannet::memory::cuda
