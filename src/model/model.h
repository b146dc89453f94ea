// Model: a loaded llama-family model (llama, qwen2, qwen3, gemma3, gemma4) and its one CPU program,
// forward_batch: a batch of sequences over the paged KV cache (src/kvcache) -> logits. Serving, every
// command (through runner::Runner), calibration (through the activation hook) and the tests all run
// it. The GGUF file stays mapped; matrices are used in place, in their stored dtype, through
// kernels::matmul. Activation buffers are kept between calls and only grow, so once a batch shape
// has been seen, decode steps do not allocate.
// Owner: model. Thread-safety: load() results may be shared read-only, but forward_batch() mutates
// the activation buffers, so one thread calls it at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "kvcache/kv_storage.h"
#include "model/model_config.h"
#include "model/sparse_config.h"
#include "model/weights.h"

namespace gannet::model {

// Which logits a single-sequence forward returns (runner::Runner::run_sequence): the last token's,
// or every token's.
enum class LogitsMode { kLast, kAll };
// What a forward returns for the rows it outputs: logits [n_rows, n_vocab], or the final-normed
// hidden states [n_rows, n_embd] the output projection would read (pooled into embeddings by
// /v1/embeddings; the projection is skipped).
enum class OutputKind { kLogits, kHidden };

// Embedding rows that replace the token embeddings at some positions of a sequence: the soft tokens
// of images and audio (issue #20, src/multimodal). Rows are used as they are (the embedding scale
// applies to token rows only, as in transformers' masked_scatter after the scaled lookup).
// [begin, end) positions of one image's soft tokens: on sliding-window layers of a model with
// ModelConfig::is_vision_bidirectional, each of them also sees the later ones (Gemma 4).
struct PositionSpan {
    int32_t begin = 0;
    int32_t end = 0;
};

struct SoftTokenRows {
    std::span<const int32_t> positions;  // absolute positions, strictly ascending
    std::span<const float> rows;         // [positions.size(), n_embd]
    // Image spans, ascending and disjoint. Keys past the step's last token are not there yet, so a
    // prefill chunk that ends inside a span sees the span only up to its own end.
    std::span<const PositionSpan> bidirectional = {};
    bool empty() const { return positions.empty(); }
};

// Soft tokens owned by a request (the engine and runner keep them while the sequence lives).
struct SoftTokens {
    std::vector<int32_t> positions;  // strictly ascending prompt positions
    std::vector<float> rows;         // [positions.size(), n_embd]
    std::vector<PositionSpan> bidirectional;
    SoftTokenRows view() const { return {positions, rows, bidirectional}; }
};

// One sequence's share of a batched step over the paged KV cache (forward_batch).
struct BatchSeq {
    std::span<const int32_t> tokens;                // [n] tokens whose K/V this step computes
    int32_t pos = 0;                                // position of tokens[0]; tokens[i] is at pos + i
    std::span<const kvcache::BlockId> block_table;  // covers positions [0, pos + n)
    bool is_logits_needed = false;                  // logits of its last token are returned
    // Logits of every one of its tokens instead (n rows): what `logits --all`, perplexity and
    // calibration need from a prefill. The engine's steps never ask for it.
    bool is_all_logits_needed = false;
    // kHidden: those rows are hidden states instead of logits. Every seq of a batch that outputs rows
    // must ask for the same kind.
    OutputKind output = OutputKind::kLogits;
    // The sequence's soft tokens; those at positions [pos, pos + n) replace their tokens' rows. The
    // whole prompt's rows may be passed with every chunk of it. Empty: text only.
    SoftTokenRows soft = {};
    // Block-sparse attention for this sequence (issue 17); kDefault: the model's set_sparse_mode().
    SparseMode sparse = SparseMode::kDefault;
};

// Copies each sequence's soft-token rows over its tokens' rows of x [n_tokens, n_embd] (the batch's
// tokens in seqs order, as forward_batch lays them out). kInvalidArgument when a sequence's
// positions are not strictly ascending and non-negative, or rows is not positions.size() * n_embd.
Status apply_soft_tokens(std::span<const BatchSeq> seqs, int64_t n_embd, float* x);
// last_visible[t]: the last key position token t attends to on sliding layers: its own position,
// or later inside a bidirectional span (clipped to its sequence's last token of this step).
// positions: [n_tokens] as forward_batch lays them out. kInvalidArgument for spans that are empty,
// overlapping or out of order.
Status fill_last_visible(std::span<const BatchSeq> seqs, const int32_t* positions, int32_t* last_visible);

// One layer's block selection, for tests and diagnostics: ids [n_tokens, n_kv_heads, stride] as
// select_top_blocks writes them (a row starting with kDenseSelection attends densely), for the
// batch's tokens at positions[t] of sequence seq_of[t].
struct SelectionView {
    int64_t layer = 0;
    int64_t n_tokens = 0;
    int64_t n_kv_heads = 0;
    int64_t stride = 0;
    const int32_t* ids = nullptr;
    const int32_t* positions = nullptr;
    const int32_t* seq_of = nullptr;
};
using SelectionHook = std::function<void(const SelectionView& view)>;

// Attention-mass recall of a block selection: for each (query, head) whose selection dropped some
// visible block, the share of its dense softmax attention that falls in the selected blocks.
struct RecallStats {
    std::vector<double> sum;     // [n_layers] summed recall
    std::vector<int64_t> count;  // [n_layers] (query, head) pairs measured
    double min = 1.0;
};

// One sequence's canvas in a decoder (block-diffusion) pass, forward_canvas.
struct CanvasSeq {
    std::span<const int32_t> canvas;                // [canvas_length] tokens being denoised
    int32_t pos = 0;                                // position of canvas[0]; the cache holds [0, pos)
    std::span<const kvcache::BlockId> block_table;  // covers positions [0, pos) (may be empty at pos 0)
    std::span<const float> self_cond_logits;        // [canvas_length, n_vocab], or empty on a first step
};

// Where in a layer the activation hook sees a matrix input: the normalized rows the Q/K/V
// projections read, the attention output wo reads, the normalized rows gate/up read, the activated
// rows w_down reads, and (layer -1) the final-normed rows of the output projection.
enum class ActivationSite { kAttnInput, kAttnOutput, kFfnInput, kFfnDownInput, kOutputInput };
// x: [n_rows, dim] floats, valid during the call only. kOutputInput sees only the rows whose logits
// are computed.
using ActivationHook =
    std::function<void(ActivationSite site, int64_t layer, const float* x, int64_t n_rows, int64_t dim)>;

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

