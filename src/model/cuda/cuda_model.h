// CudaModel: the forward pass of a loaded Model (llama, qwen2, qwen3, gemma3) on the GPU, for one
// sequence. Weights are copied to device memory once (placement `device`); the KV cache is a
// contiguous f32 [n_layers][n_ctx][k_dim or v_dim] device buffer. Prefill (more than
// kMatvecMaxTokens tokens) multiplies through cuBLAS (gemm.h), decode through the matvec kernels;
// F32 matrices go through cublasSgemm either way. Attention is prefill_attention over the
// contiguous cache for prompts and split-KV decode_attention (model_ops.h) for one-token steps.
// A one-token decode step is captured into a CUDA graph on first use and
// replayed afterwards (token and position live in device memory, so the graph is position-free).
// Owner: model (CUDA). Thread-safety: one thread calls forward() at a time.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "base/result.h"
#include "kernels/cuda/cublas_handle.h"
#include "model/model.h"

namespace gannet::model::cuda {

struct CudaModelOptions {
    int64_t n_ctx = 0;        // KV cache positions; 0: min(n_ctx_train, 4096)
    bool use_graph = true;    // capture one-token decode steps into a CUDA graph
    bool split_kv_decode = true;  // one-token steps use decode_attention (split-KV) over the cache
};

class CudaModel {
public:
    // Uploads model's weights and vectors (copies: model need not outlive the result).
    // Errors: kInvalidArgument for a bad n_ctx; kUnimplemented for a matrix dtype without a CUDA
    // product; kResourceExhausted when device memory runs out; kInternal for other CUDA failures.
    static Result<std::unique_ptr<CudaModel>> create(const Model& model, const CudaModelOptions& options);

    CudaModel(const CudaModel&) = delete;
    CudaModel& operator=(const CudaModel&) = delete;
    ~CudaModel();

    // Same contract as Model::forward with the cache held inside: positions consecutive, starting at
    // or before n_pos(), ending before n_ctx(). The view is valid until the next call.
    Result<std::span<const float>> forward(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                                           LogitsMode mode);

    const ModelConfig& config() const { return cfg_; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_pos() const { return n_pos_; }
    void set_n_pos(int64_t n) { n_pos_ = n; }  // REQUIRES 0 <= n <= n_ctx()
    size_t weight_bytes() const { return weight_bytes_; }

    struct Matrix {
        const void* data = nullptr;  // device
        tensor::DType dtype = tensor::DType::kF32;
        int64_t n_in = 0;
        int64_t n_out = 0;
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
    Status upload(const Model& model);
    Result<const float*> upload_vector(const std::vector<float>& v);
    Result<Matrix> upload_matrix(const WeightMatrix& w);
    Status reserve(int64_t n_tokens, int64_t n_rows);
    Status project(const Matrix& w, const float* x, float* y, int64_t n_tokens);
    // Queues the whole forward for n_tokens whose ids and positions are already in tokens_d_/positions_d_.
    Status enqueue(int64_t n_tokens, int64_t n_rows);
    Status layer(int64_t l, int64_t n_tokens);

    ModelConfig cfg_;
    std::vector<gannet::cuda::DeviceBuffer> buffers_;  // owns every uploaded weight
    size_t weight_bytes_ = 0;
    Matrix token_embd_, output_;
    const float* output_norm_ = nullptr;
    const float* rope_freqs_ = nullptr;
    std::vector<Layer> layers_;

    int64_t n_ctx_ = 0;
    int64_t n_pos_ = 0;
    gannet::cuda::DeviceBuffer k_cache_, v_cache_;

    gannet::cuda::Stream stream_;
    kernels::cuda::CublasHandle cublas_;
    int64_t cap_tokens_ = 0;
    int64_t cap_rows_ = 0;
    gannet::cuda::DeviceBuffer x_, xb_, q_, kc_, vc_, att_, out_, gate_, up_, logits_, ids_, scratch_;
    gannet::cuda::PinnedBuffer host_ids_;     // tokens then positions
    gannet::cuda::PinnedBuffer host_logits_;
    size_t scratch_bytes_ = 0;

    bool use_graph_ = true;
    bool split_kv_decode_ = true;
    gannet::cuda::DeviceBuffer attn_scratch_;  // decode_attention partials
    cudaGraphExec_t graph_ = nullptr;
};

}  // namespace gannet::model::cuda
