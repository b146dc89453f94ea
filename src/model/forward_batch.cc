// Model::forward_batch: the one CPU forward, over the paged KV cache. Tokens of every sequence form
// one [n_tokens, n_embd] activation matrix, so each projection is a single matmul; the layers are
// the transformer block of transformer_block.cc. Every token row is computed in a fixed order that
// does not depend on which other rows share the batch.
#include <algorithm>

#include "kernels/ops/activation.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
#include "model/model.h"
#include "model/paged_attention.h"

namespace gannet::model {
namespace {

template <typename T>
void grow(std::vector<T>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) {
        v.resize(static_cast<size_t>(n));
    }
}

}  // namespace

Result<std::span<const float>> Model::forward_batch(std::span<const BatchSeq> seqs, kvcache::KvStorage& kv,
                                                    ThreadPool& pool) {
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout();
    if (seqs.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "model: forward_batch of an empty batch");
    }
    GANNET_RETURN_IF_ERROR(lay.validate());
    if (lay.n_layers != c.n_layers || lay.n_kv_heads != c.n_kv_heads || lay.head_dim != c.head_dim_k
        || c.head_dim_k != c.head_dim_v) {
        return make_error(ErrorCode::kInvalidArgument,
                          "model: paged kv cache layout (%s, %d layers, %d kv heads, head_dim %d) does not match "
                          "the model (%lld layers, %lld kv heads, head_dim %lld/%lld)",
                          kvcache::kv_dtype_name(lay.dtype), lay.n_layers, lay.n_kv_heads, lay.head_dim,
                          static_cast<long long>(c.n_layers), static_cast<long long>(c.n_kv_heads),
                          static_cast<long long>(c.head_dim_k), static_cast<long long>(c.head_dim_v));
    }
    int64_t n_tokens = 0;
    int64_t n_rows = 0;
    OutputKind output = OutputKind::kLogits;  // of the first seq that outputs rows; the others must agree
    bool has_output = false;
    for (const BatchSeq& s : seqs) {
        if (s.is_logits_needed || s.is_all_logits_needed) {
            if (has_output && s.output != output) {
                return make_error(ErrorCode::kInvalidArgument, "model: a batch mixes logits and hidden-state outputs");
            }
            output = s.output;
            has_output = true;
        }
        const int64_t end = static_cast<int64_t>(s.pos) + static_cast<int64_t>(s.tokens.size());
        if (s.tokens.empty() || s.pos < 0) {
            return make_error(ErrorCode::kInvalidArgument, "model: batch entry with no tokens or a negative position");
        }
        if (static_cast<int64_t>(s.block_table.size()) * lay.block_size < end) {
            return make_error(ErrorCode::kInvalidArgument, "model: block table of %zu blocks cannot hold position %lld",
                              s.block_table.size(), static_cast<long long>(end - 1));
        }
        for (kvcache::BlockId b : s.block_table) {
            if (b < 0 || b >= lay.n_blocks) {
                return make_error(ErrorCode::kInvalidArgument, "model: block id %d out of range", b);
            }
        }
        for (int32_t id : s.tokens) {
            if (id < 0 || id >= c.n_vocab) {
                return make_error(ErrorCode::kInvalidArgument, "model: token id %d out of range [0, %lld)", id,
                                  static_cast<long long>(c.n_vocab));
            }
        }
        n_tokens += static_cast<int64_t>(s.tokens.size());
        n_rows += s.is_all_logits_needed ? static_cast<int64_t>(s.tokens.size()) : s.is_logits_needed ? 1 : 0;
    }
    reserve(n_tokens, std::max<int64_t>(n_rows, 1));
    grow(b_tokens_, n_tokens);
    grow(b_positions_, n_tokens);
    grow(b_seq_, n_tokens);
    grow(b_last_visible_, n_tokens);
    grow(b_k_, n_tokens * c.k_dim());
    grow(b_v_, n_tokens * c.v_dim());
    grow(b_scores_, static_cast<int64_t>(pool.n_threads()) * paged_attention_scratch_floats(c));
    {
        int64_t t = 0;
        for (size_t i = 0; i < seqs.size(); ++i) {
            for (size_t j = 0; j < seqs[i].tokens.size(); ++j, ++t) {
                b_tokens_[static_cast<size_t>(t)] = seqs[i].tokens[j];
                b_positions_[static_cast<size_t>(t)] = seqs[i].pos + static_cast<int32_t>(j);
                b_seq_[static_cast<size_t>(t)] = static_cast<int32_t>(i);
            }
        }
    }
    const int64_t n_embd = c.n_embd;
    const WeightMatrix& embd = weights_.token_embd;
    GANNET_RETURN_IF_ERROR(kernels::embedding({.table = embd.data,
                                               .dtype = embd.dtype,
                                               .n_vocab = embd.n_out,
                                               .dim = n_embd,
                                               .tokens = b_tokens_.data(),
                                               .n_tokens = n_tokens,
                                               .out = x_.data()}));
    if (c.embd_scale != 1.0f) {
        kernels::scale(x_.data(), c.embd_scale, n_tokens * n_embd);
    }
    GANNET_RETURN_IF_ERROR(apply_soft_tokens(seqs, n_embd, x_.data()));
    GANNET_RETURN_IF_ERROR(fill_last_visible(seqs, b_positions_.data(), b_last_visible_.data()));
    for (int64_t l = 0; l < c.n_layers; ++l) {
        GANNET_RETURN_IF_ERROR(paged_attention_block(l, seqs, kv, pool));
        GANNET_RETURN_IF_ERROR(ffn_block(l, n_tokens, pool));
    }
    if (n_rows == 0) {
        return std::span<const float>();
    }
    // Gather the rows that need logits (each sequence's last, or all of it), then one matmul.
    {
        int64_t t = 0;
        int64_t r = 0;
        for (const BatchSeq& s : seqs) {
            const int64_t n = static_cast<int64_t>(s.tokens.size());
            const int64_t n_out = s.is_all_logits_needed ? n : s.is_logits_needed ? 1 : 0;
            if (n_out > 0) {
                kernels::rms_norm(x_.data() + (t + n - n_out) * n_embd, weights_.output_norm.data(),
                                  xb_.data() + r * n_embd, n_out, n_embd, c.norm_eps);
                r += n_out;
            }
            t += n;
        }
    }
    if (hook_) {
        hook_(ActivationSite::kOutputInput, -1, xb_.data(), n_rows, n_embd);
    }
    if (output == OutputKind::kHidden) {
        return std::span<const float>(xb_.data(), static_cast<size_t>(n_rows * n_embd));
    }
    const WeightMatrix& out = weights_.output;
    GANNET_RETURN_IF_ERROR(project(out, xb_.data(), logits_.data(), n_rows, pool));
    if (c.final_softcap > 0.0f) {
        kernels::softcap(logits_.data(), c.final_softcap, n_rows * c.n_vocab);
    }
    return std::span<const float>(logits_.data(), static_cast<size_t>(n_rows * c.n_vocab));
}

}  // namespace gannet::model
