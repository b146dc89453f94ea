// Causal attention of a batch of query tokens over contiguous f32 K/V on the GPU (the prefill path).
// Same contract as kernels/ops/attention.h: GQA, positions, an optional sliding window and tanh
// soft-capping. Two kernels: a flash kernel on tensor cores (bf16 Q/K/V/P, f32 softmax and
// accumulation; head_dim 64, 128 or 256 for both K and V) and the simple f32 reference kernel (one
// warp per token and head) for every other shape. Owner: CUDA backend. Thread-safety: pure.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/status.h"
#include "kvcache/kv_layout.h"

namespace gannet::kernels::cuda {

enum class PrefillAttentionKernel {
    kAuto,       // flash for n_tokens >= kFlashMinTokens where supported, else the reference kernel
    kReference,  // the f32 one-warp-per-(token, head) kernel
    kFlash,      // the tensor-core kernel; kUnimplemented where it does not apply
};

// Below this many query tokens kAuto keeps the exact f32 reference kernel: a flash block computes 64
// query rows whatever n_tokens is, and decode steps (n_tokens = 1) should not pay bf16 rounding.
inline constexpr int64_t kFlashMinTokens = 16;

// K/V of one sequence in the paged cache (kvcache/kv_layout.h), read through its block table instead
// of the contiguous k / v rows: the CUDA runner's prefill chunks attend to their cached blocks and to
// themselves this way. Flash kernel only (f32, f16 or bf16 cache).
struct PagedKvSource {
    const void* kv = nullptr;  // the whole cache, device; nullptr: contiguous k / v
    const int32_t* block_table =
        nullptr;              // the sequence's blocks, device: position j is in block_table[j / block_size]
    size_t block_bytes = 0;   // layout.block_bytes()
    size_t tile_bytes = 0;    // layout.tile_bytes()
    size_t layer_offset = 0;  // bytes from a block's start to the layer's K tile of KV head 0
    int32_t block_size = 0;
    kvcache::KvDType dtype = kvcache::KvDType::kF32;
};

// The source for `layer` of a cache with this layout.
inline PagedKvSource paged_kv_source(const kvcache::KvCacheLayout& layout, int32_t layer, const void* kv,
                                     const int32_t* block_table) {
    return {
        .kv = kv,
        .block_table = block_table,
        .block_bytes = layout.block_bytes(),
        .tile_bytes = layout.tile_bytes(),
        .layer_offset = static_cast<size_t>(layer) * 2 * static_cast<size_t>(layout.n_kv_heads) * layout.tile_bytes(),
        .block_size = layout.block_size,
        .dtype = layout.dtype};
}

struct PrefillAttentionArgs {
    const float* q = nullptr;            // [n_tokens, n_heads, head_dim_k], device
    const int32_t* positions = nullptr;  // [n_tokens], device, each < n_kv
    const float* k = nullptr;            // position j, kv head g at k + j * k_stride + g * head_dim_k, device
    int64_t k_stride = 0;
    const float* v = nullptr;  // position j, kv head g at v + j * v_stride + g * head_dim_v, device
    int64_t v_stride = 0;
    float* out = nullptr;  // [n_tokens, n_heads, head_dim_v], device
    int64_t n_tokens = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;  // divides n_heads
    int64_t head_dim_k = 0;  // <= 256
    int64_t head_dim_v = 0;  // <= 256
    int64_t n_kv = 0;
    float scale = 1.0f;
    float softcap = 0.0f;  // 0: off
    int64_t window = 0;    // 0: full causal
    PrefillAttentionKernel kernel = PrefillAttentionKernel::kAuto;
    PagedKvSource paged;  // .kv set: K/V come from the paged cache (k, v, strides unused; flash only)
};

// Whether the flash kernel takes these args: head_dim_k == head_dim_v in {64, 128, 256}; q, k, v
// 16-byte aligned and k_stride, v_stride multiples of 4 floats (16-byte loads); and the device lets a
// block have the shared memory the head dim needs (~64/96/160 KB). Host-only check of the arguments
// and the current device.
bool prefill_attention_flash_supported(const PrefillAttentionArgs& a);
// Whether the flash kernel takes paged K/V of this head dim (for K and V) on the current device.
bool paged_prefill_supported(int64_t head_dim);

// kInvalidArgument for inconsistent head counts, head dims over 256 or null pointers; kUnimplemented
// for kernel == kFlash (or a paged source) where prefill_attention_flash_supported() is false or the
// paged cache is quantized; kInternal for a launch failure.
// REQUIRES (device data, unchecked): positions in [0, n_kv). The flash kernel reads every K/V row from
// the smallest visible position of a 64-token tile to its largest position (the reference reads only
// each query's own range), so those rows must hold finite values (a masked key weighs exactly 0, but
// 0 · NaN is NaN).
Status prefill_attention(const PrefillAttentionArgs& a, cudaStream_t stream);

}  // namespace gannet::kernels::cuda
