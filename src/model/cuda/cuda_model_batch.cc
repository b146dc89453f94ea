// CudaModel::forward_batch: the continuous-batching forward of the CUDA runner over a paged f32 KV
// cache in device memory. The step's tokens (every sequence's decode token or prefill chunk) form
// one [n_tokens, n_embd] activation matrix, so each projection is one product over all of them
// (matvec up to kMatvecMaxTokens tokens, GEMM above); norms and RoPE run per row; K/V go into
// each sequence's blocks and attention reads them back through its block table
// (batch_paged_attention: one CTA per (token, head), keys in a fixed order).
// Deterministic mode multiplies one token at a time, so every product a row sees is the same
// kernel with the same reduction order whatever the batch: a sequence's tokens do not depend on
// what it was batched with.
#include <algorithm>
#include <cstring>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/activation.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope.h"
#include "model/cuda/cuda_model.h"
#include "model/cuda/model_ops.h"

namespace gannet::model::cuda {

using gannet::cuda::cuda_status;
using gannet::cuda::DeviceBuffer;
using gannet::cuda::PinnedBuffer;
using gannet::cuda::PinnedMapping;
namespace kc = gannet::kernels::cuda;

Status CudaModel::copy_kv_blocks(std::span<const kvcache::BlockCopy> copies, void* kv,
                                 const kvcache::KvCacheLayout& layout) {
    if (copies.empty()) {
        return Status();
    }
    GANNET_RETURN_IF_ERROR(layout.validate());
    if (kv == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "cuda model: block copy into a null kv cache");
    }
    for (const kvcache::BlockCopy& c : copies) {
        if (c.src < 0 || c.src >= layout.n_blocks || c.dst < 0 || c.dst >= layout.n_blocks) {
            return make_error(ErrorCode::kInvalidArgument, "cuda model: block copy %d -> %d outside [0, %d)", c.src,
                              c.dst, layout.n_blocks);
        }
    }
    const size_t bytes = layout.block_bytes();
    auto* base = static_cast<std::byte*>(kv);
    for (const kvcache::BlockCopy& c : copies) {
        if (c.src == c.dst) {
            continue;
        }
        GANNET_RETURN_IF_ERROR(cuda_status(
            cudaMemcpyAsync(base + static_cast<size_t>(c.dst) * bytes, base + static_cast<size_t>(c.src) * bytes, bytes,
                            cudaMemcpyDeviceToDevice, stream_.get()),
            "copy kv block"));
    }
    return Status();
}

Status CudaModel::project_batch(const Matrix& w, const float* x, float* y, int64_t n_tokens, bool is_deterministic) {
    if (!is_deterministic) {
        return project(w, x, y, n_tokens);
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
        GANNET_RETURN_IF_ERROR(project(w, x + t * w.n_in, y + t * w.n_out, 1));
    }
    return Status();
}

