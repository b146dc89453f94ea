#include "model/cuda/cuda_model.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "base/cuda/cuda_status.h"
#include "kernels/cuda/activation.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/rope.h"
#include "memory/cuda/device_memory.h"

namespace gannet::model::cuda {

using gannet::cuda::cuda_status;
using gannet::cuda::DeviceBuffer;
using gannet::cuda::PinnedBuffer;
using gannet::cuda::PinnedMapping;
namespace kc = gannet::kernels::cuda;

namespace {

bool has_cuda_product(tensor::DType d) {
    return d == tensor::DType::kF32 || kc::matvec_supports(d);
}

}  // namespace

CudaModel::~CudaModel() {
    drop_graphs();
}

Result<std::unique_ptr<CudaModel>> CudaModel::create(const Model& model, const CudaModelOptions& options) {
    const ModelConfig& c = model.config();
    if (options.vram_budget_bytes < -1) {
        return make_error(ErrorCode::kInvalidArgument, "cuda model: vram budget of %lld bytes (need >= 0, or -1)",
                          static_cast<long long>(options.vram_budget_bytes));
    }
    auto m = std::make_unique<CudaModel>(Key());
    m->cfg_ = c;
    m->use_graph_ = options.use_graph;
    m->fuse_decode_ops_ = options.fuse_decode_ops;
    m->repack_q4_0_ = options.repack_q4_0;
    GANNET_ASSIGN_OR_RETURN(m->stream_, gannet::cuda::Stream::create());
    GANNET_ASSIGN_OR_RETURN(m->cublas_, kc::CublasHandle::create());
    GANNET_RETURN_IF_ERROR(m->upload(model, options));
    m->has_flash_ = c.head_dim_k == c.head_dim_v && kc::paged_prefill_supported(c.head_dim_k);
    return m;
}

// ---- Weight upload and placement (memory/). ----

namespace {

constexpr size_t kBlockAlign = 256;  // every matrix of a layer block starts 256-byte aligned

size_t align_up(size_t n) {
    return (n + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
}

// A layer's seven matrices packed into one block (one allocation, one copy when streamed).
struct LayerBlock {
    std::array<const WeightMatrix*, 7> matrices{};
    std::array<size_t, 7> offsets{};
    size_t size_bytes = 0;
};

LayerBlock layer_block(const LayerWeights& lw) {
    LayerBlock b;
    b.matrices = {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down};
    for (size_t i = 0; i < b.matrices.size(); ++i) {
        b.offsets[i] = b.size_bytes;
        b.size_bytes += align_up(b.matrices[i]->size_bytes);
    }
    return b;
}

// Device memory the forward pass allocates on top of weights and cache (activations, logits, cuBLAS
// workspace), kept out of the weight budget: a 512-token step with every row's logits, plus 256 MiB.
uint64_t headroom_bytes(const ModelConfig& c) {
    const int64_t t = 512;
    const int64_t floats =
        t * (3 * c.n_embd + c.q_dim() + c.k_dim() + c.v_dim() + c.n_heads * c.head_dim_v + 2 * c.n_ff + c.n_vocab + 2);
    return static_cast<uint64_t>(floats) * sizeof(float) + (uint64_t{256} << 20);
}

}  // namespace

Result<const float*> CudaModel::upload_vector(const std::vector<float>& v) {
    if (v.empty()) {
        return static_cast<const float*>(nullptr);
    }
    const size_t bytes = v.size() * sizeof(float);
    GANNET_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(bytes));
    GANNET_RETURN_IF_ERROR(cuda_status(cudaMemcpy(b.data(), v.data(), bytes, cudaMemcpyHostToDevice), "upload vector"));
    const float* p = b.as<float>();
    buffers_.push_back(std::move(b));
    return p;
}

Result<const void*> CudaModel::device_layout_bytes(const WeightMatrix& w, std::vector<uint8_t>& scratch,
                                                   kc::WeightLayout& layout) const {
    layout = kc::WeightLayout::kGguf;
    if (!repack_q4_0_ || !kc::can_split_layout(w.dtype)) {
        return static_cast<const void*>(w.data);
    }
    scratch.resize(w.size_bytes);  // the split layout is as large as the GGUF one
    GANNET_RETURN_IF_ERROR(kc::repack_q4_0_split(w.data, scratch.data(), w.n_out, w.n_in));
    layout = kc::WeightLayout::kQ4_0Split;
    return static_cast<const void*>(scratch.data());
}

Result<CudaModel::Matrix> CudaModel::upload_matrix(const WeightMatrix& w, memory::Where where, MatrixUse use) {
    Matrix m{.data = nullptr, .dtype = w.dtype, .n_in = w.n_in, .n_out = w.n_out};
    if (where == memory::Where::kDevice) {
        std::vector<uint8_t> repacked;
        const void* src = w.data;
        if (use == MatrixUse::kProduct) {
            GANNET_ASSIGN_OR_RETURN(src, device_layout_bytes(w, repacked, m.layout));
        }
        GANNET_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(w.size_bytes));
        GANNET_RETURN_IF_ERROR(
            cuda_status(cudaMemcpy(b.data(), src, w.size_bytes, cudaMemcpyHostToDevice), "upload matrix"));
        m.data = b.data();
        buffers_.push_back(std::move(b));
    } else {
        GANNET_ASSIGN_OR_RETURN(PinnedBuffer b, PinnedBuffer::allocate(w.size_bytes, PinnedMapping::kMapped));
        std::memcpy(b.data(), w.data, w.size_bytes);
        GANNET_ASSIGN_OR_RETURN(void* dev, b.device_ptr());
        m.data = dev;
        host_buffers_.push_back(std::move(b));
    }
    weight_bytes_ += w.size_bytes;
    return m;
}