    // The one forward: every sequence's tokens concatenated into one activation matrix (each
    // projection is one matmul over the whole batch); K/V written into the paged cache `kv`
    // (n_kv_heads/head_dim/n_layers of this model; rows of its dtype: f32 copied, f16/bf16/q8_0/q4_0
    // quantized on write) through each block table, key summaries updated from the float keys;
    // attention per sequence reads K/V back through its block table, one tile at a time
    // (dequantized into a per-thread scratch for non-f32 types).
    // Returns logits [n_rows, n_vocab]: one row per seq with is_logits_needed (n rows for one with
    // is_all_logits_needed), in seqs order; valid until the next forward_batch call. With
    // OutputKind::kHidden the rows are the final-normed hidden states [n_rows, n_embd] instead. Each token row is
    // computed independently of its batch-mates (matmul rows, per-(token, head) attention), so results do not depend on
    // the batch. Errors: kInvalidArgument for an empty batch, a token out of range, a block table too short, a cache
    // layout that does not match the model, output kinds mixed in one batch, or soft-token rows whose
    // count, order or width is wrong.
    Result<std::span<const float>> forward_batch(std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                                 ThreadPool& pool);

    // The decoder mode of a diffusion model (cfg.is_diffusion(); forward_canvas.cc): each canvas
    // attends bidirectionally to itself and to its sequence's cached prefix [0, pos) (written by
    // forward_batch, the encoder mode), and nothing is written to the cache. The canvas embeddings
    // get the self-conditioning signal of self_cond_logits (softmax @ token_embd * sqrt(n_embd),
    // exactly; zeros when empty). Returns logits [sum of canvas lengths, n_vocab], softcapped, in
    // seqs order; valid until the next forward call. Errors: kInvalidArgument for a model that is
    // not a diffusion model, an empty batch, a canvas not canvas_length long, a token out of range,
    // self-conditioning logits of the wrong size, or a block table too short.
    Result<std::span<const float>> forward_canvas(std::span<const CanvasSeq> seqs, kvcache::KvStorage& kv,
                                                  ThreadPool& pool);

