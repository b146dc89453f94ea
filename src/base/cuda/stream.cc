#include "base/cuda/stream.h"

#include "base/cuda/cuda_status.h"

namespace gannet::cuda {

Result<Stream> Stream::create() {
    cudaStream_t s = nullptr;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate"));
    return Stream(s);
}

Status Stream::synchronize() const {
    return cuda_status(cudaStreamSynchronize(s_), "cudaStreamSynchronize");
}

Result<Event> Event::create(EventTiming timing) {
    cudaEvent_t e = nullptr;
    const unsigned flags = timing == EventTiming::kEnabled ? cudaEventDefault : cudaEventDisableTiming;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaEventCreateWithFlags(&e, flags), "cudaEventCreate"));
    return Event(e);
}

Status Event::record(cudaStream_t stream) const {
    return cuda_status(cudaEventRecord(e_, stream), "cudaEventRecord");
}

Status Event::synchronize() const {
    return cuda_status(cudaEventSynchronize(e_), "cudaEventSynchronize");
}

Result<float> Event::elapsed_ms_since(const Event& start) const {
    float ms = 0.0f;
    GANNET_RETURN_IF_ERROR(cuda_status(cudaEventElapsedTime(&ms, start.e_, e_), "cudaEventElapsedTime"));
    return ms;
}

}  // namespace gannet::cuda