Result<CudaModel::Layer> CudaModel::upload_layer(const LayerWeights& lw, memory::Where where, const void* stream_slot) {
    Layer L;
    GANNET_ASSIGN_OR_RETURN(L.attn_norm, upload_vector(lw.attn_norm));
    GANNET_ASSIGN_OR_RETURN(L.bq, upload_vector(lw.bq));
    GANNET_ASSIGN_OR_RETURN(L.bk, upload_vector(lw.bk));
    GANNET_ASSIGN_OR_RETURN(L.bv, upload_vector(lw.bv));
    GANNET_ASSIGN_OR_RETURN(L.q_norm, upload_vector(lw.q_norm));
    GANNET_ASSIGN_OR_RETURN(L.k_norm, upload_vector(lw.k_norm));
    GANNET_ASSIGN_OR_RETURN(L.post_attention_norm, upload_vector(lw.post_attention_norm));
    GANNET_ASSIGN_OR_RETURN(L.ffn_norm, upload_vector(lw.ffn_norm));
    GANNET_ASSIGN_OR_RETURN(L.post_ffw_norm, upload_vector(lw.post_ffw_norm));

    const LayerBlock block = layer_block(lw);
    std::array<kc::WeightLayout, 7> layouts;  // kGguf unless repacked for device memory
    layouts.fill(kc::WeightLayout::kGguf);
    const uint8_t* base = nullptr;  // device-visible address of the block
    if (where == memory::Where::kDevice) {
        GANNET_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(block.size_bytes));
        std::vector<uint8_t> repacked;
        for (size_t i = 0; i < block.matrices.size(); ++i) {
            GANNET_ASSIGN_OR_RETURN(const void* src, device_layout_bytes(*block.matrices[i], repacked, layouts[i]));
            GANNET_RETURN_IF_ERROR(cuda_status(cudaMemcpy(b.as<uint8_t>() + block.offsets[i], src,
                                                          block.matrices[i]->size_bytes, cudaMemcpyHostToDevice),
                                               "upload layer"));
        }
        base = b.as<uint8_t>();
        buffers_.push_back(std::move(b));
    } else if (where == memory::Where::kMapped) {
        // Read in place by kernels over the bus (full speed on a unified-memory device).
        GANNET_ASSIGN_OR_RETURN(PinnedBuffer b, PinnedBuffer::allocate(block.size_bytes, PinnedMapping::kMapped));
        std::memset(b.data(), 0, block.size_bytes);
        for (size_t i = 0; i < block.matrices.size(); ++i) {
            std::memcpy(static_cast<uint8_t*>(b.data()) + block.offsets[i], block.matrices[i]->data,
                        block.matrices[i]->size_bytes);
        }
        GANNET_ASSIGN_OR_RETURN(void* dev, b.device_ptr());
        base = static_cast<const uint8_t*>(dev);
        host_buffers_.push_back(std::move(b));
    } else {
        // Streamed: the kernels read the layer's stream buffer (upload() wrote its pinned source).
        base = static_cast<const uint8_t*>(stream_slot);
    }
    Matrix* out[7] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
    for (size_t i = 0; i < block.matrices.size(); ++i) {
        const WeightMatrix& w = *block.matrices[i];
        *out[i] = Matrix{
            .data = base + block.offsets[i], .dtype = w.dtype, .n_in = w.n_in, .n_out = w.n_out, .layout = layouts[i]};
        weight_bytes_ += w.size_bytes;
    }
    return L;
}

