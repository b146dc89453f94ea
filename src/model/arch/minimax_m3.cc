// minimax-m3: a MiniMax-M3-style TEXT model (transformers' minimax_m3_vl text branch). Per-head QK-norm,
// Gemma RMSNorms (x * (1 + w); the converter stores 1 + w), partial NeoX RoPE over
// rope.dimension_count channels, the clamped SwiGLU-OAI FFN, and sparse layers with an MSA index
// branch (index_q/index_k + their norms, the main RoPE). Our small models use a dense FFN on every
// layer where M3 has a MoE: a file with expert tensors is refused by the weight binding, not run
// wrong. Bad sparse metadata is refused here, naming the key.
#include <string>

#include "base/result.h"
#include "model/arch/arch.h"

namespace gannet::model {
namespace {

constexpr int64_t kMaxSparseBlock = int64_t{1} << 20;
constexpr int64_t kMaxTopk = 4096;

Result<int64_t> sparse_int(const gguf::File& file, const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
    GANNET_ASSIGN_OR_RETURN(const int64_t v, file.get_int_or(key, fallback));
    if (v < lo || v > hi) {
        return make_error(ErrorCode::kDataLoss, "model: %s is %lld, expected %lld..%lld", key.c_str(),
                          static_cast<long long>(v), static_cast<long long>(lo), static_cast<long long>(hi));
    }
    return v;
}

Status read_sparse(const gguf::File& file, ModelConfig& cfg) {
    const std::string p = cfg.arch_name + ".sparse.";
    SparseAttentionConfig& s = cfg.sparse;
    Result<std::span<const int64_t>> layers = file.get_ints(p + "layers");
    if (!layers.has_value()) {
        return make_error(ErrorCode::kDataLoss, "model: %slayers: %s", p.c_str(), layers.error().message().c_str());
    }
    if (static_cast<int64_t>(layers->size()) != cfg.n_layers) {
        return make_error(ErrorCode::kDataLoss, "model: %slayers has %zu entries, expected %lld (block_count)",
                          p.c_str(), layers->size(), static_cast<long long>(cfg.n_layers));
    }
    s.layers.clear();
    for (int64_t v : *layers) {
        if (v != 0 && v != 1) {
            return make_error(ErrorCode::kDataLoss, "model: %slayers has entry %lld, expected 0 (dense) or 1 (sparse)",
                              p.c_str(), static_cast<long long>(v));
        }
        s.layers.push_back(static_cast<uint8_t>(v));
    }
    GANNET_ASSIGN_OR_RETURN(s.block_size, sparse_int(file, p + "block_size", 128, 1, kMaxSparseBlock));
    GANNET_ASSIGN_OR_RETURN(s.topk, sparse_int(file, p + "topk_blocks", 16, 1, kMaxTopk));
    GANNET_ASSIGN_OR_RETURN(s.n_index_heads, sparse_int(file, p + "index_head_count", cfg.n_kv_heads, 1, kMaxHeads));
    GANNET_ASSIGN_OR_RETURN(s.index_dim, sparse_int(file, p + "index_key_length", 128, 2, kMaxRopeDims));
    GANNET_ASSIGN_OR_RETURN(s.init_blocks, sparse_int(file, p + "init_blocks", 0, 0, kMaxTopk));
    GANNET_ASSIGN_OR_RETURN(s.local_blocks, sparse_int(file, p + "local_blocks", 1, 1, kMaxTopk));
    GANNET_ASSIGN_OR_RETURN(s.is_local_in_topk, file.get_bool_or(p + "local_in_topk", true));
    Result<std::string> selection = file.get_string(p + "selection");
    const std::string sel = selection.has_value() ? *selection : "per_group";
    if (sel != "shared" && sel != "per_group") {
        return make_error(ErrorCode::kDataLoss, "model: %sselection is '%s', expected 'shared' or 'per_group'",
                          p.c_str(), sel.c_str());
    }
    s.is_shared_selection = sel == "shared";
    if (!s.is_shared_selection && s.n_index_heads != cfg.n_kv_heads) {
        return make_error(
            ErrorCode::kDataLoss,
            "model: %sindex_head_count is %lld, expected %lld (one per KV group with per_group selection)", p.c_str(),
            static_cast<long long>(s.n_index_heads), static_cast<long long>(cfg.n_kv_heads));
    }
    if (s.is_local_in_topk && s.init_blocks + s.local_blocks > s.topk) {
        return make_error(ErrorCode::kDataLoss,
                          "model: %sinit_blocks %lld + local_blocks %lld exceed topk_blocks %lld (local_in_topk)",
                          p.c_str(), static_cast<long long>(s.init_blocks), static_cast<long long>(s.local_blocks),
                          static_cast<long long>(s.topk));
    }
    if (s.index_dim % 2 != 0) {
        return make_error(ErrorCode::kDataLoss, "model: %sindex_key_length is %lld, expected even (RoPE pairs)",
                          p.c_str(), static_cast<long long>(s.index_dim));
    }
    s.has_index = true;
    return Status();
}

}  // namespace

Status configure_minimax_m3(const gguf::File& file, ModelConfig& cfg) {
    cfg.arch = Arch::kMinimaxM3;
    cfg.rope_style = kernels::RopeStyle::kNeox;
    cfg.ffn = FfnKind::kSwiGluOai;
    cfg.has_qk_norm = true;
    const std::string& a = cfg.arch_name;
    GANNET_ASSIGN_OR_RETURN(const double alpha, file.get_float_or(a + ".swiglu_alpha", 1.702));
    GANNET_ASSIGN_OR_RETURN(const double limit, file.get_float_or(a + ".swiglu_limit", 7.0));
    if (!(alpha > 0.0) || !(limit > 0.0)) {
        return make_error(ErrorCode::kDataLoss, "model: %s.swiglu_alpha %g and %s.swiglu_limit %g must be > 0",
                          a.c_str(), alpha, a.c_str(), limit);
    }
    cfg.swiglu_alpha = static_cast<float>(alpha);
    cfg.swiglu_limit = static_cast<float>(limit);
    return read_sparse(file, cfg);
}

}  // namespace gannet::model
