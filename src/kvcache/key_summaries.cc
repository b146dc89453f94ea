#include "kvcache/key_summaries.h"

#include <algorithm>
#include <new>

namespace gannet::kvcache {

Result<KeySummaries> KeySummaries::create(const KvCacheLayout& layout) {
    GANNET_RETURN_IF_ERROR(layout.validate());
    KeySummaries s(layout);
    try {
        s.data_.assign(static_cast<size_t>(layout.n_blocks) * layout.summary_floats_per_block(), 0.0f);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::kResourceExhausted, "kvcache: cannot allocate %zu bytes of key summaries",
                          static_cast<size_t>(layout.n_blocks) * layout.summary_floats_per_block() * sizeof(float));
    }
    return s;
}

std::span<float> KeySummaries::at(BlockId block, int32_t layer, int32_t head) {
    GANNET_DCHECK(block >= 0 && block < layout_.n_blocks && layer >= 0 && layer < layout_.n_layers && head >= 0
                  && head < layout_.n_kv_heads);
    return std::span<float>(data_).subspan(layout_.summary_offset(block, layer, head),
                                           layout_.summary_floats_per_head());
}

std::span<const float> KeySummaries::at(BlockId block, int32_t layer, int32_t head) const {
    GANNET_DCHECK(block >= 0 && block < layout_.n_blocks && layer >= 0 && layer < layout_.n_layers && head >= 0
                  && head < layout_.n_kv_heads);
    return std::span<const float>(data_).subspan(layout_.summary_offset(block, layer, head),
                                                 layout_.summary_floats_per_head());
}

void KeySummaries::add_key(BlockId block, int32_t layer, int32_t head, int32_t slot, std::span<const float> key) {
    if (layout_.key_summary == KeySummaryKind::kNone) {
        return;
    }
    GANNET_CHECK(static_cast<int32_t>(key.size()) == layout_.head_dim);
    GANNET_DCHECK(slot >= 0 && slot < layout_.block_size);
    std::span<float> s = at(block, layer, head);
    const size_t d = key.size();
    float* lo = s.data();
    float* hi = s.data() + d;
    if (slot == 0) {
        std::ranges::copy(key, lo);
        std::ranges::copy(key, hi);
        return;
    }
    for (size_t i = 0; i < d; ++i) {
        lo[i] = std::min(lo[i], key[i]);
        hi[i] = std::max(hi[i], key[i]);
    }
}

void KeySummaries::copy_block(BlockId src, BlockId dst) {
    const size_t n = layout_.summary_floats_per_block();
    GANNET_CHECK(src >= 0 && src < layout_.n_blocks && dst >= 0 && dst < layout_.n_blocks);
    std::copy_n(data_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(src) * n), n,
                data_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(dst) * n));
}

}  // namespace gannet::kvcache