Status CudaModel::batch_layer(int64_t l, const PagedStepArgs& step, bool is_deterministic) {
    const Layer& w = layers_[static_cast<size_t>(l)];
    const ModelConfig& c = cfg_;
    const int64_t n_tokens = step.n_tokens;
    cudaStream_t s = stream_.get();
    float* x = x_.as<float>();
    float* xb = xb_.as<float>();
    float* q = q_.as<float>();
    float* k = kc_.as<float>();
    float* v = vc_.as<float>();
    float* out = out_.as<float>();

    GANNET_RETURN_IF_ERROR(
        kc::rms_norm({.x = x, .w = w.attn_norm, .out = xb, .n_rows = n_tokens, .dim = c.n_embd, .eps = c.norm_eps}, s));
    GANNET_RETURN_IF_ERROR(project_batch(w.wq, xb, q, n_tokens, is_deterministic));
    GANNET_RETURN_IF_ERROR(project_batch(w.wk, xb, k, n_tokens, is_deterministic));
    GANNET_RETURN_IF_ERROR(project_batch(w.wv, xb, v, n_tokens, is_deterministic));
    GANNET_RETURN_IF_ERROR(qkv_bias_and_norm(w, q, k, v, n_tokens, s));
    const bool is_sliding = c.is_sliding(l);
    kc::RopeArgs rope = rope_args(l, q, step.positions, n_tokens);
    GANNET_RETURN_IF_ERROR(kc::rope(rope, s));
    rope.x = k;
    rope.n_heads = c.n_kv_heads;
    GANNET_RETURN_IF_ERROR(kc::rope(rope, s));

    PagedStepArgs st = step;
    st.layer = static_cast<int32_t>(l);
    GANNET_RETURN_IF_ERROR(paged_store_kv(st, k, v, s));
    GANNET_RETURN_IF_ERROR(batch_paged_attention(st,
                                                 {.q = q,
                                                  .out = att_.as<float>(),
                                                  .n_heads = static_cast<int32_t>(c.n_heads),
                                                  .scale = c.attn_scale,
                                                  .softcap = c.attn_softcap,
                                                  .window = is_sliding ? static_cast<int32_t>(c.sliding_window) : 0},
                                                 s));
    GANNET_RETURN_IF_ERROR(project_batch(w.wo, att_.as<float>(), out, n_tokens, is_deterministic));
    if (w.post_attention_norm != nullptr) {
        GANNET_RETURN_IF_ERROR(kc::rms_norm(
            {.x = out, .w = w.post_attention_norm, .out = out, .n_rows = n_tokens, .dim = c.n_embd, .eps = c.norm_eps},
            s));
    }
    GANNET_RETURN_IF_ERROR(kc::add({.a = x, .b = out, .out = x, .n = n_tokens * c.n_embd}, s));

    GANNET_RETURN_IF_ERROR(
        kc::rms_norm({.x = x, .w = w.ffn_norm, .out = xb, .n_rows = n_tokens, .dim = c.n_embd, .eps = c.norm_eps}, s));
    GANNET_RETURN_IF_ERROR(project_batch(w.w_gate, xb, gate_.as<float>(), n_tokens, is_deterministic));
    GANNET_RETURN_IF_ERROR(project_batch(w.w_up, xb, up_.as<float>(), n_tokens, is_deterministic));
    GANNET_RETURN_IF_ERROR(kc::glu({.gate = gate_.as<float>(),
                                    .up = up_.as<float>(),
                                    .out = gate_.as<float>(),
                                    .n = n_tokens * c.n_ff,
                                    .kind = c.ffn == FfnKind::kGeGlu ? kc::GluKind::kGeluTanh : kc::GluKind::kSilu},
                                   s));
    GANNET_RETURN_IF_ERROR(project_batch(w.w_down, gate_.as<float>(), out, n_tokens, is_deterministic));
    if (w.post_ffw_norm != nullptr) {
        GANNET_RETURN_IF_ERROR(kc::rms_norm(
            {.x = out, .w = w.post_ffw_norm, .out = out, .n_rows = n_tokens, .dim = c.n_embd, .eps = c.norm_eps}, s));
    }
    return kc::add({.a = x, .b = out, .out = x, .n = n_tokens * c.n_embd}, s);
}

