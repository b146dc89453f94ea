// Where each K and V vector of the paged cache lives in memory, host or device alike. Block-major:
//   KV bytes:     [n_blocks][n_layers][2: K then V][n_kv_heads][block_size][row_bytes()]
//   key summary:  [n_blocks][n_layers][n_kv_heads][n_summary_vectors][head_dim] of f32
//   index keys:   [n_blocks][n_layers][block_size][index_dim] of f32 (MSA's index-K side cache;
//                 none when index_dim is 0, the default)
// A row is one token's head_dim values in dtype: plain elements for f32/f16/bf16, or for q8_0/q4_0
// head_dim / 32 GGUF blocks (q8_0: f16 scale + 32 int8 = 34 bytes; q4_0: f16 scale + 16 bytes of
// nibbles = 18 bytes), so a tile of consecutive rows is itself a valid q8_0/q4_0 run of
// block_size * head_dim values. Key summaries stay f32, taken from the keys before quantization.
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
// kQ8_0/kQ4_0 are block types (32 values per block): head_dim must be a multiple of 32.
enum class KvDType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };
// Values per storage block (1 for f32/f16/bf16, 32 for q8_0/q4_0) and the bytes of one such block
// (4, 2, 2, 34, 18); 0 for a value outside the enum.
int32_t kv_dtype_block_elems(KvDType dtype);
size_t kv_dtype_block_bytes(KvDType dtype);
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
    // Floats per token of the sparse-attention index key (MiniMax-M3 MSA: one shared index-key
    // head per layer); 0 for models without an index branch.
    int32_t index_dim = 0;

    // kInvalidArgument naming the field when a count is < 1, when head_dim is not a whole number of
    // the dtype's blocks (q8_0/q4_0 need a multiple of 32), or when the size overflows 2^62 bytes.
    Status validate() const;

    // Bytes of one token's K (or V) row of head_dim values. REQUIRES: validate() is ok.
    size_t row_bytes() const {
        return static_cast<size_t>(head_dim / kv_dtype_block_elems(dtype)) * kv_dtype_block_bytes(dtype);
    }
    // Bytes of one [block_size, head_dim] tile.
    size_t tile_bytes() const { return static_cast<size_t>(block_size) * row_bytes(); }
    size_t block_bytes() const {
        return static_cast<size_t>(n_layers) * 2 * static_cast<size_t>(n_kv_heads) * tile_bytes();
    }
    size_t total_bytes() const { return static_cast<size_t>(n_blocks) * block_bytes(); }

    // Byte offsets of the K (V) row of one token slot. REQUIRES: every index in range.
    size_t k_offset(BlockId block, int32_t layer, int32_t head, int32_t slot) const {
        return tile_offset(block, layer, 0, head) + static_cast<size_t>(slot) * row_bytes();
    }
    size_t v_offset(BlockId block, int32_t layer, int32_t head, int32_t slot) const {
        return tile_offset(block, layer, 1, head) + static_cast<size_t>(slot) * row_bytes();
    }

    // Key summary: vectors of head_dim floats per (block, layer, head); offsets count floats.
    int32_t n_summary_vectors() const { return key_summary == KeySummaryKind::kMinMax ? 2 : 0; }
    size_t summary_floats_per_head() const {
        return static_cast<size_t>(n_summary_vectors()) * static_cast<size_t>(head_dim);
    }
    size_t summary_floats_per_block() const {
        return static_cast<size_t>(n_layers) * static_cast<size_t>(n_kv_heads) * summary_floats_per_head();
    }
    // Index keys: floats of one block, and the offset of (block, layer)'s [block_size, index_dim].
    size_t index_floats_per_block() const {
        return static_cast<size_t>(n_layers) * static_cast<size_t>(block_size) * static_cast<size_t>(index_dim);
    }
    size_t index_offset(BlockId block, int32_t layer) const {
        return static_cast<size_t>(block) * index_floats_per_block()
               + static_cast<size_t>(layer) * static_cast<size_t>(block_size) * static_cast<size_t>(index_dim);
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

// How many blocks of `layout` (n_blocks ignored) fit in budget_bytes of K/V; 0 when not even one.
// The same byte budget holds ~3.76x the tokens in q8_0 as in f32 (4 vs 34/32 bytes per value).
// REQUIRES: layout.validate() is ok for n_blocks = 1.
int64_t n_blocks_in_budget(const KvCacheLayout& layout, uint64_t budget_bytes);

}  // namespace gannet::kvcache
