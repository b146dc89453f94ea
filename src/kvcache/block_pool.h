// Fixed pool of KV-cache blocks shared by all running sequences. Blocks are
// refcounted so sequences with a common prompt prefix share physical blocks; a
// freed block keeps its contents until reused, which is what makes later prefix
// hits possible. Not thread-safe: owned and called only by the engine loop.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace gannet::kvcache {

using BlockId = int32_t;

// One block copy the runner performs before a step's forward: the whole block (every layer, K and V,
// and its key summary) from src to dst. The scheduler reports these for copy-on-write.
struct BlockCopy {
    BlockId src;
    BlockId dst;
    bool operator==(const BlockCopy&) const = default;
};

class BlockPool {
public:
    // REQUIRES: n_blocks >= 0. Every block starts free with refcount 0.
    explicit BlockPool(int32_t n_blocks);

    // All or nothing: on kResourceExhausted no block was taken, so the
    // scheduler can preempt a sequence and retry. Each returned block has refcount 1.
    Result<std::vector<BlockId>> allocate(int32_t n);
    // As allocate(), appending to `out` so a hot path can reuse its vector's capacity.
    Status allocate_into(int32_t n, std::vector<BlockId>& out);
    void retain(std::span<const BlockId> blocks);   // refcount += 1; REQUIRES: each block is allocated
    void release(std::span<const BlockId> blocks);  // refcount -= 1, free at 0; a double release is a CHECK
    void retain(BlockId block) { retain(std::span<const BlockId>(&block, 1)); }
    void release(BlockId block) { release(std::span<const BlockId>(&block, 1)); }

    int32_t n_blocks() const { return static_cast<int32_t>(refcount_.size()); }
    int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
    int32_t n_used() const { return n_blocks() - n_free(); }
    // REQUIRES: 0 <= block < n_blocks().
    int32_t refcount(BlockId block) const;

private:
    std::vector<int32_t> refcount_;  // [n_blocks]
    std::vector<BlockId> free_;      // LIFO: reuse the most recently freed block first
};

}  // namespace gannet::kvcache