Status CudaModel::upload(const Model& model, const CudaModelOptions& options) {
    const ModelWeights& w = model.weights();
    const bool is_tied = w.output.data == w.token_embd.data;
    // Unsupported dtypes fail before anything is allocated or planned.
    std::vector<const WeightMatrix*> all = {&w.token_embd, &w.output};
    for (const LayerWeights& lw : w.layers) {
        for (const WeightMatrix* m : layer_block(lw).matrices) {
            all.push_back(m);
        }
    }
    for (const WeightMatrix* m : all) {
        if (!has_cuda_product(m->dtype)) {
            return make_error(ErrorCode::kUnimplemented, "cuda model: no CUDA matrix product for dtype %s",
                              tensor::dtype_name(m->dtype));
        }
    }

    memory::PlanInput in;
    in.placement = options.placement;
    for (const LayerWeights& lw : w.layers) {
        in.layer_bytes.push_back(layer_block(lw).size_bytes);
    }
    in.embd_bytes = w.token_embd.size_bytes;
    in.head_bytes = is_tied ? 0 : w.output.size_bytes;
    in.is_head_tied = is_tied;
    if (options.vram_budget_bytes >= 0) {
        in.budget_bytes = static_cast<uint64_t>(options.vram_budget_bytes);
    }
    if (options.placement == memory::Placement::kDevice && !in.budget_bytes.has_value()) {
        in.free_bytes = UINT64_MAX;  // today's behaviour: allocate, and report running out as it happens
    } else {
        GANNET_ASSIGN_OR_RETURN(memory::cuda::DeviceMemoryInfo info, memory::cuda::query_device_memory());
        const uint64_t headroom = headroom_bytes(cfg_) + options.reserved_bytes;
        in.free_bytes = info.free_bytes > headroom ? info.free_bytes - headroom : 0;
    }
    GANNET_ASSIGN_OR_RETURN(plan_, memory::plan_placement(in));

    // Streamed layers: their blocks are written into pinned host memory first, then the streamer is
    // created over them; its buffer addresses are what the layers' matrices point at.
    stream_index_.assign(w.layers.size(), -1);
    std::vector<memory::cuda::LayerStreamer::Block> blocks;
    std::vector<PinnedBuffer> stream_sources;
    for (size_t l = 0; l < w.layers.size(); ++l) {
        if (plan_.layers[l] != memory::Where::kStreamed) {
            continue;
        }
        stream_index_[l] = static_cast<int64_t>(blocks.size());
        const LayerBlock block = layer_block(w.layers[l]);
        GANNET_ASSIGN_OR_RETURN(PinnedBuffer b, PinnedBuffer::allocate(block.size_bytes, PinnedMapping::kUnmapped));
        std::memset(b.data(), 0, block.size_bytes);
        for (size_t i = 0; i < block.matrices.size(); ++i) {
            std::memcpy(static_cast<uint8_t*>(b.data()) + block.offsets[i], block.matrices[i]->data,
                        block.matrices[i]->size_bytes);
        }
        blocks.push_back({.host = b.data(), .size_bytes = block.size_bytes});
        stream_sources.push_back(std::move(b));
    }
    if (!blocks.empty()) {
        GANNET_ASSIGN_OR_RETURN(
            streamer_, memory::cuda::LayerStreamer::create(std::move(blocks), plan_.n_slots, plan_.slot_bytes));
    }

    GANNET_ASSIGN_OR_RETURN(token_embd_, upload_matrix(w.token_embd, plan_.embd, MatrixUse::kEmbedding));
    if (is_tied) {
        output_ = token_embd_;  // tied embeddings: one copy
    } else {
        GANNET_ASSIGN_OR_RETURN(output_, upload_matrix(w.output, plan_.head, MatrixUse::kProduct));
    }
    GANNET_ASSIGN_OR_RETURN(output_norm_, upload_vector(w.output_norm));
    GANNET_ASSIGN_OR_RETURN(rope_freqs_, upload_vector(w.rope_freqs));
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const memory::Where where = plan_.layers[l];
        const void* slot = where == memory::Where::kStreamed ? streamer_.slot_of(stream_index_[l]) : nullptr;
        GANNET_ASSIGN_OR_RETURN(Layer L, upload_layer(w.layers[l], where, slot));
        layers_.push_back(L);
    }
    for (PinnedBuffer& b : stream_sources) {
        host_buffers_.push_back(std::move(b));
    }
    return Status();
}

