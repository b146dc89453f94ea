// Where each K and V vector of the paged cache lives in memory, host or device alike. Block-major:
//   KV bytes:     [n_blocks][n_layers][2: K then V][n_kv_heads][block_size][head_dim] of dtype
//   key summary:  [n_blocks][n_layers][n_kv_heads][n_summary_vectors][head_dim] of f32
// Block-major keeps a whole block in one contiguous range, so a copy-on-write copy (or an offload)
// is one memcpy, and each (block, layer, K/V, head) is a contiguous [block_size, head_dim] tile,
// which is what attention reads: one query head against block_size keys.
// Thread-safety: plain value; safe to share.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "kvcache/block_pool.h"

namespace gannet::kvcache {

// KV element type. The kvcache part depends on base only, so this is its own small enum rather than
// tensor::DType; the runner maps between them.
enum class KvDType : uint8_t { kF32, kF16, kBF16 };
size_t kv_dtype_size_bytes(KvDType dtype);
const char* kv_dtype_name(KvDType dtype);

// What each block keeps about its keys for block-sparse attention (a block is its unit).
// kMinMax: per channel, the min and the max over the block's keys (Quest-style upper bound of q.k).
// No mean: a slot can be written twice (recomputing the last token after copy-on-write), which a
// running mean would count twice, while min/max is idempotent.
enum class KeySummaryKind : uint8_t { kNone, kMinMax };

struct KvCacheLayout {
    int32_t n_blocks = 0;
    int32_t n_layers = 0;
    int32_t n_kv_heads = 0;
    int32_t head_dim = 0;
    int32_t block_size = 16;  // tokens per block
    KvDType dtype = KvDType::kF16;
    KeySummaryKind key_summary = KeySummaryKind::kMinMax;

    // kInvalidArgument naming the field when a count is < 1 or the cache's size overflows 2^62 bytes.
    Status validate() const;

    // Bytes of one [block_size, head_dim] tile.
    size_t tile_bytes() const { return static_cast<size_t>(block_size) * static_cast<size_t>(head_dim) * elem_bytes(); }
    size_t block_bytes() const {
        return static_cast<size_t>(n_layers) * 2 * static_cast<size_t>(n_kv_heads) * tile_bytes();
    }
    size_t total_bytes() const { return static_cast<size_t>(n_blocks) * block_bytes(); }
    size_t elem_bytes() const { return kv_dtype_size_bytes(dtype); }

    // Byte offsets of the K (V) vector of one token slot. REQUIRES: every index in range.
    size_t k_offset(BlockId block, int32_t layer, int32_t head, int32_t slot) const {
        return tile_offset(block, layer, 0, head)
               + static_cast<size_t>(slot) * static_cast<size_t>(head_dim) * elem_bytes();
    }
    size_t v_offset(BlockId block, int32_t layer, int32_t head, int32_t slot) const {
        return tile_offset(block, layer, 1, head)
               + static_cast<size_t>(slot) * static_cast<size_t>(head_dim) * elem_bytes();
    }

    // Key summary: vectors of head_dim floats per (block, layer, head); offsets count floats.
    int32_t n_summary_vectors() const { return key_summary == KeySummaryKind::kMinMax ? 2 : 0; }
    size_t summary_floats_per_head() const {
        return static_cast<size_t>(n_summary_vectors()) * static_cast<size_t>(head_dim);
    }
    size_t summary_floats_per_block() const {
        return static_cast<size_t>(n_layers) * static_cast<size_t>(n_kv_heads) * summary_floats_per_head();
    }
    size_t summary_offset(BlockId block, int32_t layer, int32_t head) const {
        return static_cast<size_t>(block) * summary_floats_per_block()
               + (static_cast<size_t>(layer) * static_cast<size_t>(n_kv_heads) + static_cast<size_t>(head))
                     * summary_floats_per_head();
    }

private:
    size_t tile_offset(BlockId block, int32_t layer, int32_t kv, int32_t head) const {
        const size_t tile = (static_cast<size_t>(layer) * 2 + static_cast<size_t>(kv)) * static_cast<size_t>(n_kv_heads)
                            + static_cast<size_t>(head);
        return static_cast<size_t>(block) * block_bytes() + tile * tile_bytes();
    }
};

}  // namespace gannet::kvcache
