#include "kernels/cuda/cublas_handle.h"

namespace gannet::kernels::cuda {

Status cublas_status(cublasStatus_t st, const char* what) {
    if (st == CUBLAS_STATUS_SUCCESS) {
        return Status();
    }
    const ErrorCode code = st == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::kResourceExhausted : ErrorCode::kInternal;
    return make_error(code, "cublas: %s: %s", what, cublasGetStatusString(st));
}

Result<CublasHandle> CublasHandle::create() {
    cublasHandle_t h = nullptr;
    GANNET_RETURN_IF_ERROR(cublas_status(cublasCreate(&h), "cublasCreate"));
    return CublasHandle(h);
}

}  // namespace gannet::kernels::cuda
