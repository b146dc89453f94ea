#include "quantize/calibration.h"

#include <algorithm>
#include <string>

#include "kernels/matmul.h"
#include "kernels/ops/activation.h"
#include "kernels/ops/attention.h"
#include "kernels/ops/embedding.h"
#include "kernels/ops/rms_norm.h"
#include "model/model_config.h"
#include "model/weights.h"

namespace gannet::quantize {
namespace {

using model::LayerWeights;
using model::ModelConfig;
using model::WeightMatrix;

// Sums of squares per input column for each matrix, divided by the token count at the end.
class Recorder {
public:
    explicit Recorder(ImportanceMap* sums) : sums_(sums) {}
    // x: [n_tokens, dim].
    void add(const std::string& name, const float* x, int64_t n_tokens, int64_t dim) {
        std::vector<float>& s = (*sums_)[name];
        s.resize(static_cast<size_t>(dim), 0.0f);
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t j = 0; j < dim; ++j) {
                s[static_cast<size_t>(j)] += x[t * dim + j] * x[t * dim + j];
            }
        }
    }

private:
    ImportanceMap* sums_;
};

struct Buffers {
    std::vector<float> x, xb, q, k, v, att, out, gate, up, scratch;
};

// One layer over a window at positions 0..n-1, as Model::attention_block + ffn_block.
Status run_layer(const ModelConfig& c, const model::ModelWeights& mw, int64_t l, const std::vector<int32_t>& pos,
                 Buffers& b, Recorder& rec, ThreadPool& pool) {
    const LayerWeights& w = mw.layers[static_cast<size_t>(l)];
    const int64_t n = static_cast<int64_t>(pos.size());
    const std::string p = "blk." + std::to_string(l) + ".";
    kernels::rms_norm(b.x.data(), w.attn_norm.data(), b.xb.data(), n, c.n_embd, c.norm_eps);
    for (const char* m : {"attn_q.weight", "attn_k.weight", "attn_v.weight"}) {
        rec.add(p + m, b.xb.data(), n, c.n_embd);
    }
    GANNET_RETURN_IF_ERROR(project(w.wq, b.xb.data(), b.q.data(), n, pool));
    GANNET_RETURN_IF_ERROR(project(w.wk, b.xb.data(), b.k.data(), n, pool));
    GANNET_RETURN_IF_ERROR(project(w.wv, b.xb.data(), b.v.data(), n, pool));
    model::finish_qkv(c, mw, l, pos.data(), n, b.q.data(), b.k.data(), b.v.data());
    const bool is_sliding = c.is_sliding(l);
    const kernels::AttentionArgs attn{.q = b.q.data(),
                                      .positions = pos.data(),
                                      .k = b.k.data(),
                                      .k_stride = c.k_dim(),
                                      .v = b.v.data(),
                                      .v_stride = c.v_dim(),
                                      .out = b.att.data(),
                                      .n_tokens = n,
                                      .n_heads = c.n_heads,
                                      .n_kv_heads = c.n_kv_heads,
                                      .head_dim_k = c.head_dim_k,
                                      .head_dim_v = c.head_dim_v,
                                      .n_kv = n,
                                      .scale = c.attn_scale,
                                      .softcap = c.attn_softcap,
                                      .window = is_sliding ? c.sliding_window : 0};
    GANNET_RETURN_IF_ERROR(kernels::attention(attn, b.scratch, pool));
    rec.add(p + "attn_output.weight", b.att.data(), n, w.wo.n_in);
    GANNET_RETURN_IF_ERROR(project(w.wo, b.att.data(), b.out.data(), n, pool));
    if (!w.post_attention_norm.empty()) {
        kernels::rms_norm(b.out.data(), w.post_attention_norm.data(), b.out.data(), n, c.n_embd, c.norm_eps);
    }
    kernels::add(b.x.data(), b.out.data(), b.x.data(), n * c.n_embd);

    kernels::rms_norm(b.x.data(), w.ffn_norm.data(), b.xb.data(), n, c.n_embd, c.norm_eps);
    rec.add(p + "ffn_gate.weight", b.xb.data(), n, c.n_embd);
    rec.add(p + "ffn_up.weight", b.xb.data(), n, c.n_embd);
    GANNET_RETURN_IF_ERROR(project(w.w_gate, b.xb.data(), b.gate.data(), n, pool));
    GANNET_RETURN_IF_ERROR(project(w.w_up, b.xb.data(), b.up.data(), n, pool));
    if (c.ffn == model::FfnKind::kGeGlu) {
        kernels::geglu(b.gate.data(), b.up.data(), b.gate.data(), n * c.n_ff);
    } else {
        kernels::swiglu(b.gate.data(), b.up.data(), b.gate.data(), n * c.n_ff);
    }
    rec.add(p + "ffn_down.weight", b.gate.data(), n, c.n_ff);
    GANNET_RETURN_IF_ERROR(project(w.w_down, b.gate.data(), b.out.data(), n, pool));
    if (!w.post_ffw_norm.empty()) {
        kernels::rms_norm(b.out.data(), w.post_ffw_norm.data(), b.out.data(), n, c.n_embd, c.norm_eps);
    }
    kernels::add(b.x.data(), b.out.data(), b.x.data(), n * c.n_embd);
    return Status();
}

}  // namespace

