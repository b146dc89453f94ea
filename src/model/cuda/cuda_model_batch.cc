// CudaModel::forward_batch: the one CUDA forward (the CUDA runner's) over a paged KV cache in device
// memory (f32, f16 or bf16). The step's tokens (every sequence's decode token or prefill chunk) form
// one [n_tokens, n_embd] activation matrix, so each projection is one product over all of them: the
// dp4a matvec up to kMatvecMaxTokens tokens (fed int8 by the norm / glu launch before it, the wo and
// w_down products adding into the residual), GEMM above. RoPE runs per row, K/V go into each
// sequence's blocks (paged_store_kv), then attention reads them back through the block table:
// prefill chunks of >= kFlashMinTokens tokens with a 64/128/256 head through the tensor-core flash
// kernel (the chunk attends to its cached blocks and to itself, causal), every other token through
// split-KV paged attention with a fixed split (kernels/cuda/paged_attention.h).
// Steps of only one-token sequences that all need logits (decode) are captured into a CUDA graph per
// (batch bucket, block-table bucket): the batch is padded to the bucket with rows that write into a
// spare block, and the graph reads tokens, positions and block tables from fixed device buffers.
// Deterministic mode multiplies one token at a time and sends every token through paged attention,
// so a row sees the same kernels in the same order whatever it is batched with.
#include <algorithm>
#include <cstring>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/activation.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope.h"
#include "model/cuda/cuda_model.h"

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

namespace {

int64_t next_pow2(int64_t n) {
    int64_t p = 1;
    while (p < n) {
        p *= 2;
    }
    return p;
}

// Paged-attention scratch kept across steps: enough for this many floats before a step's queries
// are split into groups (128 MiB).
constexpr size_t kMaxAttnScratchFloats = size_t{32} << 20;

}  // namespace

Status CudaModel::batch_attention(int64_t l, const BatchStep& st) {
    const ModelConfig& c = cfg_;
    cudaStream_t s = stream_.get();
    const bool is_sliding = c.is_sliding(l);
    const int32_t window = is_sliding ? static_cast<int32_t>(c.sliding_window) : 0;
    float* q = q_.as<float>();
    float* att = att_.as<float>();
    for (const FlashChunk& f : st.flash) {
        const int64_t q_dim = c.n_heads * c.head_dim_k;
        GANNET_RETURN_IF_ERROR(kc::prefill_attention(
            {.q = q + f.first_token * q_dim,
             .positions = st.positions + f.first_token,
             .out = att + f.first_token * c.n_heads * c.head_dim_v,
             .n_tokens = f.n_tokens,
             .n_heads = c.n_heads,
             .n_kv_heads = c.n_kv_heads,
             .head_dim_k = c.head_dim_k,
             .head_dim_v = c.head_dim_v,
             .n_kv = static_cast<int64_t>(st.max_blocks) * st.kv.layout.block_size,
             .scale = c.attn_scale,
             .softcap = c.attn_softcap,
             .window = window,
             .kernel = kc::PrefillAttentionKernel::kFlash,
             .paged = kc::paged_kv_source(st.kv.layout, static_cast<int32_t>(l), st.kv.kv,
                                          st.block_tables + static_cast<int64_t>(f.seq) * st.max_blocks)},
            s));
    }
    kc::PagedAttentionArgs pa{.q = q,
                              .kv = st.kv.kv,
                              .layout = st.kv.layout,
                              .layer = static_cast<int32_t>(l),
                              .block_tables = st.block_tables,
                              .max_blocks_per_seq = st.max_blocks,
                              .rows = st.query_rows,
                              .token_seq = st.token_seq,
                              .positions = st.positions,
                              .n_queries = 1,
                              .n_heads = static_cast<int32_t>(c.n_heads),
                              .scale = c.attn_scale,
                              .softcap = c.attn_softcap,
                              .window = window,
                              .out = att,
                              .scratch = attn_scratch_.as<float>(),
                              .scratch_floats = attn_scratch_.size_bytes() / sizeof(float)};
    const int64_t per_query = static_cast<int64_t>(kc::paged_attention_scratch_floats(pa));
    const int64_t group = std::max<int64_t>(1, static_cast<int64_t>(pa.scratch_floats) / per_query);
    for (int64_t i = 0; i < st.n_queries; i += group) {
        pa.rows = st.query_rows + i;
        pa.n_queries = static_cast<int32_t>(std::min(group, st.n_queries - i));
        GANNET_RETURN_IF_ERROR(kc::paged_attention(pa, s));
    }
    return Status();
}