Status CudaModel::weights_acquire(int64_t l, cudaStream_t s) {
    const int64_t j = stream_index_.empty() ? -1 : stream_index_[static_cast<size_t>(l)];
    return j < 0 ? Status() : streamer_.acquire(j, s);
}

Status CudaModel::weights_release(int64_t l, cudaStream_t s) {
    const int64_t j = stream_index_.empty() ? -1 : stream_index_[static_cast<size_t>(l)];
    return j < 0 ? Status() : streamer_.release(j, s);
}

// ---- End of weight upload and placement. ----

Status CudaModel::reserve(int64_t n_tokens, int64_t n_rows) {
    if (n_tokens <= cap_tokens_ && n_rows <= cap_rows_) {
        return Status();
    }
    const ModelConfig& c = cfg_;
    const int64_t t = std::max(n_tokens, cap_tokens_);
    const int64_t r = std::max(n_rows, cap_rows_);
    auto alloc = [](DeviceBuffer& b, int64_t floats) -> Status {
        GANNET_ASSIGN_OR_RETURN(b, DeviceBuffer::allocate(static_cast<size_t>(floats) * sizeof(float)));
        return Status();
    };
    GANNET_RETURN_IF_ERROR(alloc(x_, t * c.n_embd));
    GANNET_RETURN_IF_ERROR(alloc(xb_, t * c.n_embd));
    GANNET_RETURN_IF_ERROR(alloc(q_, t * c.q_dim()));
    GANNET_RETURN_IF_ERROR(alloc(kc_, t * c.k_dim()));
    GANNET_RETURN_IF_ERROR(alloc(vc_, t * c.v_dim()));
    GANNET_RETURN_IF_ERROR(alloc(att_, t * c.n_heads * c.head_dim_v));
    GANNET_RETURN_IF_ERROR(alloc(out_, t * c.n_embd));
    GANNET_RETURN_IF_ERROR(alloc(gate_, t * c.n_ff));
    GANNET_RETURN_IF_ERROR(alloc(up_, t * c.n_ff));
    GANNET_RETURN_IF_ERROR(alloc(logits_, r * c.n_vocab));
    GANNET_ASSIGN_OR_RETURN(host_logits_, PinnedBuffer::allocate(static_cast<size_t>(r * c.n_vocab) * sizeof(float),
                                                                 PinnedMapping::kUnmapped));
    size_t scratch = 0;
    auto need = [&](const Matrix& m) {
        if (m.dtype == tensor::DType::kF32) {
            return;
        }
        // Decode (matvec's int8 activations) and, for larger batches, prefill (gemm) share scratch_.
        kc::MatvecArgs mv{.w = m.data, .w_dtype = m.dtype, .n_in = m.n_in, .n_out = m.n_out, .n_tokens = t};
        scratch = std::max(scratch, kc::matvec_scratch_size_bytes(mv));
        if (t > kc::kMatvecMaxTokens) {
            kc::GemmArgs g{.w = m.data, .w_dtype = m.dtype, .n_in = m.n_in, .n_out = m.n_out, .n_tokens = t};
            scratch = std::max(scratch, kc::gemm_scratch_size_bytes(g));
        }
    };
    need(output_);
    for (const Layer& L : layers_) {
        for (const Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
            need(*m);
        }
    }
    GANNET_ASSIGN_OR_RETURN(scratch_, DeviceBuffer::allocate(scratch));
    scratch_bytes_ = scratch;
    cap_tokens_ = t;
    cap_rows_ = r;
    drop_graphs();  // they captured the old buffers
    return Status();
}