Result<CalibrationResult> collect_importance(const gguf::File& file, std::span<const int32_t> tokens, int64_t n_ctx,
                                             ThreadPool& pool) {
    GANNET_ASSIGN_OR_RETURN(const ModelConfig c, model::read_model_config(file));
    GANNET_ASSIGN_OR_RETURN(const model::ModelWeights mw, model::bind_weights(file, c));
    if (tokens.empty() || n_ctx < 1 || n_ctx > c.n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument,
                          "calibration: need at least one token and n_ctx in [1, %lld]; got %zu tokens, n_ctx %lld",
                          static_cast<long long>(c.n_ctx_train), tokens.size(), static_cast<long long>(n_ctx));
    }
    const std::string output_name =
        file.find_tensor("output.weight") != nullptr ? "output.weight" : "token_embd.weight";
    CalibrationResult r;
    Recorder rec(&r.importance);
    Buffers b;
    const auto size = [](std::vector<float>& v, int64_t n) {
        v.assign(static_cast<size_t>(n), 0.0f);
    };
    size(b.x, n_ctx * c.n_embd);
    size(b.xb, n_ctx * c.n_embd);
    size(b.q, n_ctx * c.q_dim());
    size(b.k, n_ctx * c.k_dim());
    size(b.v, n_ctx * c.v_dim());
    size(b.att, n_ctx * c.n_heads * c.head_dim_v);
    size(b.out, n_ctx * c.n_embd);
    size(b.gate, n_ctx * c.n_ff);
    size(b.up, n_ctx * c.n_ff);
    size(b.scratch, kernels::attention_scratch_floats(pool.n_threads(), n_ctx));
    for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(n_ctx)) {
        const int64_t n = std::min<int64_t>(n_ctx, static_cast<int64_t>(tokens.size() - start));
        std::vector<int32_t> pos(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            pos[static_cast<size_t>(i)] = static_cast<int32_t>(i);
        }
        const WeightMatrix& e = mw.token_embd;
        GANNET_RETURN_IF_ERROR(kernels::embedding({.table = e.data,
                                                   .dtype = e.dtype,
                                                   .n_vocab = e.n_out,
                                                   .dim = c.n_embd,
                                                   .tokens = tokens.data() + start,
                                                   .n_tokens = n,
                                                   .out = b.x.data()}));
        if (c.embd_scale != 1.0f) {
            kernels::scale(b.x.data(), c.embd_scale, n * c.n_embd);
        }
        for (int64_t l = 0; l < c.n_layers; ++l) {
            GANNET_RETURN_IF_ERROR(run_layer(c, mw, l, pos, b, rec, pool));
        }
        kernels::rms_norm(b.x.data(), mw.output_norm.data(), b.xb.data(), n, c.n_embd, c.norm_eps);
        rec.add(output_name, b.xb.data(), n, c.n_embd);
        r.n_tokens += n;
        if (start + static_cast<size_t>(n) == tokens.size()) {
            r.logits.resize(static_cast<size_t>(c.n_vocab));
            const WeightMatrix& o = mw.output;
            GANNET_RETURN_IF_ERROR(kernels::matmul({.w = o.data,
                                                    .w_dtype = o.dtype,
                                                    .n_in = o.n_in,
                                                    .n_out = o.n_out,
                                                    .n_tokens = 1,
                                                    .x = b.xb.data() + (n - 1) * c.n_embd,
                                                    .y = r.logits.data()},
                                                   pool));
            if (c.final_softcap > 0.0f) {
                kernels::softcap(r.logits.data(), c.final_softcap, c.n_vocab);
            }
        }
    }
    for (auto& [name, s] : r.importance) {
        for (float& v : s) {
            v /= static_cast<float>(r.n_tokens);
        }
    }
    return r;
}

}  // namespace gannet::quantize
