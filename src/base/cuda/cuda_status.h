// The one mapping from CUDA runtime errors to Gannet Status values (STYLE.md "CUDA"): device
// out-of-memory becomes kResourceExhausted so callers can shed load; every other error is kInternal.
// Owner: CUDA backend. Thread-safety: pure.
#pragma once

#include <cuda_runtime_api.h>

#include "base/status.h"

namespace gannet::cuda {

// OK for cudaSuccess; otherwise "cuda: <what>: <error name>: <error string>". Sticky faults (illegal
// address and the like) also come back as kInternal: the context is lost and the caller should log
// and abort rather than retry.
Status cuda_status(cudaError_t err, const char* what);

}  // namespace gannet::cuda
