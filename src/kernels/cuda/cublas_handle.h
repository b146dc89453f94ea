// Move-only owner of a cuBLAS handle (cuBLAS's own workspace and settings). Create one per stream
// that runs prefill products; the handle is not thread-safe. Owner: CUDA backend.
#pragma once

#include <cublas_v2.h>

#include <utility>

#include "base/result.h"

namespace gannet::kernels::cuda {

// kInternal naming the cuBLAS status for a failed call; kResourceExhausted for CUBLAS_STATUS_ALLOC_FAILED.
Status cublas_status(cublasStatus_t st, const char* what);

class CublasHandle {
public:
    static Result<CublasHandle> create();

    CublasHandle() = default;
    CublasHandle(CublasHandle&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
    CublasHandle& operator=(CublasHandle&& other) noexcept {
        if (this != &other) {
            destroy();
            h_ = std::exchange(other.h_, nullptr);
        }
        return *this;
    }
    CublasHandle(const CublasHandle&) = delete;
    CublasHandle& operator=(const CublasHandle&) = delete;
    ~CublasHandle() { destroy(); }

    cublasHandle_t get() const { return h_; }

private:
    explicit CublasHandle(cublasHandle_t h) : h_(h) {}
    void destroy() {
        if (h_ != nullptr) {
            cublasDestroy(h_);
        }
    }

    cublasHandle_t h_ = nullptr;
};

}  // namespace gannet::kernels::cuda
