#include "model/model.h"

#include "kernels/ops/activation.h"
#include "kernels/ops/attention.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
#include "tensor/kv_quant.h"

namespace gannet::model {

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
    GANNET_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
    return from_file(std::move(file));
}

Result<std::unique_ptr<Model>> Model::from_file(gguf::File file) {
    GANNET_ASSIGN_OR_RETURN(ModelConfig cfg, read_model_config(file));
    GANNET_ASSIGN_OR_RETURN(ModelWeights weights, bind_weights(file, cfg));
    // Moving the File keeps the mapping (held by unique_ptr) in place, so the views stay valid.
    return std::make_unique<Model>(Key(), std::move(file), std::move(cfg), std::move(weights));
}

const char* Model::dtype_name() const {
    return tensor::dtype_name(weights_.layers.front().w_down.dtype);
}

Result<KvCache> Model::create_cache(int64_t n_ctx, tensor::DType kv_type) const {
    if (n_ctx < 1 || n_ctx > cfg_.n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "model: context of %lld tokens is outside [1, %lld]",
                          static_cast<long long>(n_ctx), static_cast<long long>(cfg_.n_ctx_train));
    }
    if (!tensor::is_kv_type(kv_type)) {
        return make_error(ErrorCode::kInvalidArgument, "model: %s is not a kv cache type (f32, f16, q8_0, q4_0)",
                          tensor::dtype_name(kv_type));
    }
    // Rows are quantized per position over k_dim values; blocks must not straddle two heads.
    const int64_t per_block = tensor::block_size(kv_type);
    if (cfg_.head_dim_k % per_block != 0 || cfg_.head_dim_v % per_block != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "model: head_dim %lld/%lld is not a multiple of %lld, which a %s kv cache needs "
                          "(use --kv-type f32 or f16)",
                          static_cast<long long>(cfg_.head_dim_k), static_cast<long long>(cfg_.head_dim_v),
                          static_cast<long long>(per_block), tensor::dtype_name(kv_type));
    }
    return KvCache::create(cfg_.n_layers, n_ctx, cfg_.k_dim(), cfg_.v_dim(), kv_type);
}

Status Model::check_inputs(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                           const KvCache& cache) const {
    if (tokens.empty() || tokens.size() != positions.size()) {
        return make_error(ErrorCode::kInvalidArgument, "model: %zu tokens with %zu positions (need equal, > 0)",
                          tokens.size(), positions.size());
    }
    if (cache.n_layers() != cfg_.n_layers || cache.k_dim() != cfg_.k_dim() || cache.v_dim() != cfg_.v_dim()) {
        return make_error(ErrorCode::kInvalidArgument, "model: kv cache was made for another model");
    }
    const int64_t first = positions.front();
    if (first < 0 || first > cache.n_pos()) {
        return make_error(ErrorCode::kInvalidArgument, "model: first position %lld leaves a gap after %lld cached",
                          static_cast<long long>(first), static_cast<long long>(cache.n_pos()));
    }
    for (size_t i = 0; i < positions.size(); ++i) {
        if (positions[i] != first + static_cast<int64_t>(i)) {
            return make_error(ErrorCode::kInvalidArgument, "model: positions must be consecutive (index %zu is %d)", i,
                              positions[i]);
        }
    }
    if (positions.back() >= cache.n_ctx()) {
        return make_error(ErrorCode::kInvalidArgument, "model: position %d is beyond the context of %lld tokens",
                          positions.back(), static_cast<long long>(cache.n_ctx()));
    }
    for (int32_t id : tokens) {
        if (id < 0 || id >= cfg_.n_vocab) {
            return make_error(ErrorCode::kInvalidArgument, "model: token id %d out of range [0, %lld)", id,
                              static_cast<long long>(cfg_.n_vocab));
        }
    }
    return Status();
}

// Buffers only grow; resize() of a vector within its size does not touch the heap.
void Model::reserve(int64_t n_tokens, int64_t n_logit_rows, int64_t n_ctx, int n_threads) {
    auto grow = [](std::vector<float>& v, int64_t n) {
        if (static_cast<int64_t>(v.size()) < n) {
            v.resize(static_cast<size_t>(n));
        }
    };
    grow(x_, n_tokens * cfg_.n_embd);
    grow(xb_, n_tokens * cfg_.n_embd);
    grow(q_, n_tokens * cfg_.q_dim());
    grow(att_, n_tokens * cfg_.n_heads * cfg_.head_dim_v);
    grow(out_, n_tokens * cfg_.n_embd);
    grow(gate_, n_tokens * cfg_.n_ff);
    grow(up_, n_tokens * cfg_.n_ff);
    grow(logits_, n_logit_rows * cfg_.n_vocab);
    grow(attn_scratch_, kernels::attention_scratch_floats(n_threads, n_ctx, cfg_.n_heads / cfg_.n_kv_heads));
}

Result<std::span<const float>> Model::forward(std::span<const int32_t> tokens, std::span<const int32_t> positions,
                                              KvCache& cache, LogitsMode mode, ThreadPool& pool) {
    GANNET_RETURN_IF_ERROR(check_inputs(tokens, positions, cache));
    const int64_t n_tokens = static_cast<int64_t>(tokens.size());
    const int64_t n_rows = mode == LogitsMode::kAll ? n_tokens : 1;
    reserve(n_tokens, n_rows, cache.n_ctx(), pool.n_threads());
    const int64_t n_embd = cfg_.n_embd;

    const WeightMatrix& embd = weights_.token_embd;
    GANNET_RETURN_IF_ERROR(kernels::embedding({.table = embd.data,
                                               .dtype = embd.dtype,
                                               .n_vocab = embd.n_out,
                                               .dim = n_embd,
                                               .tokens = tokens.data(),
                                               .n_tokens = n_tokens,
                                               .out = x_.data()}));
    if (cfg_.embd_scale != 1.0f) {
        kernels::scale(x_.data(), cfg_.embd_scale, n_tokens * n_embd);
    }
    // Positions past those written are stale after a rewind; attention never reads beyond the
    // query's own position, so moving n_pos first is safe.
    cache.set_n_pos(positions.back() + 1);
    for (int64_t l = 0; l < cfg_.n_layers; ++l) {
        GANNET_RETURN_IF_ERROR(attention_block(l, positions, cache, pool));
        GANNET_RETURN_IF_ERROR(ffn_block(l, n_tokens, pool));
    }
    const float* last = x_.data() + (n_tokens - n_rows) * n_embd;
    kernels::rms_norm(last, weights_.output_norm.data(), xb_.data(), n_rows, n_embd, cfg_.norm_eps);
    const WeightMatrix& out = weights_.output;
    GANNET_RETURN_IF_ERROR(project(out, xb_.data(), logits_.data(), n_rows, pool));
    if (cfg_.final_softcap > 0.0f) {
        kernels::softcap(logits_.data(), cfg_.final_softcap, n_rows * cfg_.n_vocab);
    }
    return std::span<const float>(logits_.data(), static_cast<size_t>(n_rows * cfg_.n_vocab));
}

}  // namespace gannet::model
