// A sequence's block table: logical block i -> physical block id, plus how many token slots are
// reserved. Position p lives in blocks()[p / block_size] at slot p % block_size. Only BlockManager
// changes a table (it keeps the refcounts and the prefix cache in step); everyone else reads it.
// Not thread-safe: owned by the engine loop.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/check.h"
#include "kvcache/block_pool.h"

namespace gannet::kvcache {

using TokenId = int32_t;

class BlockTable {
public:
    BlockTable() = default;
    explicit BlockTable(int32_t block_size) : block_size_(block_size) { GANNET_CHECK(block_size > 0); }
    // Move-only: a copy would hold blocks without their references (BlockManager::fork() shares properly).
    BlockTable(BlockTable&&) noexcept = default;
    BlockTable& operator=(BlockTable&&) noexcept = default;
    BlockTable(const BlockTable&) = delete;
    BlockTable& operator=(const BlockTable&) = delete;

    int32_t block_size() const { return block_size_; }
    // Token slots reserved: positions [0, n_tokens) have a slot (computed or about to be).
    int32_t n_tokens() const { return n_tokens_; }
    int32_t n_blocks() const { return static_cast<int32_t>(blocks_.size()); }
    // View valid until the table is next changed by BlockManager.
    std::span<const BlockId> blocks() const { return blocks_; }
    bool empty() const { return blocks_.empty(); }

    // REQUIRES: 0 <= pos < n_tokens().
    BlockId block_for_pos(int32_t pos) const {
        GANNET_DCHECK(pos >= 0 && pos < n_tokens_);
        return blocks_[static_cast<size_t>(pos / block_size_)];
    }
    int32_t slot_for_pos(int32_t pos) const { return pos % block_size_; }
    // Blocks needed to hold n_tokens slots.
    int32_t n_blocks_for(int32_t n_tokens) const { return (n_tokens + block_size_ - 1) / block_size_; }
    // Full blocks whose chain hash is known (registered in, or found in, the prefix cache).
    int32_t n_blocks_hashed() const { return static_cast<int32_t>(hashes_.size()); }

private:
    friend class BlockManager;

    int32_t block_size_ = 1;
    int32_t n_tokens_ = 0;
    std::vector<BlockId> blocks_;   // [n_blocks]
    std::vector<uint64_t> hashes_;  // [n_blocks_hashed]: chain hash of each leading full, computed block
};

}  // namespace gannet::kvcache
