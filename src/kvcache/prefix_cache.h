// Index of full KV blocks by the tokens they hold and every token before them, so a new sequence
// whose prompt starts with the same tokens reuses the blocks instead of recomputing them.
// A block's key is its chain hash: hash(parent block's chain hash, this block's tokens). Only full,
// computed blocks are indexed: a partial block's contents would still change.
// Lookup verifies the block's own tokens and its parent's hash, so a false hit needs a 64-bit
// collision of the parent chain; the chain is keyed by hash_seed (pass a random one where prompts
// come from untrusted tenants, so collisions cannot be crafted offline).
// The cache also keeps the LRU order of its unreferenced blocks (held only by the cache) for
// eviction. It holds no refcounts itself: BlockManager keeps refcounts and this index in step.
// Not thread-safe: owned by the engine loop.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kvcache/block_table.h"

namespace gannet::kvcache {

inline constexpr BlockId kNoBlock = -1;

class PrefixCache {
public:
    PrefixCache(int32_t n_blocks, int32_t block_size, uint64_t hash_seed = 0);

    // The chain hash of the first block of every sequence is chain_hash(root_hash(), tokens).
    uint64_t root_hash() const { return root_hash_; }
    static uint64_t chain_hash(uint64_t parent_hash, std::span<const TokenId> tokens);

    // The cached block with this chain hash whose parent hash and tokens match, or kNoBlock.
    // REQUIRES: tokens.size() == block_size.
    BlockId find(uint64_t hash, uint64_t parent_hash, std::span<const TokenId> tokens) const;
    // Indexes `block`. Returns false (and indexes nothing) when the hash is already present, as when
    // two sequences computed the same block at once; the caller's block then stays private.
    // REQUIRES: !is_cached(block), tokens.size() == block_size.
    bool insert(BlockId block, uint64_t hash, uint64_t parent_hash, std::span<const TokenId> tokens);
    // Drops `block` from the index (and from the LRU). REQUIRES: is_cached(block).
    void erase(BlockId block);

    bool is_cached(BlockId block) const { return entries_[static_cast<size_t>(block)].is_cached; }
    uint64_t hash_of(BlockId block) const { return entries_[static_cast<size_t>(block)].hash; }
    int32_t n_cached() const { return static_cast<int32_t>(index_.size()); }

    // LRU of unreferenced cached blocks. REQUIRES for both: is_cached(block).
    void mark_unreferenced(BlockId block);  // becomes the most recently used; REQUIRES: not in the LRU
    void mark_referenced(BlockId block);    // leaves the LRU; REQUIRES: in the LRU
    bool is_evictable(BlockId block) const { return entries_[static_cast<size_t>(block)].is_in_lru; }
    // The least recently used unreferenced block, or kNoBlock.
    BlockId lru() const { return lru_head_; }
    int32_t n_evictable() const { return n_evictable_; }

private:
    struct Entry {
        uint64_t hash = 0;
        uint64_t parent_hash = 0;
        BlockId lru_prev = kNoBlock;  // intrusive list: no allocation when a block joins or leaves the LRU
        BlockId lru_next = kNoBlock;
        bool is_cached = false;
        bool is_in_lru = false;
    };
    std::span<const TokenId> tokens_of(BlockId block) const;

    int32_t block_size_;
    uint64_t root_hash_;
    std::vector<Entry> entries_;                   // [n_blocks]
    std::vector<TokenId> tokens_;                  // [n_blocks, block_size]: each cached block's tokens
    std::unordered_map<uint64_t, BlockId> index_;  // chain hash -> block
    BlockId lru_head_ = kNoBlock;                  // least recently used
    BlockId lru_tail_ = kNoBlock;                  // most recently used
    int32_t n_evictable_ = 0;
};

}  // namespace gannet::kvcache
