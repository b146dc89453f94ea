// The engine-facing face of the KV cache bookkeeping: one BlockPool, one PrefixCache, and the block
// tables that use them, kept consistent. It decides which physical blocks a sequence's tokens go to,
// shares cached prefix blocks, evicts unreferenced cached blocks in LRU order when the pool runs
// low, and reports the block copies that copy-on-write needs. It never touches KV memory.
// Invariants (checked by verify()): refcount(b) = #tables holding b + (b cached ? 1 : 0) + #pending
// copy sources equal to b; a block is free iff its refcount is 0; cached blocks with refcount 1 are
// exactly the LRU. Not thread-safe: owned and called only by the engine loop.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "kvcache/block_pool.h"
#include "kvcache/block_table.h"
#include "kvcache/prefix_cache.h"

namespace gannet::kvcache {

enum class PrefixCaching { kOff, kOn };

struct BlockManagerConfig {
    int32_t n_blocks = 0;
    int32_t block_size = 16;  // tokens per block, one size for the whole cache
    PrefixCaching prefix_caching = PrefixCaching::kOn;
    uint64_t hash_seed = 0;  // see PrefixCache
};

class BlockManager {
public:
    // kInvalidArgument for n_blocks < 1 or block_size < 1.
    static Result<BlockManager> create(const BlockManagerConfig& config);

    int32_t block_size() const { return block_size_; }
    int32_t n_blocks() const { return pool_.n_blocks(); }
    int32_t n_free() const { return pool_.n_free(); }             // on the free list
    int32_t n_evictable() const { return cache_.n_evictable(); }  // cached, held by no sequence
    int32_t n_available() const { return n_free() + n_evictable(); }
    int32_t n_used() const { return pool_.n_used(); }                // n_blocks - n_free, cached ones included
    int32_t n_active() const { return n_blocks() - n_available(); }  // held by sequences (or pending copies)
    int32_t n_cached() const { return cache_.n_cached(); }
    int64_t n_evictions() const { return n_evictions_; }
    int64_t n_copies() const { return n_copies_; }

    // Leading tokens whose KV sits in cached full blocks (a multiple of block_size). No side effects.
    int32_t n_cached_prefix_tokens(std::span<const TokenId> tokens) const;

    // Reserves slots for all of `tokens` in the empty `table`, sharing the cached blocks of their
    // longest cached prefix, and returns how many leading tokens need no compute. That is always less
    // than tokens.size(), since computing the last token is what yields logits: when every token sits
    // in cached full blocks, the last block is copied (copy-on-write, appended to `copies`) and its
    // last token is recomputed into the copy. All or nothing: kResourceExhausted, with nothing changed,
    // when fewer than n_reserve blocks would stay available afterwards.
    // REQUIRES: table.empty(), !tokens.empty(), table.block_size() == block_size().
    Result<int32_t> start(BlockTable& table, std::span<const TokenId> tokens, int32_t n_reserve,
                          std::vector<BlockCopy>& copies);

    // Reserves n_tokens more slots at the end of `table` (a decode step reserves 1). If the last block
    // is partially filled and shared (after fork()), the table gets its own copy first (appended to
    // `copies`). All or nothing: kResourceExhausted, with nothing changed.
    Status append_slots(BlockTable& table, int32_t n_tokens, std::vector<BlockCopy>& copies);

    // The KV of tokens[0, n_computed) is now written: indexes the full blocks among them in the prefix
    // cache so later sequences can share them. Call after the step that computed them.
    // REQUIRES: n_computed <= table.n_tokens(), n_computed <= tokens.size(); the same tokens each call.
    void commit(BlockTable& table, std::span<const TokenId> tokens, int32_t n_computed);

    // A new table sharing all of parent's blocks (parallel sampling). No KV is copied until one of
    // them appends into the shared partial last block. Fork a table whose reserved slots are all
    // computed: a reserved, uncomputed slot would be written through both tables.
    BlockTable fork(const BlockTable& parent);

    // Releases the table's blocks and empties it. Blocks go back last first, so the LRU evicts a
    // chain's tail before its head and a cached chain stays reachable from its start.
    void free(BlockTable& table);

    // Copy sources stay allocated from the call that reported the copy until this call, so no block
    // is both a source and a destination (or written by the forward) within one step. Call once the
    // step's copies are done.
    void finish_step();

    // kInternal naming the first broken invariant, given every live table. For tests and debugging:
    // O(n_blocks + total table length).
    Status verify(std::span<const BlockTable* const> tables) const;
    int32_t refcount(BlockId block) const { return pool_.refcount(block); }
    bool is_cached(BlockId block) const { return cache_.is_cached(block); }
    bool is_evictable(BlockId block) const { return cache_.is_evictable(block); }

private:
    BlockManager(const BlockManagerConfig& config);

    // Takes n blocks, evicting LRU cached blocks when the free list is short. All or nothing.
    Status allocate(int32_t n, std::vector<BlockId>& out);
    void retain(BlockId block);
    void release(BlockId block);
    int32_t n_pending(BlockId block) const;

    int32_t block_size_;
    PrefixCaching prefix_caching_;
    BlockPool pool_;
    PrefixCache cache_;
    std::vector<BlockId> pending_release_;  // copy sources, released by finish_step()
    std::vector<BlockId> scratch_;          // reused by allocations so a decode step does not allocate
    int64_t n_evictions_ = 0;
    int64_t n_copies_ = 0;
};

}  // namespace gannet::kvcache