Status CudaModel::batch_layer(int64_t l, const BatchStep& st) {
    const Layer& w = layers_[static_cast<size_t>(l)];
    const ModelConfig& c = cfg_;
    const int64_t n_tokens = st.n_tokens;
    cudaStream_t s = stream_.get();
    float* x = x_.as<float>();
    float* xb = xb_.as<float>();
    float* q = q_.as<float>();
    float* k = kc_.as<float>();
    float* v = vc_.as<float>();

    // Products that share the input (Q, K, V; gate, up) go to one matvec_group launch where they can
    // (same arithmetic as one launch per matrix).
    using Product = std::pair<const Matrix*, float*>;
    auto project_shared = [&](std::initializer_list<Product> products, ProjectX form) -> Status {
        bool is_grouped = fuse_decode_ops_ && !is_det_step_ && n_tokens <= kc::kMatvecMaxTokens;
        for (const auto& [m, y] : products) {
            is_grouped = is_grouped && m->dtype != tensor::DType::kF32 && m->n_in == c.n_embd;
        }
        if (!is_grouped) {
            for (const auto& [m, y] : products) {
                GANNET_RETURN_IF_ERROR(project(*m, xb, y, n_tokens, form));
            }
            return Status();
        }
        kc::MatvecGroupArgs g{.entries = {},
                              .n_in = c.n_embd,
                              .n_tokens = n_tokens,
                              .x = xb,
                              .x_dtype = tensor::DType::kF32,
                              .scratch = scratch_bytes_ > 0 ? scratch_.data() : nullptr,
                              .scratch_size_bytes = scratch_bytes_,
                              .is_x_quantized = form == ProjectX::kInt8InScratch};
        for (const auto& [m, y] : products) {
            g.entries[g.n_entries++] = {
                .w = m->data, .w_dtype = m->dtype, .w_layout = m->layout, .n_out = m->n_out, .y = y};
        }
        return kc::matvec_group(g, s);
    };

    // The norm also writes its output in int8 for Q, K and V where the matvec reads int8.
    void* xq = int8_x_target({&w.wq, &w.wk, &w.wv}, c.n_embd, n_tokens);
    ProjectX x_form = xq != nullptr ? ProjectX::kInt8InScratch : ProjectX::kF32;
    GANNET_RETURN_IF_ERROR(kc::rms_norm({.x = x,
                                         .w = w.attn_norm,
                                         .out = xb,
                                         .n_rows = n_tokens,
                                         .dim = c.n_embd,
                                         .eps = c.norm_eps,
                                         .quantized_out = xq,
                                         .quantized_out_size_bytes = scratch_bytes_},
                                        s));
    GANNET_RETURN_IF_ERROR(project_shared({{&w.wq, q}, {&w.wk, k}, {&w.wv, v}}, x_form));
    GANNET_RETURN_IF_ERROR(qkv_bias_and_norm(w, q, k, v, n_tokens, s));
    kc::RopeArgs rope = rope_args(l, q, st.positions, n_tokens);
    GANNET_RETURN_IF_ERROR(kc::rope(rope, s));
    rope.x = k;
    rope.n_heads = c.n_kv_heads;
    GANNET_RETURN_IF_ERROR(kc::rope(rope, s));
    const kc::PagedStepArgs store{.kv = st.kv.kv,
                                  .layout = st.kv.layout,
                                  .layer = static_cast<int32_t>(l),
                                  .token_seq = st.token_seq,
                                  .positions = st.positions,
                                  .block_tables = st.block_tables,
                                  .max_blocks = st.max_blocks,
                                  .n_tokens = static_cast<int32_t>(n_tokens)};
    GANNET_RETURN_IF_ERROR(kc::paged_store_kv(store, k, v, s));
    GANNET_RETURN_IF_ERROR(batch_attention(l, st));
    GANNET_RETURN_IF_ERROR(residual_project(w.wo, att_.as<float>(), w.post_attention_norm, n_tokens, ProjectX::kF32));

    xq = int8_x_target({&w.w_gate, &w.w_up}, c.n_embd, n_tokens);
    x_form = xq != nullptr ? ProjectX::kInt8InScratch : ProjectX::kF32;
    GANNET_RETURN_IF_ERROR(kc::rms_norm({.x = x,
                                         .w = w.ffn_norm,
                                         .out = xb,
                                         .n_rows = n_tokens,
                                         .dim = c.n_embd,
                                         .eps = c.norm_eps,
                                         .quantized_out = xq,
                                         .quantized_out_size_bytes = scratch_bytes_},
                                        s));
    GANNET_RETURN_IF_ERROR(project_shared({{&w.w_gate, gate_.as<float>()}, {&w.w_up, up_.as<float>()}}, x_form));
    // The down projection's input is quantized by the glu launch.
    xq = int8_x_target({&w.w_down}, c.n_ff, n_tokens);
    GANNET_RETURN_IF_ERROR(kc::glu({.gate = gate_.as<float>(),
                                    .up = up_.as<float>(),
                                    .out = gate_.as<float>(),
                                    .n = n_tokens * c.n_ff,
                                    .kind = c.ffn == FfnKind::kGeGlu ? kc::GluKind::kGeluTanh : kc::GluKind::kSilu,
                                    .quantized_out = xq,
                                    .quantized_out_size_bytes = scratch_bytes_},
                                   s));
    return residual_project(w.w_down, gate_.as<float>(), w.post_ffw_norm, n_tokens,
                            xq != nullptr ? ProjectX::kInt8InScratch : ProjectX::kF32);
}

