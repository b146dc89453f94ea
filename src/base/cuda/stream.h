// RAII owners of a CUDA stream and a CUDA event. Move-only; created through create() so a failure
// is a Status. Owner: CUDA backend. Thread-safety: as cudaStream_t / cudaEvent_t (the runtime's own).
#pragma once

#include <cuda_runtime_api.h>

#include <utility>

#include "base/result.h"

namespace gannet::cuda {

// A non-blocking stream: it does not synchronize with the legacy default stream.
class Stream {
public:
    static Result<Stream> create();

    Stream() = default;
    Stream(Stream&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
    Stream& operator=(Stream&& other) noexcept {
        if (this != &other) {
            destroy();
            s_ = std::exchange(other.s_, nullptr);
        }
        return *this;
    }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    ~Stream() { destroy(); }

    cudaStream_t get() const { return s_; }
    // Waits for all work queued so far; a kernel fault queued earlier surfaces here as kInternal.
    Status synchronize() const;

private:
    explicit Stream(cudaStream_t s) : s_(s) {}
    void destroy() {
        if (s_ != nullptr) {
            cudaStreamDestroy(s_);
        }
    }

    cudaStream_t s_ = nullptr;
};

// Whether an event records timing (timing events are slower to record and to wait on).
enum class EventTiming { kDisabled, kEnabled };

class Event {
public:
    static Result<Event> create(EventTiming timing);

    Event() = default;
    Event(Event&& other) noexcept : e_(std::exchange(other.e_, nullptr)) {}
    Event& operator=(Event&& other) noexcept {
        if (this != &other) {
            destroy();
            e_ = std::exchange(other.e_, nullptr);
        }
        return *this;
    }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event() { destroy(); }

    cudaEvent_t get() const { return e_; }
    Status record(cudaStream_t stream) const;
    Status synchronize() const;
    // Milliseconds from start to this event; both recorded with EventTiming::kEnabled and complete.
    Result<float> elapsed_ms_since(const Event& start) const;

private:
    explicit Event(cudaEvent_t e) : e_(e) {}
    void destroy() {
        if (e_ != nullptr) {
            cudaEventDestroy(e_);
        }
    }

    cudaEvent_t e_ = nullptr;
};

}  // namespace gannet::cuda
