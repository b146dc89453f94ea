// What the current CUDA device offers for weights: free memory and whether host memory is as fast
// as device memory for it (integrated GPU, or a coherent link where the GPU walks the host's page
// tables). On such a unified-memory device free memory comes from /proc/meminfo (cudaMemGetInfo
// undercounts it) and `mapped` placement reads at full speed. Owner: memory. Thread-safety: pure query.
#pragma once

#include <cstdint>

#include "base/result.h"

namespace gannet::memory::cuda {

struct DeviceMemoryInfo {
    uint64_t free_bytes = 0;             // usable for new allocations now (MemAvailable on a unified device)
    uint64_t total_bytes = 0;            // cudaMemGetInfo's total
    bool is_integrated = false;          // cudaDevAttrIntegrated
    bool has_pageable_access = false;    // cudaDevAttrPageableMemoryAccess
    bool uses_host_page_tables = false;  // cudaDevAttrPageableMemoryAccessUsesHostPageTables
    bool is_unified() const { return is_integrated || uses_host_page_tables; }
};

// kInternal when the CUDA runtime fails (no device, driver mismatch).
Result<DeviceMemoryInfo> query_device_memory();

}  // namespace gannet::memory::cuda
