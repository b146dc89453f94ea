#include "kvcache/block_manager.h"

#include <algorithm>

namespace gannet::kvcache {

Result<BlockManager> BlockManager::create(const BlockManagerConfig& config) {
    if (config.n_blocks < 1) {
        return make_error(ErrorCode::kInvalidArgument, "kvcache: n_blocks must be >= 1, got %d", config.n_blocks);
    }
    if (config.block_size < 1) {
        return make_error(ErrorCode::kInvalidArgument, "kvcache: block_size must be >= 1, got %d", config.block_size);
    }
    return BlockManager(config);
}

BlockManager::BlockManager(const BlockManagerConfig& config)
    : block_size_(config.block_size),
      prefix_caching_(config.prefix_caching),
      pool_(config.n_blocks),
      cache_(config.n_blocks, config.block_size, config.hash_seed) {
    scratch_.reserve(64);
    pending_release_.reserve(64);
}

int32_t BlockManager::n_cached_prefix_tokens(std::span<const TokenId> tokens) const {
    if (prefix_caching_ == PrefixCaching::kOff) {
        return 0;
    }
    const size_t bs = static_cast<size_t>(block_size_);
    uint64_t parent = cache_.root_hash();
    int32_t n = 0;
    for (size_t i = 0; (i + 1) * bs <= tokens.size(); ++i) {
        std::span<const TokenId> block_tokens = tokens.subspan(i * bs, bs);
        const uint64_t h = PrefixCache::chain_hash(parent, block_tokens);
        if (cache_.find(h, parent, block_tokens) == kNoBlock) {
            break;
        }
        parent = h;
        n += block_size_;
    }
    return n;
}

Result<int32_t> BlockManager::start(BlockTable& table, std::span<const TokenId> tokens, int32_t n_reserve,
                                    std::vector<BlockCopy>& copies) {
    GANNET_CHECK(table.empty() && table.n_tokens() == 0 && table.block_size() == block_size_);
    GANNET_CHECK(!tokens.empty() && n_reserve >= 0);
    const size_t bs = static_cast<size_t>(block_size_);
    const int32_t n_tokens = static_cast<int32_t>(tokens.size());

    // The longest chain of cached full blocks. Filled into the table directly; undone on failure.
    int32_t n_hit_evictable = 0;
    if (prefix_caching_ == PrefixCaching::kOn) {
        uint64_t parent = cache_.root_hash();
        for (size_t i = 0; (i + 1) * bs <= tokens.size(); ++i) {
            std::span<const TokenId> block_tokens = tokens.subspan(i * bs, bs);
            const uint64_t h = PrefixCache::chain_hash(parent, block_tokens);
            const BlockId b = cache_.find(h, parent, block_tokens);
            if (b == kNoBlock) {
                break;
            }
            table.blocks_.push_back(b);
            table.hashes_.push_back(h);
            n_hit_evictable += cache_.is_evictable(b) ? 1 : 0;
            parent = h;
        }
    }
    const int32_t n_hit = table.n_blocks();
    const bool is_full_hit = n_hit * block_size_ == n_tokens;
    const int32_t n_new = table.n_blocks_for(n_tokens) - n_hit + (is_full_hit ? 1 : 0);
    // Retaining the hits takes them out of the evictable set, so they do not count as available.
    const int32_t n_available_after_hits = n_available() - n_hit_evictable;
    if (n_new + n_reserve > n_available_after_hits) {
        table.blocks_.clear();
        table.hashes_.clear();
        return make_error(ErrorCode::kResourceExhausted,
                          "kvcache: out of blocks: need %d (+%d reserved) for %d tokens, %d available", n_new,
                          n_reserve, n_tokens, n_available_after_hits);
    }
    for (BlockId b : table.blocks_) {
        retain(b);
    }
    scratch_.clear();
    Status st = allocate(n_new, scratch_);
    GANNET_CHECK(st.ok());  // availability was checked above
    size_t next = 0;
    if (is_full_hit) {
        // The last token must be recomputed for its logits, and its slot sits in a shared block.
        const BlockId src = table.blocks_.back();
        const BlockId dst = scratch_[next++];
        copies.push_back({src, dst});
        ++n_copies_;
        pending_release_.push_back(src);  // our reference on src moves to the pending list
        table.blocks_.back() = dst;
        table.hashes_.pop_back();  // dst is indexed (or found a duplicate) at commit
    }
    table.blocks_.insert(table.blocks_.end(), scratch_.begin() + static_cast<ptrdiff_t>(next), scratch_.end());
    table.n_tokens_ = n_tokens;
    return is_full_hit ? n_tokens - 1 : n_hit * block_size_;
}

Status BlockManager::append_slots(BlockTable& table, int32_t n_tokens, std::vector<BlockCopy>& copies) {
    GANNET_CHECK(n_tokens >= 0 && table.block_size() == block_size_);
    if (n_tokens == 0) {
        return Status();
    }
    const int32_t n_total = table.n_tokens() + n_tokens;
    const int32_t n_new_blocks = table.n_blocks_for(n_total) - table.n_blocks();
    const bool has_partial_last = table.n_tokens() % block_size_ != 0;
    // Pending copy sources hold a reference that no one will write through, so they do not make a block shared.
    const bool needs_copy =
        has_partial_last && pool_.refcount(table.blocks_.back()) - n_pending(table.blocks_.back()) > 1;
    scratch_.clear();
    GANNET_RETURN_IF_ERROR(allocate(n_new_blocks + (needs_copy ? 1 : 0), scratch_));
    size_t next = 0;
    if (needs_copy) {
        const BlockId src = table.blocks_.back();
        const BlockId dst = scratch_[next++];
        copies.push_back({src, dst});
        ++n_copies_;
        pending_release_.push_back(src);
        table.blocks_.back() = dst;
    }
    table.blocks_.insert(table.blocks_.end(), scratch_.begin() + static_cast<ptrdiff_t>(next), scratch_.end());
    table.n_tokens_ = n_total;
    return Status();
}

void BlockManager::commit(BlockTable& table, std::span<const TokenId> tokens, int32_t n_computed) {
    GANNET_CHECK(n_computed >= 0 && n_computed <= table.n_tokens());
    GANNET_CHECK(static_cast<size_t>(n_computed) <= tokens.size());
    if (prefix_caching_ == PrefixCaching::kOff) {
        return;
    }
    const size_t bs = static_cast<size_t>(block_size_);
    const int32_t n_full = n_computed / block_size_;
    for (int32_t i = table.n_blocks_hashed(); i < n_full; ++i) {
        const uint64_t parent = i == 0 ? cache_.root_hash() : table.hashes_[static_cast<size_t>(i) - 1];
        std::span<const TokenId> block_tokens = tokens.subspan(static_cast<size_t>(i) * bs, bs);
        const uint64_t h = PrefixCache::chain_hash(parent, block_tokens);
        table.hashes_.push_back(h);
        const BlockId b = table.blocks_[static_cast<size_t>(i)];
        if (!cache_.is_cached(b) && cache_.insert(b, h, parent, block_tokens)) {
            pool_.retain(b);  // the cache's own reference: the block outlives the sequence
        }
    }
}

BlockTable BlockManager::fork(const BlockTable& parent) {
    GANNET_CHECK(parent.block_size() == block_size_);
    BlockTable child(block_size_);
    child.blocks_ = parent.blocks_;
    child.hashes_ = parent.hashes_;
    child.n_tokens_ = parent.n_tokens_;
    for (BlockId b : child.blocks_) {
        retain(b);
    }
    return child;
}

void BlockManager::free(BlockTable& table) {
    for (auto it = table.blocks_.rbegin(); it != table.blocks_.rend(); ++it) {
        release(*it);
    }
    table.blocks_.clear();
    table.hashes_.clear();
    table.n_tokens_ = 0;
}

void BlockManager::finish_step() {
    for (BlockId b : pending_release_) {
        release(b);
    }
    pending_release_.clear();
}

Status BlockManager::allocate(int32_t n, std::vector<BlockId>& out) {
    if (n > n_available()) {
        return make_error(ErrorCode::kResourceExhausted, "kvcache: out of blocks: need %d, %d available of %d", n,
                          n_available(), n_blocks());
    }
    while (pool_.n_free() < n) {
        const BlockId victim = cache_.lru();
        GANNET_CHECK(victim != kNoBlock);
        cache_.erase(victim);
        pool_.release(victim);  // the cache held the only reference
        ++n_evictions_;
    }
    return pool_.allocate_into(n, out);
}

void BlockManager::retain(BlockId block) {
    if (cache_.is_cached(block) && cache_.is_evictable(block)) {
        cache_.mark_referenced(block);
    }
    pool_.retain(block);
}

void BlockManager::release(BlockId block) {
    pool_.release(block);
    if (cache_.is_cached(block) && pool_.refcount(block) == 1) {
        cache_.mark_unreferenced(block);
    }
}

int32_t BlockManager::n_pending(BlockId block) const {
    return static_cast<int32_t>(std::ranges::count(pending_release_, block));
}

Status BlockManager::verify(std::span<const BlockTable* const> tables) const {
    std::vector<int32_t> expected(static_cast<size_t>(n_blocks()), 0);
    for (const BlockTable* t : tables) {
        if (t->n_blocks() != t->n_blocks_for(t->n_tokens())) {
            return make_error(ErrorCode::kInternal, "kvcache: table holds %d blocks for %d tokens", t->n_blocks(),
                              t->n_tokens());
        }
        for (BlockId b : t->blocks()) {
            ++expected[static_cast<size_t>(b)];
        }
    }
    for (BlockId b : pending_release_) {
        ++expected[static_cast<size_t>(b)];
    }
    int32_t n_zero = 0;
    int32_t n_cached = 0;
    int32_t n_lru = 0;
    for (BlockId b = 0; b < n_blocks(); ++b) {
        const bool cached = cache_.is_cached(b);
        const int32_t want = expected[static_cast<size_t>(b)] + (cached ? 1 : 0);
        if (pool_.refcount(b) != want) {
            return make_error(ErrorCode::kInternal, "kvcache: block %d has refcount %d, expected %d", b,
                              pool_.refcount(b), want);
        }
        n_zero += want == 0 ? 1 : 0;
        n_cached += cached ? 1 : 0;
        const bool should_be_in_lru = cached && want == 1;
        if (cache_.is_evictable(b) != should_be_in_lru) {
            return make_error(ErrorCode::kInternal, "kvcache: block %d: evictable=%d, expected %d", b,
                              cache_.is_evictable(b) ? 1 : 0, should_be_in_lru ? 1 : 0);
        }
        n_lru += should_be_in_lru ? 1 : 0;
    }
    if (n_zero != pool_.n_free() || pool_.n_free() + pool_.n_used() != n_blocks()) {
        return make_error(ErrorCode::kInternal, "kvcache: %d blocks unreferenced but %d free, %d used, %d total",
                          n_zero, pool_.n_free(), pool_.n_used(), n_blocks());
    }
    if (n_cached != cache_.n_cached() || n_lru != cache_.n_evictable()) {
        return make_error(ErrorCode::kInternal, "kvcache: cache counts %d cached, %d evictable; found %d, %d",
                          cache_.n_cached(), cache_.n_evictable(), n_cached, n_lru);
    }
    return Status();
}

}  // namespace gannet::kvcache