    // forward_canvas's self-conditioning: 0 (the default) computes softmax(logits) @ token_embd
    // exactly over the whole vocabulary; k > 0 approximates it with the k most likely tokens of each
    // row (softmax renormalized over them; as Ollama's SelfCondK), k * n_embd work per row instead
    // of n_vocab * n_embd. It changes the outputs (diffusion_fixture_test measures by how much).
    // REQUIRES: no forward running (set it before the engine starts using the model).
    void set_self_cond_top_k(int32_t k) { self_cond_top_k_ = k < 0 ? 0 : k; }

    // Called at every ActivationSite of every later forward_batch (nullptr: off, the default). For
    // calibration (src/quantize), which needs each matrix's input rows.
    void set_activation_hook(ActivationHook hook) { hook_ = std::move(hook); }

    // The block-sparse attention of sequences whose BatchSeq::sparse is kDefault. Starts as kMsa for
    // a model with an MSA index branch, kOff otherwise. kInvalidArgument for kMsa on a model without
    // an index branch (the message suggests quest); kDefault restores the model's own.
    Status set_sparse_mode(SparseMode mode);
    SparseMode sparse_mode() const { return sparse_mode_; }
    // Whether `mode` can run on this model (kInvalidArgument as set_sparse_mode otherwise).
    Status check_sparse_mode(SparseMode mode) const;
    // Called with every layer's selection when some sequence attends sparsely (nullptr: off).
    void set_selection_hook(SelectionHook hook) { selection_hook_ = std::move(hook); }
    // Diagnostics (f32 caches only; slow: a dense softmax per selected (query, head)): every later
    // sparse forward adds to *stats (nullptr: off). Quest's block size and k can be changed for it.
    void set_recall_probe(RecallStats* stats) { recall_ = stats; }
    Status set_quest_params(int64_t block, int64_t topk);

    // Construction goes through load()/from_file(); the key keeps the constructor theirs alone.
    class Key {
        friend class Model;
        Key() = default;
    };
    Model(Key, gguf::File file, ModelConfig cfg, ModelWeights weights)
        : file_(std::move(file)), cfg_(std::move(cfg)), weights_(std::move(weights)) {
        init_sparse();
    }

private:
    void reserve(int64_t n_tokens, int64_t n_logit_rows);
    void init_sparse();
    // transformer_block.cc: normalized x_ -> q_ [n_tokens, q_dim], k_rows/v_rows [n_tokens,
    // k_dim/v_dim], with biases, QK-norm and RoPE applied.
    Status qkv_block(int64_t layer, const int32_t* positions, int64_t n_tokens, float* k_rows, float* v_rows,
                     ThreadPool& pool);
    Status ffn_block(int64_t layer, int64_t n_tokens, ThreadPool& pool);
    // transformer_block.cc: the attention sub-block over the paged cache.
    Status paged_attention_block(int64_t layer, std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                 ThreadPool& pool);
    // sparse_attention.cc: the index branch of a sparse layer (index keys written to the cache for
    // every token) and the block selection of every (token, kv head) that attends sparsely:
    // [n_tokens, n_kv_heads, sel_stride_] ids, or nullptr when the whole batch is dense here.
    Result<const int32_t*> select_blocks(int64_t layer, std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                         int64_t n_tokens, int64_t max_kv, ThreadPool& pool);
    SparseMode resolve(SparseMode m) const { return m == SparseMode::kDefault ? sparse_mode_ : m; }
    SparseMode default_sparse_mode() const { return cfg_.sparse.has_index ? SparseMode::kMsa : SparseMode::kOff; }