void* CudaModel::int8_x_target(std::initializer_list<const Matrix*> ms, int64_t n_in, int64_t n_tokens) const {
    if (!fuse_decode_ops_ || is_det_step_ || n_tokens > kc::kMatvecMaxTokens || n_in % 32 != 0
        || scratch_bytes_ < kc::int8_x_size_bytes(n_tokens * n_in)) {
        return nullptr;
    }
    for (const Matrix* m : ms) {
        if (kc::matvec_uses_int8_x(m->dtype)) {
            return scratch_.data();
        }
    }
    return nullptr;
}

Status CudaModel::project(const Matrix& w, const float* x, float* y, int64_t n_tokens, ProjectX x_form,
                          kc::MatvecOutput y_mode) {
    if (is_det_step_ && n_tokens > 1) {
        // Deterministic: the same one-token kernel for every row, whatever the batch.
        for (int64_t t = 0; t < n_tokens; ++t) {
            GANNET_RETURN_IF_ERROR(project(w, x + t * w.n_in, y + t * w.n_out, 1, ProjectX::kF32, y_mode));
        }
        return Status();
    }
    if (y_mode == kc::MatvecOutput::kAccumulate
        && (w.dtype == tensor::DType::kF32 || n_tokens > kc::kMatvecMaxTokens)) {
        return make_error(ErrorCode::kInternal, "cuda model: accumulating product of %s over %lld tokens (matvec only)",
                          tensor::dtype_name(w.dtype), static_cast<long long>(n_tokens));
    }
    if (w.dtype == tensor::DType::kF32) {
        // Row-major W [n_out][n_in] is column-major [n_in][n_out]: y (col-major [n_out][n_tokens]) = Wᵀ x.
        const float alpha = 1.0f;
        const float beta = 0.0f;
        GANNET_RETURN_IF_ERROR(kc::cublas_status(cublasSetStream(cublas_.get(), stream_.get()), "cublasSetStream"));
        return kc::cublas_status(
            cublasSgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.n_out), static_cast<int>(n_tokens),
                        static_cast<int>(w.n_in), &alpha, static_cast<const float*>(w.data), static_cast<int>(w.n_in),
                        x, static_cast<int>(w.n_in), &beta, y, static_cast<int>(w.n_out)),
            "cublasSgemm");
    }
    if (n_tokens <= kc::kMatvecMaxTokens) {
        return kc::matvec({.w = w.data,
                           .w_dtype = w.dtype,
                           .w_layout = w.layout,
                           .n_in = w.n_in,
                           .n_out = w.n_out,
                           .n_tokens = n_tokens,
                           .x = x,
                           .x_dtype = tensor::DType::kF32,
                           .y = y,
                           .scratch = scratch_bytes_ > 0 ? scratch_.data() : nullptr,
                           .scratch_size_bytes = scratch_bytes_,
                           .is_x_quantized = x_form == ProjectX::kInt8InScratch,
                           .y_mode = y_mode},
                          stream_.get());
    }
    return kc::gemm({.w = w.data,
                     .w_dtype = w.dtype,
                     .w_layout = w.layout,
                     .n_in = w.n_in,
                     .n_out = w.n_out,
                     .n_tokens = n_tokens,
                     .x = x,
                     .y = y,
                     .scratch = scratch_.data(),
                     .scratch_size_bytes = scratch_bytes_,
                     .cublas = cublas_.get()},
                    stream_.get());
}