Status CudaModel::enqueue_batch(const BatchStep& st) {
    const ModelConfig& c = cfg_;
    cudaStream_t s = stream_.get();
    GANNET_RETURN_IF_ERROR(kc::embedding({.table = token_embd_.data,
                                          .dtype = token_embd_.dtype,
                                          .n_vocab = token_embd_.n_out,
                                          .dim = c.n_embd,
                                          .tokens = st.tokens,
                                          .n_tokens = st.n_tokens,
                                          .out = x_.as<float>()},
                                         s));
    if (c.embd_scale != 1.0f) {
        GANNET_RETURN_IF_ERROR(kc::scale(x_.as<float>(), c.embd_scale, st.n_tokens * c.n_embd, s));
    }
    for (int64_t l = 0; l < c.n_layers; ++l) {
        GANNET_RETURN_IF_ERROR(weights_acquire(l, s));  // placement `stream`: wait for the layer's copy
        GANNET_RETURN_IF_ERROR(batch_layer(l, st));
        GANNET_RETURN_IF_ERROR(weights_release(l, s));  // and queue the copy of the layer after next
    }
    if (st.n_rows == 0) {
        return Status();
    }
    // The rows that need logits, normed (and quantized for the head's matvec), then one product.
    GANNET_RETURN_IF_ERROR(kc::gather_rows(x_.as<float>(), st.logit_rows, out_.as<float>(), st.n_rows, c.n_embd, s));
    void* xq = int8_x_target({&output_}, c.n_embd, st.n_rows);
    GANNET_RETURN_IF_ERROR(kc::rms_norm({.x = out_.as<float>(),
                                         .w = output_norm_,
                                         .out = xb_.as<float>(),
                                         .n_rows = st.n_rows,
                                         .dim = c.n_embd,
                                         .eps = c.norm_eps,
                                         .quantized_out = xq,
                                         .quantized_out_size_bytes = scratch_bytes_},
                                        s));
    GANNET_RETURN_IF_ERROR(project(output_, xb_.as<float>(), logits_.as<float>(), st.n_rows,
                                   xq != nullptr ? ProjectX::kInt8InScratch : ProjectX::kF32));
    if (c.final_softcap > 0.0f) {
        GANNET_RETURN_IF_ERROR(kc::softcap(logits_.as<float>(), c.final_softcap, st.n_rows * c.n_vocab, s));
    }
    return Status();
}

