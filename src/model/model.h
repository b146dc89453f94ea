// Model: a loaded llama-family model (llama, qwen2, qwen3, gemma3) and its CPU forward pass for one
// sequence. The GGUF file stays mapped; matrices are used in place, in their stored dtype, through
// kernels::matmul. Activation buffers are kept between calls and only grow, so after the first
// (prefill) call, decode steps of one token do not allocate.
// Owner: model. Thread-safety: load() results may be shared read-only, but forward() mutates the
// activation buffers, so one thread calls forward() at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kvcache/kv_storage.h"
#include "model/kv_cache.h"
#include "model/model_config.h"
#include "model/weights.h"

namespace gannet::model {

enum class LogitsMode { kLast, kAll };

// One sequence's share of a batched step over the paged KV cache (forward_batch).
struct BatchSeq {
    std::span<const int32_t> tokens;                // [n] tokens whose K/V this step computes
    int32_t pos = 0;                                // position of tokens[0]; tokens[i] is at pos + i
    std::span<const kvcache::BlockId> block_table;  // covers positions [0, pos + n)
    bool is_logits_needed = false;                  // logits of its last token are returned
};

class Model {
public:
    // Errors: those of gguf::File::open (kNotFound, kDataLoss), read_model_config (kUnimplemented
    // for an unknown architecture) and bind_weights (kDataLoss for missing or misshapen tensors).
    static Result<std::unique_ptr<Model>> load(const std::string& path);
    static Result<std::unique_ptr<Model>> from_file(gguf::File file);

    const ModelConfig& config() const { return cfg_; }
    const ModelWeights& weights() const { return weights_; }
    const gguf::File& file() const { return file_; }
    // The dtype name of the bulk of the weights (the first layer's ffn_down), e.g. "f16", "q4_0".
    const char* dtype_name() const;

    // A cache for n_ctx positions whose K/V rows are stored as kv_type (f32, f16, q8_0 or q4_0; see
    // tensor/kv_quant.h). kInvalidArgument when n_ctx is not in [1, n_ctx_train], kv_type is not a
    // cache type, or the head size is not a multiple of 32 for q8_0/q4_0.
    Result<KvCache> create_cache(int64_t n_ctx, tensor::DType kv_type = tensor::DType::kF32) const;

    // Runs tokens at positions through the model, writing their keys and values into cache, and
    // returns logits: [n_vocab] for the last token (kLast) or [n_tokens, n_vocab] (kAll). The view
    // is valid until the next forward() call. Positions must be consecutive, start at or before
    // cache.n_pos() (earlier positions are overwritten) and end before cache.n_ctx(); afterwards
    // cache.n_pos() is one past the last position.
    // Errors: kInvalidArgument for empty input, mismatched sizes, bad positions, a token id out of
    // range or a cache made for another model; kUnimplemented when a weight dtype has no matmul.
    // After an error from a layer, the cache entries from positions[0] on are unspecified.
    Result<std::span<const float>> forward(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                                           KvCache& cache, LogitsMode mode, ThreadPool& pool);

    // The serving path: every sequence's tokens concatenated into one activation matrix (each
    // projection is one matmul over the whole batch); K/V written into the paged cache `kv`
    // (n_kv_heads/head_dim/n_layers of this model; rows of its dtype: f32 copied, f16/bf16/q8_0/q4_0
    // quantized on write) through each block table, key summaries updated from the float keys;
    // attention per sequence reads K/V back through its block table, one tile at a time
    // (dequantized into a per-thread scratch for non-f32 types).
    // Returns logits [n_rows, n_vocab], one row per seq with is_logits_needed, in seqs order; valid
    // until the next forward call. Each token row is computed independently of its batch-mates
    // (matmul rows, per-(token, head) attention), so results do not depend on the batch.
    // Errors: kInvalidArgument for an empty batch, a token out of range, a block table too short, or
    // a cache layout that does not match the model.
    Result<std::span<const float>> forward_batch(std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                                 ThreadPool& pool);

    // Construction goes through load()/from_file(); the key keeps the constructor theirs alone.
    class Key {
        friend class Model;
        Key() = default;
    };
    Model(Key, gguf::File file, ModelConfig cfg, ModelWeights weights)
        : file_(std::move(file)), cfg_(std::move(cfg)), weights_(std::move(weights)) {}

private:
    Status check_inputs(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                        const KvCache& cache) const;
    void reserve(int64_t n_tokens, int64_t n_logit_rows, int64_t n_ctx, int n_threads);
    // transformer_block.cc: one layer, updating x_ in place. qkv_block is shared by both cache
    // layouts: normalized x_ -> q_ [n_tokens, q_dim], k_rows/v_rows [n_tokens, k_dim/v_dim], with
    // biases, QK-norm and RoPE applied.
    Status qkv_block(int64_t layer, const int32_t* positions, int64_t n_tokens, float* k_rows, float* v_rows,
                     ThreadPool& pool);
    Status attention_block(int64_t layer, std::span<const int32_t> positions, KvCache& cache, ThreadPool& pool);
    Status ffn_block(int64_t layer, int64_t n_tokens, ThreadPool& pool);
    // forward_batch.cc: the attention sub-block over the paged cache.
    Status paged_attention_block(int64_t layer, std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                 ThreadPool& pool);

    gguf::File file_;  // owns the mapping every WeightMatrix points into
    ModelConfig cfg_;
    ModelWeights weights_;

    // Activations, sized for the largest batch seen so far. Shapes for n_tokens rows.
    std::vector<float> x_;             // [n_tokens, n_embd] residual stream
    std::vector<float> xb_;            // [n_tokens, n_embd] normalized input of a sub-block
    std::vector<float> q_;             // [n_tokens, n_heads * head_dim_k]
    std::vector<float> att_;           // [n_tokens, n_heads * head_dim_v]
    std::vector<float> out_;           // [n_tokens, n_embd] sub-block output
    std::vector<float> gate_;          // [n_tokens, n_ff]
    std::vector<float> up_;            // [n_tokens, n_ff]
    std::vector<float> logits_;        // [n_logit_rows, n_vocab]
    std::vector<float> attn_scratch_;  // attention_scratch_floats(n_threads, n_ctx, group)
    std::vector<float> kv_k_f32_;      // [n_kv, k_dim] one layer's keys dequantized (non-f32 KvCache)
    std::vector<float> kv_v_f32_;      // [n_kv, v_dim]
    // forward_batch only.
    std::vector<int32_t> b_tokens_;     // [n_tokens] concatenated tokens
    std::vector<int32_t> b_positions_;  // [n_tokens]
    std::vector<int32_t> b_seq_;        // [n_tokens] index into seqs
    std::vector<float> b_k_;            // [n_tokens, k_dim] projected keys before the cache write (also
                                        // forward()'s staging rows for a non-f32 KvCache)
    std::vector<float> b_v_;            // [n_tokens, v_dim]
    std::vector<float> b_scores_;       // [n_threads, max n_kv] attention scores
    std::vector<float> b_tile_;         // [n_threads, block_size, head_dim] dequantized K or V tile
};

}  // namespace gannet::model
