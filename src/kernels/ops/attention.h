// Causal multi-head attention of a batch of query tokens over contiguous f32 K/V, with grouped-query
// heads, an optional sliding window and optional tanh soft-capping of the scores: the plain
// reference the flash attention over the paged cache (model/paged_attention.h, kernels/
// attention_cpu.h) and the CUDA attention kernels are tested against. K and V are addressed as
// (base pointer, stride per position). Query t at position p sees cached positions j with j <= p
// and, with a window w > 0, p - j < w (Hugging Face's and llama.cpp's sliding-window rule).
// Thread-safety: pure; the pool must not be in use by another thread during the call.
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"
#include "base/thread_pool.h"

namespace gannet::kernels {

struct AttentionArgs {
    const float* q = nullptr;            // [n_tokens, n_heads, head_dim_k]
    const int32_t* positions = nullptr;  // [n_tokens], each < n_kv
    const float* k = nullptr;            // position j, kv head g at k + j * k_stride + g * head_dim_k
    int64_t k_stride = 0;                // floats between consecutive positions
    const float* v = nullptr;            // position j, kv head g at v + j * v_stride + g * head_dim_v
    int64_t v_stride = 0;
    float* out = nullptr;  // [n_tokens, n_heads, head_dim_v]
    int64_t n_tokens = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;  // divides n_heads
    int64_t head_dim_k = 0;
    int64_t head_dim_v = 0;
    int64_t n_kv = 0;      // cached positions [0, n_kv) are valid
    float scale = 1.0f;    // multiplies q·k before the softcap
    float softcap = 0.0f;  // 0: off; else score = softcap * tanh(score / softcap)
    int64_t window = 0;    // 0: full causal; else sliding window of this many positions
};

// Floats of scratch attention() uses for a pool of n_threads, up to n_kv cached positions and
// n_heads / n_kv_heads query heads per kv head. With the default 1 (the minimum), each head is
// processed alone; scratch for the whole group lets the heads of a group share K/V loads.
int64_t attention_scratch_floats(int n_threads, int64_t n_kv, int64_t n_heads_per_kv_head = 1);

// kInvalidArgument for inconsistent head counts or a position outside [0, n_kv).
// REQUIRES: scratch holds at least attention_scratch_floats(pool.n_threads(), a.n_kv) floats.
Status attention(const AttentionArgs& a, std::span<float> scratch, ThreadPool& pool);

}  // namespace gannet::kernels