Status CudaModel::qkv_bias_and_norm(const Layer& w, float* q, float* k, float* v, int64_t n_tokens, cudaStream_t s) {
    const ModelConfig& c = cfg_;
    if (w.bq != nullptr) {
        GANNET_RETURN_IF_ERROR(kc::add_bias(q, w.bq, n_tokens, c.q_dim(), s));
    }
    if (w.bk != nullptr) {
        GANNET_RETURN_IF_ERROR(kc::add_bias(k, w.bk, n_tokens, c.k_dim(), s));
    }
    if (w.bv != nullptr) {
        GANNET_RETURN_IF_ERROR(kc::add_bias(v, w.bv, n_tokens, c.v_dim(), s));
    }
    if (c.has_qk_norm) {
        GANNET_RETURN_IF_ERROR(kc::rms_norm(
            {.x = q, .w = w.q_norm, .out = q, .n_rows = n_tokens * c.n_heads, .dim = c.head_dim_k, .eps = c.norm_eps},
            s));
        GANNET_RETURN_IF_ERROR(kc::rms_norm({.x = k,
                                             .w = w.k_norm,
                                             .out = k,
                                             .n_rows = n_tokens * c.n_kv_heads,
                                             .dim = c.head_dim_k,
                                             .eps = c.norm_eps},
                                            s));
    }
    return Status();
}

kc::RopeArgs CudaModel::rope_args(int64_t l, float* q, const int32_t* positions, int64_t n_tokens) const {
    const ModelConfig& c = cfg_;
    const bool is_sliding = c.is_sliding(l);
    return {.x = q,
            .positions = positions,
            .n_tokens = n_tokens,
            .n_heads = c.n_heads,
            .head_dim = c.head_dim_k,
            .n_rot = c.n_rot,
            .freq_base = is_sliding ? c.rope_freq_base_swa : c.rope_freq_base,
            .freq_scale = is_sliding ? 1.0f : c.rope_freq_scale,
            .freq_factors = rope_freqs_,
            .style = c.rope_style};
}

Status CudaModel::residual_project(const Matrix& w, const float* in, const float* post_norm, int64_t n_tokens,
                                   ProjectX x_form) {
    const ModelConfig& c = cfg_;
    cudaStream_t s = stream_.get();
    float* x = x_.as<float>();
    float* out = out_.as<float>();
    // Fused decode without a post-norm: x += W in inside the matvec (x + (W in) either way, so the
    // sum is bit-identical to the separate add).
    if (fuse_decode_ops_ && post_norm == nullptr && w.dtype != tensor::DType::kF32
        && n_tokens <= kc::kMatvecMaxTokens) {
        return project(w, in, x, n_tokens, x_form, kc::MatvecOutput::kAccumulate);
    }
    GANNET_RETURN_IF_ERROR(project(w, in, out, n_tokens, x_form));
    if (post_norm != nullptr) {
        GANNET_RETURN_IF_ERROR(kc::rms_norm(
            {.x = out, .w = post_norm, .out = out, .n_rows = n_tokens, .dim = c.n_embd, .eps = c.norm_eps}, s));
    }
    return kc::add({.a = x, .b = out, .out = x, .n = n_tokens * c.n_embd}, s);
}

}  // namespace gannet::model::cuda
