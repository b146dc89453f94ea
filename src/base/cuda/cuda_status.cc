#include "base/cuda/cuda_status.h"

namespace gannet::cuda {

Status cuda_status(cudaError_t err, const char* what) {
    if (err == cudaSuccess) {
        return Status();
    }
    const ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::kResourceExhausted : ErrorCode::kInternal;
    return make_error(code, "cuda: %s: %s: %s", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

}  // namespace gannet::cuda
