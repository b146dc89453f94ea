// Host memory for the paged KV cache: one allocation laid out as KvCacheLayout says, plus the
// per-block key summaries. The CPU attention reads K/V through a sequence's block table with k()/v();
// the runner applies the scheduler's block copies with copy_blocks() before each forward.
// Not thread-safe for writers: the engine loop owns it; attention threads may read disjoint
// tiles and write disjoint slots concurrently.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "base/result.h"
#include "kvcache/key_summaries.h"
#include "kvcache/kv_layout.h"

namespace gannet::kvcache {

class KvStorage {
public:
    // kInvalidArgument from layout.validate(); kResourceExhausted when the host allocation fails.
    // Memory starts zeroed, so reading a slot that was never written is deterministic (and a bug).
    static Result<KvStorage> create(const KvCacheLayout& layout);

    // Move-only: the tiles handed out point into this object's one allocation.
    KvStorage(KvStorage&&) noexcept = default;
    KvStorage& operator=(KvStorage&&) noexcept = default;
    KvStorage(const KvStorage&) = delete;
    KvStorage& operator=(const KvStorage&) = delete;

    const KvCacheLayout& layout() const { return layout_; }

    // Start of the [block_size, head_dim] tile of keys (values) of (block, layer, head), in
    // layout().dtype (rows of layout().row_bytes()); 64-byte aligned for f32/f16/bf16 tiles of
    // whole cache lines. Valid while this object lives. REQUIRES: indices in range.
    std::byte* k(BlockId block, int32_t layer, int32_t head) {
        return base() + layout_.k_offset(block, layer, head, 0);
    }
    std::byte* v(BlockId block, int32_t layer, int32_t head) {
        return base() + layout_.v_offset(block, layer, head, 0);
    }
    const std::byte* k(BlockId block, int32_t layer, int32_t head) const {
        return base() + layout_.k_offset(block, layer, head, 0);
    }
    const std::byte* v(BlockId block, int32_t layer, int32_t head) const {
        return base() + layout_.v_offset(block, layer, head, 0);
    }

    // The [block_size, index_dim] index keys of (block, layer); nullptr when layout().index_dim is 0.
    // Written by the attention for every token of a layer with an index branch. REQUIRES: in range.
    float* index_k(BlockId block, int32_t layer) {
        return index_.empty() ? nullptr : index_.data() + layout_.index_offset(block, layer);
    }
    const float* index_k(BlockId block, int32_t layer) const {
        return index_.empty() ? nullptr : index_.data() + layout_.index_offset(block, layer);
    }
    KeySummaries& summaries() { return summaries_; }
    const KeySummaries& summaries() const { return summaries_; }

    // Copies whole blocks (K, V, key summary and index keys) in list order. BlockManager keeps sources and
    // destinations disjoint within a step, so the order does not matter for its copies.
    // REQUIRES: block ids in range.
    void copy_blocks(std::span<const BlockCopy> copies);

    size_t size_bytes() const { return layout_.total_bytes(); }

private:
    KvStorage(const KvCacheLayout& layout, KeySummaries summaries)
        : layout_(layout), summaries_(std::move(summaries)) {}
    std::byte* base() { return buffer_.data() + align_offset_; }
    const std::byte* base() const { return buffer_.data() + align_offset_; }

    KvCacheLayout layout_;
    KeySummaries summaries_;
    std::vector<float> index_;       // [n_blocks, index_floats_per_block]; empty when index_dim is 0
    std::vector<std::byte> buffer_;  // host, total_bytes + alignment slack; moving keeps data() stable
    size_t align_offset_ = 0;        // from buffer_.data() to the first 64-byte boundary (a cache line, AVX-512 load)
};

}  // namespace gannet::kvcache
