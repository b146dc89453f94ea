// CudaModel: the one CUDA forward of a loaded Model (llama, qwen2, qwen3, gemma3): forward_batch
// over the CUDA runner's paged KV cache (cuda_model_batch.cc says how it runs). Weights are copied to
// device memory once; matrices go through the dp4a / half matvec kernels up to kMatvecMaxTokens
// rows and cuBLAS (gemm.h) above; F32 matrices through cublasSgemm either way.
// Weight placement (src/memory/placement.h, options.placement / vram_budget_bytes): `device` keeps every
// matrix in device memory; `mapped` keeps what fits the budget there and reads the rest from mapped
// pinned host memory; `stream` copies the layers that do not fit into two device buffers, one layer
// ahead of the compute (memory::cuda::LayerStreamer). Norm and bias vectors always live on the device.
// Owner: model (CUDA). Thread-safety: one thread calls forward_batch() at a time.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "base/result.h"
#include "kernels/cuda/batch_ops.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/rope.h"
#include "memory/cuda/layer_streamer.h"
#include "memory/placement.h"
#include "model/model.h"

namespace gannet::model::cuda {

struct CudaModelOptions {
    bool use_graph = true;  // capture decode steps (one token per sequence) into CUDA graphs
    // Steps of <= kMatvecMaxTokens tokens quantize each product input to int8 once, inside the op
    // that produces it (rms_norm, glu), and add the wo / w_down products into the residual inside
    // the matvec. Same arithmetic as the unfused launches: the logits are bit-identical.
    bool fuse_decode_ops = true;
    // Q4_0 matrices placed in device memory (not token_embd, which the embedding lookup reads) are
    // repacked at upload into kernels::cuda::WeightLayout::kQ4_0Split (aligned nibble loads); same
    // arithmetic as the GGUF layout, so the logits are bit-identical. Mapped / streamed keep GGUF.
    bool repack_q4_0 = true;
    memory::Placement placement = memory::Placement::kDevice;  // where weight matrices live
    int64_t vram_budget_bytes = -1;  // device bytes for weight matrices; -1: free device memory
    uint64_t reserved_bytes = 0;     // device memory the placement plan leaves free (the runner's KV cache)
};

// The paged KV cache forward_batch reads and writes (kvcache/kv_layout.h; f32, f16 or bf16).
struct PagedKv {
    void* kv = nullptr;  // device: layout.total_bytes() bytes, plus one block when spare_block >= 0
    kvcache::KvCacheLayout layout;
    // layout.n_blocks: the extra block after the cache, which no sequence uses; the padding rows of
    // captured decode graphs write there. -1: no spare block, so no graphs.
    int32_t spare_block = -1;
};

class CudaModel {
public:
    // Uploads model's weights and vectors (copies: model need not outlive the result).
    // Errors: kInvalidArgument for a bad vram_budget_bytes; kUnimplemented for a matrix dtype
    // without a CUDA product; kResourceExhausted when device memory runs out or the budget cannot hold
    // the placement (the message names the sizes); kInternal for other CUDA failures.
    static Result<std::unique_ptr<CudaModel>> create(const Model& model, const CudaModelOptions& options);

    CudaModel(const CudaModel&) = delete;
    CudaModel& operator=(const CudaModel&) = delete;
    ~CudaModel();

    const ModelConfig& config() const { return cfg_; }
    size_t weight_bytes() const { return weight_bytes_; }
    // Where the weights went (placement.describe() gives one line for logs and benches).
    const memory::Plan& placement() const { return plan_; }

    // cuda_model_batch.cc (the CUDA runner's forward): Model::forward_batch over a paged KV cache in
    // device memory. Logits [rows, n_vocab] are host memory valid until the next call: one row per
    // sequence with is_logits_needed, and one per token of a sequence with is_all_logits_needed. is_deterministic:
    // every product runs one token at a time through the same kernel and every token through paged attention, so a
    // token's logits never depend on what it is batched with. Errors: kInvalidArgument for a layout that does not match
    // the model, a block id, token id or position the cache or model cannot take.
    Result<std::span<const float>> forward_batch(std::span<const BatchSeq> seqs, const PagedKv& kv,
                                                 bool is_deterministic);
    // Whole-block copies (K, V of every layer) of that cache, in list order, on the model's stream.
    Status copy_kv_blocks(std::span<const kvcache::BlockCopy> copies, void* kv, const kvcache::KvCacheLayout& layout);
    cudaStream_t stream() const { return stream_.get(); }

    struct Matrix {
        const void* data = nullptr;  // device
        tensor::DType dtype = tensor::DType::kF32;
        int64_t n_in = 0;
        int64_t n_out = 0;
        kernels::cuda::WeightLayout layout = kernels::cuda::WeightLayout::kGguf;
    };
    struct Layer {
        const float* attn_norm = nullptr;
        Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
        const float* bq = nullptr;
        const float* bk = nullptr;
        const float* bv = nullptr;
        const float* q_norm = nullptr;
        const float* k_norm = nullptr;
        const float* post_attention_norm = nullptr;
        const float* ffn_norm = nullptr;
        const float* post_ffw_norm = nullptr;
    };