Result<std::span<const float>> CudaModel::forward_batch(std::span<const BatchSeq> seqs, void* kv,
                                                        const kvcache::KvCacheLayout& lay, bool is_deterministic) {
    const ModelConfig& c = cfg_;
    if (seqs.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "cuda model: forward_batch of an empty batch");
    }
    GANNET_RETURN_IF_ERROR(lay.validate());
    if (lay.dtype != kvcache::KvDType::kF32 || lay.n_layers != c.n_layers || lay.n_kv_heads != c.n_kv_heads
        || lay.head_dim != c.head_dim_k || c.head_dim_k != c.head_dim_v) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cuda model: paged kv cache layout (%s, %d layers, %d kv heads, head_dim %d) does not match "
                          "the model (f32, %lld layers, %lld kv heads, head_dim %lld/%lld)",
                          kvcache::kv_dtype_name(lay.dtype), lay.n_layers, lay.n_kv_heads, lay.head_dim,
                          static_cast<long long>(c.n_layers), static_cast<long long>(c.n_kv_heads),
                          static_cast<long long>(c.head_dim_k), static_cast<long long>(c.head_dim_v));
    }
    if (kv == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "cuda model: forward_batch over a null kv cache");
    }
    int64_t n_tokens = 0;
    int64_t n_rows = 0;
    int64_t max_blocks = 1;
    for (const BatchSeq& s : seqs) {
        const int64_t end = static_cast<int64_t>(s.pos) + static_cast<int64_t>(s.tokens.size());
        if (s.tokens.empty() || s.pos < 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              "cuda model: batch entry with no tokens or a negative position");
        }
        if (static_cast<int64_t>(s.block_table.size()) * lay.block_size < end) {
            return make_error(ErrorCode::kInvalidArgument,
                              "cuda model: block table of %zu blocks cannot hold position %lld", s.block_table.size(),
                              static_cast<long long>(end - 1));
        }
        for (kvcache::BlockId b : s.block_table) {
            if (b < 0 || b >= lay.n_blocks) {
                return make_error(ErrorCode::kInvalidArgument, "cuda model: block id %d out of range [0, %d)", b,
                                  lay.n_blocks);
            }
        }
        for (int32_t id : s.tokens) {
            if (id < 0 || id >= c.n_vocab) {
                return make_error(ErrorCode::kInvalidArgument, "cuda model: token id %d out of range [0, %lld)", id,
                                  static_cast<long long>(c.n_vocab));
            }
        }
        n_tokens += static_cast<int64_t>(s.tokens.size());
        n_rows += s.is_logits_needed ? 1 : 0;
        max_blocks = std::max<int64_t>(max_blocks, static_cast<int64_t>(s.block_table.size()));
    }
    const int64_t n_seqs = static_cast<int64_t>(seqs.size());
    if (n_tokens > 65535 || n_seqs * max_blocks > (int64_t{1} << 30)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cuda model: step of %lld tokens (at most 65535) or %lld x %lld block table entries",
                          static_cast<long long>(n_tokens), static_cast<long long>(n_seqs),
                          static_cast<long long>(max_blocks));
    }
    GANNET_RETURN_IF_ERROR(reserve(n_tokens, std::max<int64_t>(n_rows, 1)));

    // Staging: tokens, positions, token_seq [n_tokens each], logit rows [n_rows], block tables
    // [n_seqs, max_blocks] (short tables padded with block 0, never read).
    const size_t n_ints = static_cast<size_t>(3 * n_tokens + n_rows + n_seqs * max_blocks);
    const size_t bytes = n_ints * sizeof(int32_t);
    cudaStream_t s = stream_.get();
    // The previous step (or a block copy) may still read the staging buffers.
    GANNET_RETURN_IF_ERROR(stream_.synchronize());
    if (batch_host_ids_.size_bytes() < bytes || batch_ids_.size_bytes() < bytes) {
        GANNET_ASSIGN_OR_RETURN(batch_host_ids_, PinnedBuffer::allocate(bytes * 2, PinnedMapping::kUnmapped));
        GANNET_ASSIGN_OR_RETURN(batch_ids_, DeviceBuffer::allocate(bytes * 2));
    }
    int32_t* host = static_cast<int32_t*>(batch_host_ids_.data());
    int32_t* h_tokens = host;
    int32_t* h_positions = host + n_tokens;
    int32_t* h_seq = host + 2 * n_tokens;
    int32_t* h_rows = host + 3 * n_tokens;
    int32_t* h_tables = h_rows + n_rows;
    {
        int64_t t = 0;
        int64_t r = 0;
        for (int64_t i = 0; i < n_seqs; ++i) {
            const BatchSeq& q = seqs[static_cast<size_t>(i)];
            for (size_t j = 0; j < q.tokens.size(); ++j, ++t) {
                h_tokens[t] = q.tokens[j];
                h_positions[t] = q.pos + static_cast<int32_t>(j);
                h_seq[t] = static_cast<int32_t>(i);
            }
            if (q.is_logits_needed) {
                h_rows[r++] = static_cast<int32_t>(t - 1);
            }
            int32_t* table = h_tables + i * max_blocks;
            std::fill(table, table + max_blocks, 0);
            std::copy(q.block_table.begin(), q.block_table.end(), table);
        }
    }
    GANNET_RETURN_IF_ERROR(
        cuda_status(cudaMemcpyAsync(batch_ids_.data(), host, bytes, cudaMemcpyHostToDevice, s), "copy batch ids"));
    const int32_t* dev = batch_ids_.as<int32_t>();
    const PagedStepArgs step{.kv = kv,
                             .layout = lay,
                             .layer = 0,
                             .token_seq = dev + 2 * n_tokens,
                             .positions = dev + n_tokens,
                             .block_tables = dev + 3 * n_tokens + n_rows,
                             .max_blocks = static_cast<int32_t>(max_blocks),
                             .n_tokens = static_cast<int32_t>(n_tokens)};

    GANNET_RETURN_IF_ERROR(kc::embedding({.table = token_embd_.data,
                                          .dtype = token_embd_.dtype,
                                          .n_vocab = token_embd_.n_out,
                                          .dim = c.n_embd,
                                          .tokens = dev,
                                          .n_tokens = n_tokens,
                                          .out = x_.as<float>()},
                                         s));
    if (c.embd_scale != 1.0f) {
        GANNET_RETURN_IF_ERROR(scale(x_.as<float>(), c.embd_scale, n_tokens * c.n_embd, s));
    }
    for (int64_t l = 0; l < c.n_layers; ++l) {
        GANNET_RETURN_IF_ERROR(weights_acquire(l, s));  // placement `stream`: wait for the layer's copy
        GANNET_RETURN_IF_ERROR(batch_layer(l, step, is_deterministic));
        GANNET_RETURN_IF_ERROR(weights_release(l, s));
    }
    if (n_rows == 0) {
        GANNET_RETURN_IF_ERROR(stream_.synchronize());
        return std::span<const float>();
    }
    // The last row of each sequence that needs logits, normed, then one product for all of them.
    GANNET_RETURN_IF_ERROR(gather_rows(x_.as<float>(), dev + 3 * n_tokens, out_.as<float>(), n_rows, c.n_embd, s));
    GANNET_RETURN_IF_ERROR(kc::rms_norm({.x = out_.as<float>(),
                                         .w = output_norm_,
                                         .out = xb_.as<float>(),
                                         .n_rows = n_rows,
                                         .dim = c.n_embd,
                                         .eps = c.norm_eps},
                                        s));
    GANNET_RETURN_IF_ERROR(project_batch(output_, xb_.as<float>(), logits_.as<float>(), n_rows, is_deterministic));
    if (c.final_softcap > 0.0f) {
        GANNET_RETURN_IF_ERROR(softcap(logits_.as<float>(), c.final_softcap, n_rows * c.n_vocab, s));
    }
    const size_t logit_bytes = static_cast<size_t>(n_rows * c.n_vocab) * sizeof(float);
    GANNET_RETURN_IF_ERROR(cuda_status(
        cudaMemcpyAsync(host_logits_.data(), logits_.data(), logit_bytes, cudaMemcpyDeviceToHost, s), "copy logits"));
    GANNET_RETURN_IF_ERROR(stream_.synchronize());
    return std::span<const float>(static_cast<const float*>(host_logits_.data()),
                                  static_cast<size_t>(n_rows * c.n_vocab));
}

}  // namespace gannet::model::cuda
