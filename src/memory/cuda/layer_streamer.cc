#include "memory/cuda/layer_streamer.h"

#include "base/cuda/cuda_status.h"

namespace gannet::memory::cuda {

using gannet::cuda::cuda_status;
using gannet::cuda::DeviceBuffer;
using gannet::cuda::Event;
using gannet::cuda::EventTiming;

Result<LayerStreamer> LayerStreamer::create(std::vector<Block> blocks, int n_slots, size_t slot_bytes) {
    if (blocks.empty() || n_slots < 1 || n_slots > 2 || static_cast<size_t>(n_slots) > blocks.size()
        || slot_bytes == 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "layer streamer: %zu blocks, %d slots of %zu bytes (need 1 or 2 slots, no more than "
                          "blocks, > 0 bytes)",
                          blocks.size(), n_slots, slot_bytes);
    }
    for (size_t j = 0; j < blocks.size(); ++j) {
        if (blocks[j].host == nullptr || blocks[j].size_bytes == 0 || blocks[j].size_bytes > slot_bytes) {
            return make_error(ErrorCode::kInvalidArgument,
                              "layer streamer: block %zu (%zu bytes at %p) is empty or larger than a slot of %zu", j,
                              blocks[j].size_bytes, blocks[j].host, slot_bytes);
        }
    }
    LayerStreamer s;
    s.blocks_ = std::move(blocks);
    GANNET_ASSIGN_OR_RETURN(s.copy_, gannet::cuda::Stream::create());
    for (int i = 0; i < n_slots; ++i) {
        GANNET_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(slot_bytes));
        s.slots_.push_back(std::move(b));
        GANNET_ASSIGN_OR_RETURN(Event r, Event::create(EventTiming::kDisabled));
        GANNET_ASSIGN_OR_RETURN(Event f, Event::create(EventTiming::kDisabled));
        s.ready_.push_back(std::move(r));
        s.free_.push_back(std::move(f));
        s.holds_.push_back(-1);
    }
    return s;
}

Status LayerStreamer::fill(int64_t slot, int64_t block) {
    const size_t i = static_cast<size_t>(slot);
    const Block& b = blocks_[static_cast<size_t>(block)];
    // An event never recorded is already complete, so the first fill of a slot does not wait.
    GANNET_RETURN_IF_ERROR(cuda_status(cudaStreamWaitEvent(copy_.get(), free_[i].get(), 0), "wait slot free"));
    GANNET_RETURN_IF_ERROR(cuda_status(
        cudaMemcpyAsync(slots_[i].data(), b.host, b.size_bytes, cudaMemcpyHostToDevice, copy_.get()), "stream layer"));
    GANNET_RETURN_IF_ERROR(ready_[i].record(copy_.get()));
    holds_[i] = block;
    copied_bytes_ += b.size_bytes;
    return Status();
}

Status LayerStreamer::acquire(int64_t j, cudaStream_t compute) {
    if (j < 0 || j >= n_blocks()) {
        return make_error(ErrorCode::kInvalidArgument, "layer streamer: block %lld of %lld", static_cast<long long>(j),
                          static_cast<long long>(n_blocks()));
    }
    const int64_t slot = j % n_slots();
    if (holds_[static_cast<size_t>(slot)] != j) {
        GANNET_RETURN_IF_ERROR(fill(slot, j));
    }
    return cuda_status(cudaStreamWaitEvent(compute, ready_[static_cast<size_t>(slot)].get(), 0), "wait layer copy");
}

Status LayerStreamer::release(int64_t j, cudaStream_t compute) {
    if (j < 0 || j >= n_blocks()) {
        return make_error(ErrorCode::kInvalidArgument, "layer streamer: block %lld of %lld", static_cast<long long>(j),
                          static_cast<long long>(n_blocks()));
    }
    const int64_t slot = j % n_slots();
    GANNET_RETURN_IF_ERROR(free_[static_cast<size_t>(slot)].record(compute));
    // The block this slot serves next: j + n_slots in this pass, else block `slot` of the next pass
    // (n_slots <= n_blocks, so that block exists and maps to this slot).
    const int64_t next = j + n_slots() < n_blocks() ? j + n_slots() : slot;
    if (holds_[static_cast<size_t>(slot)] != next) {
        GANNET_RETURN_IF_ERROR(fill(slot, next));
    }
    return Status();
}

}  // namespace gannet::memory::cuda
