// Host-to-device bandwidth probes: the bounds that `mapped` and `stream` placement are measured
// against (benchmarks print "% of the H2D bound" from the same run). Owner: memory (CUDA).
#pragma once

#include <cstddef>

#include "base/result.h"

namespace gannet::memory::cuda {

struct H2dBandwidth {
    double copy_gb_s = 0.0;       // cudaMemcpy from pinned (cudaHostAlloc) memory into device memory
    double zero_copy_gb_s = 0.0;  // a kernel reading mapped pinned memory in place (16-byte loads)
};

// Best of `n_reps` over a buffer of size_bytes (multiple of 16, >= 1 MiB; kInvalidArgument otherwise).
// kResourceExhausted when the pinned or device buffer cannot be allocated.
Result<H2dBandwidth> measure_h2d(size_t size_bytes, int n_reps);

// The zero-copy read kernel alone, over a device-visible pointer (mapped host memory or device memory):
// sums every 16-byte word so no load can be dropped; returns the sum (for a test) and the time.
struct ReadResult {
    unsigned long long checksum = 0;
    double seconds = 0.0;
};
Result<ReadResult> read_all(const void* device_visible, size_t size_bytes);

}  // namespace gannet::memory::cuda
