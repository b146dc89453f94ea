#include "kvcache/prefix_cache.h"

#include <algorithm>

namespace gannet::kvcache {
namespace {

// splitmix64's finalizer: a cheap bijective mix whose output bits each depend on every input bit.
uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;  // 2^64 / phi: spreads consecutive inputs apart

}  // namespace

PrefixCache::PrefixCache(int32_t n_blocks, int32_t block_size, uint64_t hash_seed)
    : block_size_(block_size),
      root_hash_(mix64(hash_seed + kGolden)),
      entries_(static_cast<size_t>(n_blocks)),
      tokens_(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size)) {
    GANNET_CHECK(n_blocks >= 0 && block_size > 0);
    index_.reserve(static_cast<size_t>(n_blocks));
}

uint64_t PrefixCache::chain_hash(uint64_t parent_hash, std::span<const TokenId> tokens) {
    uint64_t h = mix64(parent_hash ^ (kGolden * (tokens.size() + 1)));
    for (TokenId t : tokens) {
        h = mix64(h + kGolden + static_cast<uint32_t>(t));
    }
    return h;
}

std::span<const TokenId> PrefixCache::tokens_of(BlockId block) const {
    return std::span<const TokenId>(tokens_).subspan(static_cast<size_t>(block) * static_cast<size_t>(block_size_),
                                                     static_cast<size_t>(block_size_));
}

BlockId PrefixCache::find(uint64_t hash, uint64_t parent_hash, std::span<const TokenId> tokens) const {
    GANNET_CHECK(static_cast<int32_t>(tokens.size()) == block_size_);
    auto it = index_.find(hash);
    if (it == index_.end()) {
        return kNoBlock;
    }
    const BlockId b = it->second;
    const Entry& e = entries_[static_cast<size_t>(b)];
    if (e.parent_hash != parent_hash || !std::ranges::equal(tokens_of(b), tokens)) {
        return kNoBlock;  // a hash collision: recomputing is always correct
    }
    return b;
}

bool PrefixCache::insert(BlockId block, uint64_t hash, uint64_t parent_hash, std::span<const TokenId> tokens) {
    GANNET_CHECK(static_cast<int32_t>(tokens.size()) == block_size_);
    Entry& e = entries_[static_cast<size_t>(block)];
    GANNET_CHECK(!e.is_cached);
    if (!index_.emplace(hash, block).second) {
        return false;
    }
    e.hash = hash;
    e.parent_hash = parent_hash;
    e.is_cached = true;
    std::ranges::copy(tokens, tokens_.begin() + static_cast<ptrdiff_t>(block) * block_size_);
    return true;
}

void PrefixCache::erase(BlockId block) {
    Entry& e = entries_[static_cast<size_t>(block)];
    GANNET_CHECK(e.is_cached);
    if (e.is_in_lru) {
        mark_referenced(block);
    }
    index_.erase(e.hash);
    e.is_cached = false;
}

void PrefixCache::mark_unreferenced(BlockId block) {
    Entry& e = entries_[static_cast<size_t>(block)];
    GANNET_CHECK(e.is_cached && !e.is_in_lru);
    e.is_in_lru = true;
    e.lru_prev = lru_tail_;
    e.lru_next = kNoBlock;
    if (lru_tail_ != kNoBlock) {
        entries_[static_cast<size_t>(lru_tail_)].lru_next = block;
    } else {
        lru_head_ = block;
    }
    lru_tail_ = block;
    ++n_evictable_;
}

void PrefixCache::mark_referenced(BlockId block) {
    Entry& e = entries_[static_cast<size_t>(block)];
    GANNET_CHECK(e.is_cached && e.is_in_lru);
    if (e.lru_prev != kNoBlock) {
        entries_[static_cast<size_t>(e.lru_prev)].lru_next = e.lru_next;
    } else {
        lru_head_ = e.lru_next;
    }
    if (e.lru_next != kNoBlock) {
        entries_[static_cast<size_t>(e.lru_next)].lru_prev = e.lru_prev;
    } else {
        lru_tail_ = e.lru_prev;
    }
    e.lru_prev = kNoBlock;
    e.lru_next = kNoBlock;
    e.is_in_lru = false;
    --n_evictable_;
}

}  // namespace gannet::kvcache
