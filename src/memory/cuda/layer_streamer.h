// LayerStreamer: double-buffered host-to-device copies of layer weight blocks that do not fit device
// memory. Each block lives in pinned host memory; two device buffers ("slots") of the largest block
// take turns: block j goes into slot j % n_slots. A dedicated copy stream fills a slot only after the
// compute stream has released it (event), and the compute stream waits for the copy (event) before it
// uses the slot, so block j+1 is copied while block j computes.
//
// Per forward pass the caller does, for each streamed block j in order:
//     acquire(j, compute);  <queue the kernels that read slot_of(j)>;  release(j, compute);
// release(j) queues the copy of block j + n_slots into the freed slot. After the last block the
// first n_slots blocks of the next pass are queued (their slots are free once the last kernels have
// run), so the next pass finds them in flight. acquire() checks which block a slot holds and queues
// the copy itself when it is not the right one, so an aborted pass cannot leave stale weights behind.
// With at most n_slots blocks every block stays in its slot and nothing is copied after the first use.
// Owner: memory (CUDA). Thread-safety: one thread queues passes at a time.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "base/result.h"

namespace gannet::memory::cuda {

class LayerStreamer {
public:
    struct Block {
        const void* host = nullptr;  // pinned (cudaHostAlloc) memory, so the copy is truly async
        size_t size_bytes = 0;
    };

    // n_slots is 1 or 2 and at most blocks.size(); slot_bytes >= every block's size. kInvalidArgument for bad arguments
    // (no blocks, a null or empty block, a block larger than a slot); kResourceExhausted when the
    // slots do not fit device memory.
    static Result<LayerStreamer> create(std::vector<Block> blocks, int n_slots, size_t slot_bytes);

    LayerStreamer() = default;
    LayerStreamer(LayerStreamer&&) noexcept = default;
    LayerStreamer& operator=(LayerStreamer&&) noexcept = default;
    // Waits for copies still in flight, so the owner may free the pinned sources right after.
    ~LayerStreamer() {
        if (copy_.get() != nullptr) {
            cudaStreamSynchronize(copy_.get());
        }
    }

    int64_t n_blocks() const { return static_cast<int64_t>(blocks_.size()); }
    int n_slots() const { return static_cast<int>(slots_.size()); }
    // Device address where block j is read while it is acquired (fixed: slot j % n_slots).
    void* slot_of(int64_t j) const { return slots_[static_cast<size_t>(j % n_slots())].data(); }

    // Makes `compute` wait until block j is in its slot (queues its copy first when needed).
    Status acquire(int64_t j, cudaStream_t compute);
    // Marks block j's slot free once `compute` has run what was queued so far; queues the next copy
    // into it (block j + n_slots, or, after the last block, block j's successor of the next pass).
    Status release(int64_t j, cudaStream_t compute);
    // Bytes queued for copy since creation (for tests and the bench).
    uint64_t copied_bytes() const { return copied_bytes_; }

private:
    Status fill(int64_t slot, int64_t block);

    std::vector<Block> blocks_;
    std::vector<gannet::cuda::DeviceBuffer> slots_;
    std::vector<gannet::cuda::Event> ready_;  // recorded on the copy stream after a slot's copy
    std::vector<gannet::cuda::Event> free_;   // recorded on the compute stream after a slot's last reader
    std::vector<int64_t> holds_;              // block last queued into each slot (-1: none)
    gannet::cuda::Stream copy_;
    uint64_t copied_bytes_ = 0;
};

}  // namespace gannet::memory::cuda
