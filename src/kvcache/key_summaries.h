// Per-block key summaries for block-sparse attention: for each (block, layer, kv head) a few vectors
// of head_dim floats (KeySummaryKind in kv_layout.h) that bound what the block's keys can score,
// so attention can skip blocks that cannot matter. This is the host storage and its update rule; the
// attention code fills it as it writes keys, and a device copy uses the same layout.
// Not thread-safe for writers; concurrent reads of a stable array are fine.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "kvcache/kv_layout.h"

namespace gannet::kvcache {

class KeySummaries {
public:
    // kInvalidArgument from layout.validate(); kResourceExhausted when the host allocation fails.
    static Result<KeySummaries> create(const KvCacheLayout& layout);

    KeySummaryKind kind() const { return layout_.key_summary; }

    // [n_summary_vectors, head_dim] for (block, layer, head). For kMinMax row 0 is the per-channel
    // min and row 1 the max. Meaningful only once slot 0 of the block has been added.
    // View valid while this object lives. REQUIRES: indices in range.
    std::span<float> at(BlockId block, int32_t layer, int32_t head);
    std::span<const float> at(BlockId block, int32_t layer, int32_t head) const;

    // Folds the key written at `slot` into the summary. Slot 0 starts the summary afresh, because a
    // reused block still holds its previous owner's summary; later slots widen it. Adding the same
    // key twice changes nothing. No-op for kNone. REQUIRES: key.size() == head_dim.
    void add_key(BlockId block, int32_t layer, int32_t head, int32_t slot, std::span<const float> key);

    // The summary travels with the block on copy-on-write.
    void copy_block(BlockId src, BlockId dst);

    // The whole array, [n_blocks, summary_floats_per_block], e.g. for upload to a device.
    std::span<const float> data() const { return data_; }

private:
    explicit KeySummaries(const KvCacheLayout& layout) : layout_(layout) {}

    KvCacheLayout layout_;
    std::vector<float> data_;
};

}  // namespace gannet::kvcache