    class Key {
        friend class CudaModel;
        Key() = default;
    };
    explicit CudaModel(Key) {}

private:
    // --- weight upload and placement (memory/) ---
    Status upload(const Model& model, const CudaModelOptions& options);
    Result<const float*> upload_vector(const std::vector<float>& v);
    // kProduct: the matrix only feeds products, so it may be repacked; kEmbedding: read by the lookup.
    enum class MatrixUse { kEmbedding, kProduct };
    Result<Matrix> upload_matrix(const WeightMatrix& w, memory::Where where, MatrixUse use);
    // Host bytes of w in the device layout it gets when placed in device memory (a repacked copy
    // in scratch, or w.data itself) and that layout.
    Result<const void*> device_layout_bytes(const WeightMatrix& w, std::vector<uint8_t>& scratch,
                                            kernels::cuda::WeightLayout& layout) const;
    // stream_slot: the device buffer a streamed layer is read from (nullptr otherwise).
    Result<Layer> upload_layer(const LayerWeights& lw, memory::Where where, const void* stream_slot);
    // Every forward that walks layers_ brackets layer l with these (no-ops unless l is streamed):
    // acquire makes stream s wait for l's weights in its stream buffer, release frees the buffer once
    // s has run l's kernels and queues the next copy into it.
    Status weights_acquire(int64_t l, cudaStream_t s);
    Status weights_release(int64_t l, cudaStream_t s);
    Status reserve(int64_t n_tokens, int64_t n_rows);
    // kInt8InScratch: scratch_ already holds x in int8 (a fused rms_norm / glu wrote it); matrices
    // with an int8 path read that, the others read x. kAccumulate (matvec path only): y += W x.
    enum class ProjectX { kF32, kInt8InScratch };
    Status project(const Matrix& w, const float* x, float* y, int64_t n_tokens, ProjectX x_form = ProjectX::kF32,
                   kernels::cuda::MatvecOutput y_mode = kernels::cuda::MatvecOutput::kOverwrite);
    // scratch_ when the fused decode path should write x (n_tokens rows of n_in) there in int8 for
    // these matrices (one of them has an int8 path and scratch_ is large enough); nullptr otherwise.
    void* int8_x_target(std::initializer_list<const Matrix*> ms, int64_t n_in, int64_t n_tokens) const;
    // The projected Q/K/V rows get their biases and QK-norm
    // (qkv_bias_and_norm), and layer l's RoPE arguments for q (rope_args; set .x / .n_heads for k).
    Status qkv_bias_and_norm(const Layer& w, float* q, float* k, float* v, int64_t n_tokens, cudaStream_t s);
    kernels::cuda::RopeArgs rope_args(int64_t l, float* q, const int32_t* positions, int64_t n_tokens) const;
    // x += post_norm(W in) for the attention output and FFN down projections (post_norm may be null).
    Status residual_project(const Matrix& w, const float* in, const float* post_norm, int64_t n_tokens,
                            ProjectX x_form);

    ModelConfig cfg_;
    std::vector<gannet::cuda::DeviceBuffer> buffers_;       // owns every uploaded weight in device memory
    std::vector<gannet::cuda::PinnedBuffer> host_buffers_;  // mapped and streamed weights (pinned)
    memory::Plan plan_;
    std::vector<int64_t> stream_index_;     // per layer: its block in streamer_, -1 when not streamed
    memory::cuda::LayerStreamer streamer_;  // empty unless some layer is streamed
    size_t weight_bytes_ = 0;
    Matrix token_embd_, output_;
    const float* output_norm_ = nullptr;
    const float* rope_freqs_ = nullptr;
    std::vector<Layer> layers_;

    gannet::cuda::Stream stream_;
    kernels::cuda::CublasHandle cublas_;
    int64_t cap_tokens_ = 0;
    int64_t cap_rows_ = 0;
    gannet::cuda::DeviceBuffer x_, xb_, q_, kc_, vc_, att_, out_, gate_, up_, logits_, ids_, scratch_;
    gannet::cuda::PinnedBuffer host_ids_;  // tokens then positions
    gannet::cuda::PinnedBuffer host_logits_;
    size_t scratch_bytes_ = 0;

    bool use_graph_ = true;
    bool fuse_decode_ops_ = true;
    bool repack_q4_0_ = true;
    gannet::cuda::DeviceBuffer attn_scratch_;  // paged_attention partials

    // cuda_model_batch.cc
    struct FlashChunk {  // a prefill chunk that goes through the paged flash kernel
        int64_t first_token = 0;
        int64_t n_tokens = 0;
        int32_t seq = 0;  // its block-table row
    };
    struct BatchStep {  // one step's device-side description (pointers into the staging buffer)
        PagedKv kv;
        const int32_t* tokens = nullptr;
        const int32_t* positions = nullptr;
        const int32_t* token_seq = nullptr;
        const int32_t* logit_rows = nullptr;
        const int32_t* query_rows = nullptr;  // tokens that go through paged attention
        const int32_t* block_tables = nullptr;
        int32_t max_blocks = 0;
        int64_t n_tokens = 0;
        int64_t n_rows = 0;
        int64_t n_queries = 0;
        std::vector<FlashChunk> flash;
    };
    Status enqueue_batch(const BatchStep& st);
    Status batch_layer(int64_t l, const BatchStep& st);
    Status batch_attention(int64_t l, const BatchStep& st);
    // Grows attn_scratch_ for n_queries of up to max_blocks blocks (capped; larger steps go in groups).
    Status reserve_attention(const kvcache::KvCacheLayout& layout, int64_t max_blocks, int64_t n_queries);
    void drop_graphs();
    bool is_det_step_ = false;              // the step in flight is deterministic: project() goes one token at a time
    bool has_flash_ = false;                // the paged flash prefill kernel takes this model's heads on this device
    gannet::cuda::DeviceBuffer batch_ids_;  // staging of an eager step
    gannet::cuda::DeviceBuffer graph_ids_;  // staging of a graph step (fixed address, read by the graphs)
    gannet::cuda::PinnedBuffer batch_host_ids_;
    std::vector<int32_t> host_stage_;
    std::map<std::pair<int64_t, int64_t>, cudaGraphExec_t> batch_graphs_;  // (batch bucket, blocks bucket)
};

}  // namespace gannet::model::cuda
