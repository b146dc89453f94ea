// ModelConfig: the hyperparameters of a llama-family model read from GGUF metadata, plus the
// architecture's variant switches (rope layout, QK-norm, biases, post-norms, sliding windows) so a
// single transformer block serves every architecture. Owner: model. Thread-safety: plain value.
#pragma once

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "kernels/ops/rope.h"
#include "model/sparse_config.h"

namespace gannet::model {

enum class Arch { kLlama, kQwen2, kQwen3, kGemma3, kGemma4, kDiffusionGemma, kMinimaxM3 };
// kSwiGluOai: MiniMax-M3's clamped SwiGLU, (clamp(up) + 1) * g * sigmoid(alpha * g), g = min(gate, limit).
enum class FfnKind { kSwiGlu, kGeGlu, kSwiGluOai };

struct ModelConfig {
    Arch arch = Arch::kLlama;
    std::string arch_name;    // general.architecture, e.g. "qwen3"
    int64_t n_vocab = 0;      // rows of token_embd.weight
    int64_t n_ctx_train = 0;  // <arch>.context_length
    int64_t n_embd = 0;
    int64_t n_layers = 0;
    int64_t n_ff = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim_k = 0;  // <arch>.attention.key_length, default n_embd / n_heads
    int64_t head_dim_v = 0;
    int64_t n_rot = 0;  // <arch>.rope.dimension_count, default head_dim_k
    float norm_eps = 1e-5f;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;         // linear rope scaling (1 / factor), on full-attention layers
    float rope_freq_base_swa = 10000.0f;  // rope base of sliding-window layers (gemma3)
    kernels::RopeStyle rope_style = kernels::RopeStyle::kNormal;
    FfnKind ffn = FfnKind::kSwiGlu;
    bool has_qkv_bias = false;    // qwen2
    bool has_qk_norm = false;     // qwen3, gemma3: RMSNorm over each head of q and k
    bool has_post_norms = false;  // gemma3: post_attention_norm and post_ffw_norm
    float embd_scale = 1.0f;      // gemma3: sqrt(n_embd)
    float attn_scale = 0.0f;      // multiplies q·k; set from head_dim_k unless the arch says otherwise
    float attn_softcap = 0.0f;    // 0: off
    float final_softcap = 0.0f;   // 0: off
    int64_t sliding_window = 0;   // 0: none
    int64_t swa_pattern = 0;      // 0: no sliding layers; n: layer l is global iff (l + 1) % n == 0
    // gemma4: one flag per layer (<arch>.attention.sliding_window_pattern); when set it overrides swa_pattern.
    std::vector<uint8_t> sliding_layers;
    // gemma4 and diffusion_gemma: a weightless RMSNorm over each head of v.
    bool has_v_norm = false;
    // gemma4 (transformers' use_bidirectional_attention "vision"): on sliding layers an image's soft
    // tokens attend to the whole image (BatchSeq::soft.bidirectional); global layers stay causal.
    bool is_vision_bidirectional = false;
    // diffusion_gemma (Gemma 4 blocks, see arch/diffusion_gemma.cc):
    bool is_last_layer_global = false;  // the last layer is global whatever the pattern says
    bool is_global_v_from_k = false;    // global layers have no attn_v: V = the raw k projection
    bool has_ffn_post_norm_1 = false;   // blk.N.ffn_post_norm_1 before post_ffw_norm
    float global_rope_fraction = 0.0f;  // > 0: global layers rotate only the first fraction of pairs
    int64_t canvas_length = 0;          // > 0: a block-diffusion model (canvases of this many tokens)
    float swiglu_alpha = 1.702f;        // kSwiGluOai
    float swiglu_limit = 7.0f;          // kSwiGluOai
    SparseAttentionConfig sparse;       // minimax-m3: the MSA index branch and its selection rule

    bool is_sliding(int64_t layer) const {
        if (is_last_layer_global && layer == n_layers - 1) {
            return false;
        }
        if (!sliding_layers.empty()) {
            return sliding_window > 0 && sliding_layers[static_cast<size_t>(layer)] != 0;
        }
        return sliding_window > 0 && swa_pattern > 0 && (layer + 1) % swa_pattern != 0;
    }
    bool is_diffusion() const { return canvas_length > 0; }
    int64_t q_dim() const { return n_heads * head_dim_k; }
    int64_t k_dim() const { return n_kv_heads * head_dim_k; }
    int64_t v_dim() const { return n_kv_heads * head_dim_v; }
};

// Sane maxima for hyperparameters read from a file: each far above any released model (largest
// today: 126 layers, n_embd 16384, n_ff 53248, 128 heads, head_dim 256, ~262k vocab), low enough
// that products such as n_heads * head_dim cannot overflow and no value can size an allocation
// before the tensor shapes, which the parser checked against the file size, are compared.
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxEmbd = int64_t{1} << 20;
constexpr int64_t kMaxFf = int64_t{1} << 22;
constexpr int64_t kMaxHeads = int64_t{1} << 14;
constexpr int64_t kMaxHeadDim = int64_t{1} << 14;
constexpr int64_t kMaxRopeDims = 1024;            // the CPU rope keeps its angles on the stack
constexpr int64_t kMaxContextLength = INT32_MAX;  // positions are int32
constexpr int64_t kMaxVocab = INT32_MAX;          // token ids are int32
constexpr int64_t kMaxSlidingWindow = INT32_MAX;  // the CUDA attention takes an int32 window

// Reads and validates the config. Errors: kUnimplemented for an architecture other than llama,
// qwen2, qwen3, gemma3, gemma4, diffusion_gemma and minimax-m3 (or an unsupported rope scaling);
// kDataLoss for missing or inconsistent hyperparameters, naming the key and the bad value.
Result<ModelConfig> read_model_config(const gguf::File& file);

// Whether the CUDA forward can run this model: kUnimplemented for minimax-m3 (its SwiGLU-OAI FFN
// and MSA index branch have CPU code only), so --device cuda refuses it instead of running it wrong.
Status check_cuda_support(const ModelConfig& c);

}  // namespace gannet::model
