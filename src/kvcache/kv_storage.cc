#include "kvcache/kv_storage.h"

#include <cstdint>
#include <cstring>
#include <new>

namespace gannet::kvcache {
namespace {
constexpr size_t kAlign = 64;
}  // namespace

Result<KvStorage> KvStorage::create(const KvCacheLayout& layout) {
    GANNET_RETURN_IF_ERROR(layout.validate());
    GANNET_ASSIGN_OR_RETURN(KeySummaries summaries, KeySummaries::create(layout));
    KvStorage s(layout, std::move(summaries));
    try {
        s.buffer_.resize(layout.total_bytes() + kAlign);
        s.index_.resize(static_cast<size_t>(layout.n_blocks) * layout.index_floats_per_block());
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::kResourceExhausted, "kvcache: cannot allocate %zu bytes of host KV cache",
                          layout.total_bytes());
    } catch (const std::length_error&) {
        return make_error(ErrorCode::kResourceExhausted, "kvcache: %zu bytes of host KV cache is too large",
                          layout.total_bytes());
    }
    const auto addr = reinterpret_cast<uintptr_t>(s.buffer_.data());
    s.align_offset_ = (kAlign - addr % kAlign) % kAlign;
    return s;
}

void KvStorage::copy_blocks(std::span<const BlockCopy> copies) {
    const size_t n = layout_.block_bytes();
    for (const BlockCopy& c : copies) {
        GANNET_CHECK(c.src >= 0 && c.src < layout_.n_blocks && c.dst >= 0 && c.dst < layout_.n_blocks);
        if (c.src == c.dst) {
            continue;
        }
        std::memcpy(base() + static_cast<size_t>(c.dst) * n, base() + static_cast<size_t>(c.src) * n, n);
        summaries_.copy_block(c.src, c.dst);
        if (!index_.empty()) {
            const size_t m = layout_.index_floats_per_block();
            std::memcpy(index_.data() + static_cast<size_t>(c.dst) * m, index_.data() + static_cast<size_t>(c.src) * m,
                        m * sizeof(float));
        }
    }
}

}  // namespace gannet::kvcache