    // forward_canvas.cc: x_ = post_norm(embed(canvas) + SelfConditioning(soft embeddings)).
    Status self_conditioning_block(std::span<const CanvasSeq> seqs, int64_t n_tokens, ThreadPool& pool);
    // The same with the top-k approximation (set_self_cond_top_k); then the MLP both share.
    Status self_conditioning_top_k(std::span<const CanvasSeq> seqs, int64_t n_tokens, ThreadPool& pool);
    Status self_conditioning_mlp(int64_t n_tokens, ThreadPool& pool);
    // forward_canvas.cc: attention over cached prefix + whole canvas, residual added into x_.
    Status canvas_attention_block(int64_t layer, std::span<const CanvasSeq> seqs, const kvcache::KvStorage& kv,
                                  ThreadPool& pool);

    gguf::File file_;  // owns the mapping every WeightMatrix points into
    ModelConfig cfg_;
    ModelWeights weights_;
    SparseMode sparse_mode_ = SparseMode::kOff;  // set from the config in the constructor
    int64_t sel_stride_ = 0;                     // ids per (token, kv head) selection row
    int64_t sparse_block_ = 128;                 // tokens per selection block (msa and quest)
    int64_t quest_topk_ = 16;

    // Activations, sized for the largest batch seen so far. Shapes for n_tokens rows.
    std::vector<float> x_;              // [n_tokens, n_embd] residual stream
    std::vector<float> xb_;             // [n_tokens, n_embd] normalized input of a sub-block
    std::vector<float> q_;              // [n_tokens, n_heads * head_dim_k]
    std::vector<float> att_;            // [n_tokens, n_heads * head_dim_v]
    std::vector<float> out_;            // [n_tokens, n_embd] sub-block output
    std::vector<float> gate_;           // [n_tokens, n_ff]
    std::vector<float> up_;             // [n_tokens, n_ff]
    std::vector<float> logits_;         // [n_logit_rows, n_vocab]
    std::vector<int32_t> b_tokens_;     // [n_tokens] concatenated tokens
    std::vector<int32_t> b_positions_;  // [n_tokens]
    std::vector<int32_t> b_seq_;        // [n_tokens] index into seqs
    std::vector<float> b_k_;            // [n_tokens, k_dim] projected keys before the cache write
    std::vector<float> b_v_;            // [n_tokens, v_dim]
    std::vector<float> b_scores_;       // [n_threads, paged_attention_scratch_floats] (canvas: scores)
    // [n_tokens] each token's last visible key on sliding layers (fill_last_visible).
    std::vector<int32_t> b_last_visible_;
    std::vector<float> embd_t_;        // [n_embd, n_vocab] token_embd transposed in f32 (diffusion, lazily)
    std::vector<float> b_probs_;       // [n_tokens, n_vocab] softmax of self-conditioning logits
    std::vector<int32_t> b_row0_;      // [n_seqs] first batch row of each canvas
    std::vector<int32_t> b_topk_;      // [n_vocab] candidate ids (approximate self-conditioning)
    std::vector<float> b_topk_rows_;   // [k, n_embd] their embedding rows
    int32_t self_cond_top_k_ = 0;      // 0: exact self-conditioning
    std::vector<float> b_idx_q_;       // [n_tokens, n_index_heads * index_dim]
    std::vector<float> b_idx_k_;       // [n_tokens, index_dim]
    std::vector<int32_t> b_sel_;       // [n_tokens, n_kv_heads, sel_stride_] selected block ids
    std::vector<int64_t> b_ranges_;    // [n_threads, kAttentionQueryBlock, 2 * sel_stride_] ranges
    std::vector<int32_t> b_sort_;      // [n_threads, sel_stride_]
    std::vector<float> b_bscores_;     // [n_tokens, score rows, max blocks] block scores
    std::vector<float> b_brow_;        // [n_threads, max blocks] one (token, kv head)'s scores
    std::vector<int32_t> b_bscratch_;  // [n_threads, max blocks]
    std::vector<float> b_minmax_;      // [n_threads, 2 * head_dim] quest's combined summaries
    std::vector<SparseMode> b_modes_;  // [n_seqs] resolved sparse mode
    ActivationHook hook_;
    SelectionHook selection_hook_;
    RecallStats* recall_ = nullptr;
    void add_recall(int64_t layer, std::span<const BatchSeq> seqs, const kvcache::KvStorage& kv, int64_t n_tokens,
                    const int32_t* sel, ThreadPool& pool);
};

}  // namespace gannet::model