Status CudaModel::reserve_attention(const kvcache::KvCacheLayout& lay, int64_t max_blocks, int64_t n_queries) {
    kc::PagedAttentionArgs pa{.layout = lay,
                              .max_blocks_per_seq = static_cast<int32_t>(max_blocks),
                              .n_queries = 1,
                              .n_heads = static_cast<int32_t>(cfg_.n_heads)};
    const size_t per_query = kc::paged_attention_scratch_floats(pa);
    const size_t want = std::max(
        per_query, std::min(per_query * static_cast<size_t>(std::max<int64_t>(n_queries, 1)), kMaxAttnScratchFloats));
    if (attn_scratch_.size_bytes() >= want * sizeof(float)) {
        return Status();
    }
    GANNET_RETURN_IF_ERROR(stream_.synchronize());  // a queued step may still read the old scratch
    drop_graphs();                                  // they captured the old scratch
    GANNET_ASSIGN_OR_RETURN(attn_scratch_, DeviceBuffer::allocate(want * sizeof(float)));
    return Status();
}

void CudaModel::drop_graphs() {
    for (auto& [key, exec] : batch_graphs_) {
        cudaGraphExecDestroy(exec);
    }
    batch_graphs_.clear();
}

Result<std::span<const float>> CudaModel::forward_batch(std::span<const BatchSeq> seqs, const PagedKv& kv,
                                                        bool is_deterministic) {
    const ModelConfig& c = cfg_;
    const kvcache::KvCacheLayout& lay = kv.layout;
    if (seqs.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "cuda model: forward_batch of an empty batch");
    }
    GANNET_RETURN_IF_ERROR(lay.validate());
    const bool is_type_ok = lay.dtype == kvcache::KvDType::kF32 || lay.dtype == kvcache::KvDType::kF16
                            || lay.dtype == kvcache::KvDType::kBF16;
    if (!is_type_ok || lay.n_layers != c.n_layers || lay.n_kv_heads != c.n_kv_heads || lay.head_dim != c.head_dim_k
        || c.head_dim_k != c.head_dim_v) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cuda model: paged kv cache layout (%s, %d layers, %d kv heads, head_dim %d) does not match "
                          "the model (f32/f16/bf16, %lld layers, %lld kv heads, head_dim %lld/%lld)",
                          kvcache::kv_dtype_name(lay.dtype), lay.n_layers, lay.n_kv_heads, lay.head_dim,
                          static_cast<long long>(c.n_layers), static_cast<long long>(c.n_kv_heads),
                          static_cast<long long>(c.head_dim_k), static_cast<long long>(c.head_dim_v));
    }
    if (kv.kv == nullptr || (kv.spare_block >= 0 && kv.spare_block != lay.n_blocks)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cuda model: forward_batch over a null kv cache or a spare block %d (expected -1 or %d)",
                          kv.spare_block, lay.n_blocks);
    }
    int64_t n_tokens = 0;
    int64_t n_rows = 0;
    int64_t max_blocks = 1;
    bool is_decode = true;  // every sequence one token, every one needing its logits
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
        const bool is_all = s.is_all_logits_needed;
        n_rows += is_all ? static_cast<int64_t>(s.tokens.size()) : (s.is_logits_needed ? 1 : 0);
        is_decode = is_decode && s.tokens.size() == 1 && (s.is_logits_needed || is_all);
        // Only the blocks that hold the sequence's positions are staged (the scheduler may have
        // handed out more).
        max_blocks = std::max<int64_t>(max_blocks, (end + lay.block_size - 1) / lay.block_size);
    }
    const int64_t n_seqs = static_cast<int64_t>(seqs.size());
    if (n_tokens > 65535 || n_seqs * max_blocks > (int64_t{1} << 30)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cuda model: step of %lld tokens (at most 65535) or %lld x %lld block table entries",
                          static_cast<long long>(n_tokens), static_cast<long long>(n_seqs),
                          static_cast<long long>(max_blocks));
    }
    is_det_step_ = is_deterministic;
    // cuBLAS (F32 matrices, GEMM above kMatvecMaxTokens rows) stays out of graphs, and so does
    // placement `stream` (its copies depend on state outside the graph).
    const bool is_graph = use_graph_ && is_decode && n_seqs <= kc::kMatvecMaxTokens && kv.spare_block >= 0
                          && output_.dtype != tensor::DType::kF32 && layers_.front().wq.dtype != tensor::DType::kF32
                          && plan_.n_layers_streamed == 0;
    // Padded to the graph's bucket: rows n_seqs.. are token 0 at position 0 in the spare block.
    const int64_t n_staged = is_graph ? next_pow2(n_seqs) : n_seqs;
    const int64_t staged_blocks = is_graph ? std::max<int64_t>(4, next_pow2(max_blocks)) : max_blocks;
    const int64_t staged_tokens = is_graph ? n_staged : n_tokens;
    const int64_t staged_rows = is_graph ? n_staged : n_rows;
    GANNET_RETURN_IF_ERROR(reserve(std::max<int64_t>(staged_tokens, is_graph ? kc::kMatvecMaxTokens : 1),
                                   std::max<int64_t>(staged_rows, is_graph ? kc::kMatvecMaxTokens : 1)));

    // Host staging: tokens, positions, token_seq [n_tokens each], logit rows [n_rows], the queries
    // of paged attention [n_queries], block tables [n_seqs, max_blocks].
    std::vector<FlashChunk> flash;
    const int64_t max_ints = 5 * staged_tokens + staged_rows + n_staged * staged_blocks;
    host_stage_.assign(static_cast<size_t>(max_ints), 0);
    int32_t* h_tokens = host_stage_.data();
    int32_t* h_positions = h_tokens + staged_tokens;
    int32_t* h_seq = h_positions + staged_tokens;
    int32_t* h_rows = h_seq + staged_tokens;
    int32_t* h_queries = h_rows + staged_rows;
    int64_t t = 0;
    int64_t r = 0;
    int64_t n_queries = 0;
    for (int64_t i = 0; i < n_seqs; ++i) {
        const BatchSeq& q = seqs[static_cast<size_t>(i)];
        const int64_t n = static_cast<int64_t>(q.tokens.size());
        const bool is_flash = !is_deterministic && n >= kc::kFlashMinTokens && has_flash_;
        if (is_flash) {
            flash.push_back({.first_token = t, .n_tokens = n, .seq = static_cast<int32_t>(i)});
        }
        for (int64_t j = 0; j < n; ++j, ++t) {
            h_tokens[t] = q.tokens[static_cast<size_t>(j)];
            h_positions[t] = q.pos + static_cast<int32_t>(j);
            h_seq[t] = static_cast<int32_t>(i);
            if (!is_flash) {
                h_queries[n_queries++] = static_cast<int32_t>(t);
            }
            if (q.is_all_logits_needed || (j == n - 1 && q.is_logits_needed)) {
                h_rows[r++] = static_cast<int32_t>(t);
            }
        }
    }
    for (; t < staged_tokens; ++t) {  // graph padding
        h_seq[t] = static_cast<int32_t>(t);
        h_queries[n_queries++] = static_cast<int32_t>(t);
        h_rows[r++] = static_cast<int32_t>(t);
    }
    // The query list is staged_tokens long at most; the tables follow the longest case.
    int32_t* h_tables = h_queries + staged_tokens;
    for (int64_t i = 0; i < n_staged; ++i) {
        int32_t* table = h_tables + i * staged_blocks;
        if (i >= n_seqs) {
            std::fill(table, table + staged_blocks, kv.spare_block);
            continue;
        }
        const BatchSeq& q = seqs[static_cast<size_t>(i)];
        const size_t used = std::min(q.block_table.size(), static_cast<size_t>(max_blocks));
        std::copy(q.block_table.begin(), q.block_table.begin() + static_cast<std::ptrdiff_t>(used), table);
        std::fill(table + used, table + staged_blocks, is_graph ? kv.spare_block : 0);  // never read
    }
    const size_t n_ints = static_cast<size_t>((h_tables - h_tokens) + n_staged * staged_blocks);
    GANNET_RETURN_IF_ERROR(reserve_attention(lay, staged_blocks, n_queries));

    cudaStream_t s = stream_.get();
    // The previous step (or a block copy) may still read the staging buffers.
    GANNET_RETURN_IF_ERROR(stream_.synchronize());
    const size_t bytes = n_ints * sizeof(int32_t);
    DeviceBuffer& dev_ids = is_graph ? graph_ids_ : batch_ids_;
    if (batch_host_ids_.size_bytes() < bytes) {
        GANNET_ASSIGN_OR_RETURN(batch_host_ids_, PinnedBuffer::allocate(bytes * 2, PinnedMapping::kUnmapped));
    }
    if (dev_ids.size_bytes() < bytes) {
        if (is_graph) {
            drop_graphs();  // they read the old buffer
        }
        GANNET_ASSIGN_OR_RETURN(dev_ids,
                                DeviceBuffer::allocate(is_graph ? std::max<size_t>(bytes, 1 << 20) : bytes * 2));
    }
    std::memcpy(batch_host_ids_.data(), host_stage_.data(), bytes);
    GANNET_RETURN_IF_ERROR(cuda_status(
        cudaMemcpyAsync(dev_ids.data(), batch_host_ids_.data(), bytes, cudaMemcpyHostToDevice, s), "copy batch ids"));
    const int32_t* dev = dev_ids.as<int32_t>();
    const BatchStep st{.kv = kv,
                       .tokens = dev,
                       .positions = dev + staged_tokens,
                       .token_seq = dev + 2 * staged_tokens,
                       .logit_rows = dev + 3 * staged_tokens,
                       .query_rows = dev + 3 * staged_tokens + staged_rows,
                       .block_tables = dev + (h_tables - h_tokens),
                       .max_blocks = static_cast<int32_t>(staged_blocks),
                       .n_tokens = staged_tokens,
                       .n_rows = staged_rows,
                       .n_queries = n_queries,
                       .flash = std::move(flash)};
    if (is_graph) {
        const std::pair<int64_t, int64_t> key{n_staged, staged_blocks};
        auto it = batch_graphs_.find(key);
        if (it == batch_graphs_.end()) {
            GANNET_RETURN_IF_ERROR(
                cuda_status(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin capture"));
            const Status enq = enqueue_batch(st);
            cudaGraph_t graph = nullptr;
            const Status end = cuda_status(cudaStreamEndCapture(s, &graph), "end capture");
            GANNET_RETURN_IF_ERROR(enq);
            GANNET_RETURN_IF_ERROR(end);
            cudaGraphExec_t exec = nullptr;
            const Status inst = cuda_status(cudaGraphInstantiate(&exec, graph, 0), "graph instantiate");
            cudaGraphDestroy(graph);
            GANNET_RETURN_IF_ERROR(inst);
            it = batch_graphs_.emplace(key, exec).first;
        }
        GANNET_RETURN_IF_ERROR(cuda_status(cudaGraphLaunch(it->second, s), "graph launch"));
    } else {
        GANNET_RETURN_IF_ERROR(enqueue_batch(st));
    }
    if (n_rows == 0) {
        GANNET_RETURN_IF_ERROR(stream_.synchronize());
        return std::span<const float>();
    }
    const size_t logit_bytes = static_cast<size_t>(n_rows * c.n_vocab) * sizeof(float);
    GANNET_RETURN_IF_ERROR(cuda_status(
        cudaMemcpyAsync(host_logits_.data(), logits_.data(), logit_bytes, cudaMemcpyDeviceToHost, s), "copy logits"));
    GANNET_RETURN_IF_ERROR(stream_.synchronize());
    return std::span<const float>(static_cast<const float*>(host_logits_.data()),
                                  static_cast<size_t>(n_rows * c.n_vocab));
}

}  // namespace gannet::model::cuda
