// Weight binding: zero-copy views of the projection matrices in a mapped GGUF file, and float
// copies of the small vectors (norms, biases, rope factors) so the block needs no per-dtype code
// for them. Every tensor is checked for presence, shape and a usable dtype, with errors naming the
// tensor and both shapes. Owner: model. Thread-safety: immutable after bind_weights().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "model/model_config.h"
#include "tensor/dtype.h"

namespace gannet::model {

// A [n_out rows][n_in] matrix in the file's dtype (ggml shape {n_in, n_out}). The data pointer is
// a view into the gguf::File's mapping and lives as long as that File.
struct WeightMatrix {
    const void* data = nullptr;
    tensor::DType dtype = tensor::DType::kF32;
    int64_t n_in = 0;
    int64_t n_out = 0;
    size_t size_bytes = 0;
};

// y[n_tokens, n_out] = x[n_tokens, n_in] · wᵀ through kernels::matmul: every projection of every
// forward path goes through here. Errors as kernels::matmul.
Status project(const WeightMatrix& w, const float* x, float* y, int64_t n_tokens, ThreadPool& pool);

struct LayerWeights {
    std::vector<float> attn_norm;            // [n_embd]
    WeightMatrix wq, wk, wv, wo;             // q: n_embd -> q_dim, k/v: -> k_dim/v_dim, o: q_dim_v -> n_embd;
                                             // wv.data null on diffusion_gemma's global layers (V = K)
    std::vector<float> bq, bk, bv;           // [q_dim], [k_dim], [v_dim]; empty when absent
    std::vector<float> q_norm, k_norm;       // [head_dim_k]; empty unless has_qk_norm
    std::vector<float> post_attention_norm;  // [n_embd]; empty unless has_post_norms
    std::vector<float> ffn_norm;             // [n_embd]
    WeightMatrix w_gate, w_up, w_down;       // n_embd -> n_ff, n_embd -> n_ff, n_ff -> n_embd
    std::vector<float> post_ffw_norm;        // [n_embd]; empty unless has_post_norms
    std::vector<float> layer_scale;          // [1] gemma4's layer_output_scale: multiplies the layer's output; empty: 1
    std::vector<float> ffn_post_norm_1;      // [n_embd]; empty unless has_ffn_post_norm_1
    // MSA index branch (sparse layers of minimax-m3 only; empty otherwise).
    WeightMatrix index_q, index_k;                  // n_embd -> n_index_heads * index_dim, n_embd -> index_dim
    std::vector<float> index_q_norm, index_k_norm;  // [index_dim]
};

// DiffusionGemma's self-conditioning block: soft embeddings of the previous step's processed logits
// -> pre_norm (with gain) -> GeGLU MLP (n_embd -> n_ff -> n_embd), added to the canvas embeddings.
struct SelfCondWeights {
    std::vector<float> norm;      // [n_embd] self_cond_norm.weight
    WeightMatrix gate, up, down;  // self_cond_{gate,up,down}.weight
};

struct ModelWeights {
    WeightMatrix token_embd;         // [n_vocab][n_embd]
    std::vector<float> output_norm;  // [n_embd]
    WeightMatrix output;             // [n_vocab][n_embd]; token_embd when the file has no output.weight
    std::vector<float> rope_freqs;   // [n_rot / 2]; empty unless llama 3 style scaling
    // [n_rot / 2] rope divisors of global layers: 1 for rotating pairs, +inf for the rest (angle 0).
    // Computed, not stored; empty unless global_rope_fraction > 0 (diffusion_gemma).
    std::vector<float> rope_factors_global;
    SelfCondWeights self_cond;  // empty unless the model is a diffusion model
    // [max(n_embd, head_dim_v)] ones: the gain of the weightless norms (v_norm, the self-conditioning
    // post_norm). Empty unless needed.
    std::vector<float> ones;
    std::vector<LayerWeights> layers;
};

// Errors (kDataLoss): missing tensor, wrong shape, a dtype that cannot be dequantized, or a row
// length that is not a whole number of the dtype's blocks.
Result<ModelWeights> bind_weights(const gguf::File& file, const ModelConfig& cfg);

// Bytes of weights read to produce one token: every layer matrix, the output matrix and the
// vectors (one embedding row is negligible and not counted).
int64_t weight_bytes_per_token(const ModelWeights& w);

// What layer `layer` does to its projected rows before attention: Q/K/V biases, QK-norm, V-norm and RoPE
// of q [n_tokens, q_dim] and k [n_tokens, k_dim] at their positions (v [n_tokens, v_dim] gets its
// bias only). Shared by Model::qkv_block and quantize's calibration, which runs the layers itself to
// record each projection's input.
void finish_qkv(const ModelConfig& c, const ModelWeights& mw, int64_t layer, const int32_t* positions, int64_t n_tokens,
                float* q, float* k, float* v);

}  // namespace gannet::model
