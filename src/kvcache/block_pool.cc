#include "kvcache/block_pool.h"

namespace gannet::kvcache {

BlockPool::BlockPool(int32_t n_blocks) {
    GANNET_CHECK(n_blocks >= 0);
    refcount_.assign(static_cast<size_t>(n_blocks), 0);
    free_.reserve(static_cast<size_t>(n_blocks));
    // Pushed in reverse so the first allocations hand out 0, 1, 2, ...: easier to read in logs and tests.
    for (BlockId b = n_blocks - 1; b >= 0; --b) {
        free_.push_back(b);
    }
}

Result<std::vector<BlockId>> BlockPool::allocate(int32_t n) {
    std::vector<BlockId> out;
    GANNET_RETURN_IF_ERROR(allocate_into(n, out));
    return out;
}

Status BlockPool::allocate_into(int32_t n, std::vector<BlockId>& out) {
    GANNET_CHECK(n >= 0);
    if (n > n_free()) {
        return make_error(ErrorCode::kResourceExhausted, "kvcache: out of blocks: need %d, %d free of %d", n, n_free(),
                          n_blocks());
    }
    for (int32_t i = 0; i < n; ++i) {
        const BlockId b = free_.back();
        free_.pop_back();
        GANNET_CHECK(refcount_[static_cast<size_t>(b)] == 0);
        refcount_[static_cast<size_t>(b)] = 1;
        out.push_back(b);
    }
    return Status();
}

void BlockPool::retain(std::span<const BlockId> blocks) {
    for (BlockId b : blocks) {
        GANNET_CHECK(b >= 0 && b < n_blocks());
        int32_t& rc = refcount_[static_cast<size_t>(b)];
        GANNET_CHECK(rc > 0);  // retaining a free block would let the free list hand it out twice
        ++rc;
    }
}

void BlockPool::release(std::span<const BlockId> blocks) {
    for (BlockId b : blocks) {
        GANNET_CHECK(b >= 0 && b < n_blocks());
        int32_t& rc = refcount_[static_cast<size_t>(b)];
        GANNET_CHECK(rc > 0);  // double release
        if (--rc == 0) {
            free_.push_back(b);
        }
    }
}

int32_t BlockPool::refcount(BlockId block) const {
    GANNET_CHECK(block >= 0 && block < n_blocks());
    return refcount_[static_cast<size_t>(block)];
}

}  // namespace gannet::kvcache
