#include "server/model_runtime.h"

#include <algorithm>

#include "kvcache/kv_storage.h"
#include "runner/runner.h"
#include "tensor/kv_quant.h"
#ifdef GANNET_CUDA
#include "memory/cuda/device_memory.h"
#include "memory/placement.h"
#include "model/cuda/cuda_model.h"
#include "runner/cuda/cuda_runner.h"
#endif

namespace gannet::server {
namespace {

// ChatML, for models whose GGUF has no chat template.
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// The file name without directories and ".gguf": what /v1/models lists.
std::string model_name_of(const std::string& path) {
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) {
        name.resize(name.size() - 5);
    }
    return name;
}

#ifdef GANNET_CUDA
// Device memory left free after the weights and the KV cache: activations and logits of a step,
// the GEMM's dequantized weights (up to the output matrix in bf16), attention scratch, graphs.
constexpr uint64_t kCudaHeadroomBytes = uint64_t{3} << 30;

// The default device cache (no --kv-blocks): room for options.n_kv_contexts full contexts, as much
// of it as the device memory left after the weights holds (minus kCudaHeadroomBytes), never less
// than the CPU rule's blocks (one context at least). The 1 GiB cap of host caches does not apply.
Result<int32_t> cuda_default_kv_blocks(const kvcache::KvCacheLayout& one_block, const engine::EngineConfig& ec,
                                       const ModelRuntimeOptions& options) {
    GANNET_ASSIGN_OR_RETURN(memory::cuda::DeviceMemoryInfo info, memory::cuda::query_device_memory());
    const uint64_t usable = info.free_bytes > kCudaHeadroomBytes ? info.free_bytes - kCudaHeadroomBytes : 0;
    const int64_t fit = static_cast<int64_t>(usable / one_block.block_bytes()) - 1;  // the spare block
    const int64_t blocks_per_ctx = (ec.n_ctx + ec.block_size - 1) / ec.block_size;
    const int64_t want = std::max<int64_t>(1, options.n_kv_contexts) * blocks_per_ctx;
    return static_cast<int32_t>(std::clamp<int64_t>(std::min(want, fit), ec.n_kv_blocks, int64_t{1} << 24));
}
#endif

Result<std::unique_ptr<engine::Engine>> make_engine(const OpenAiRuntime& rt, engine::EngineConfig ec,
                                                    const ModelRuntimeOptions& options) {
    if (options.device == "cpu") {
        if (options.placement != "device" || options.vram_budget_bytes != -1) {
            return make_error(ErrorCode::kInvalidArgument, "--placement and --vram-budget need --device cuda");
        }
        return engine::Engine::create(*rt.model, *rt.tokenizer, ec);
    }
    if (options.device != "cuda") {
        return make_error(ErrorCode::kInvalidArgument, "--device must be cpu or cuda, got '%s'",
                          options.device.c_str());
    }
    if (rt.model->config().arch == model::Arch::kGemma4) {
        // The CUDA forward has no v-norm, layer scale or soft tokens: it would answer wrongly.
        return make_error(ErrorCode::kUnimplemented, "--device cuda: gemma4 models run on the cpu device only");
    }
    if (rt.model->config().is_diffusion()) {
        return make_error(ErrorCode::kUnimplemented,
                          "--device cuda: diffusion models (%s) run on the CPU engine only for now",
                          rt.model->config().arch_name.c_str());
    }
#ifdef GANNET_CUDA
    if (ec.kv_type != tensor::DType::kF32 && ec.kv_type != tensor::DType::kF16) {
        return make_error(ErrorCode::kUnimplemented, "--device cuda: --kv-type %s (the device cache is f32 or f16)",
                          tensor::dtype_name(ec.kv_type));
    }
    GANNET_ASSIGN_OR_RETURN(memory::Placement placement, memory::parse_placement(options.placement));
    const kvcache::KvDType kv_dtype =
        ec.kv_type == tensor::DType::kF16 ? kvcache::KvDType::kF16 : kvcache::KvDType::kF32;
    GANNET_ASSIGN_OR_RETURN(
        kvcache::KvCacheLayout layout,
        runner::paged_layout(*rt.model,
                             {.n_blocks = ec.n_kv_blocks + 2, .block_size = ec.block_size, .kv_type = ec.kv_type}));
    // Weights go to the GPU once (the placement plan leaves room for the paged cache the runner
    // allocates next, its spare block included).
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::cuda::CudaModel> cm,
                            model::cuda::CudaModel::create(*rt.model, {.placement = placement,
                                                                       .vram_budget_bytes = options.vram_budget_bytes,
                                                                       .reserved_bytes = layout.total_bytes()}));
    if (options.n_kv_blocks == 0) {
        GANNET_ASSIGN_OR_RETURN(ec.n_kv_blocks, cuda_default_kv_blocks(layout, ec, options));
    }
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::CudaRunner> cr,
                            runner::CudaRunner::create(std::move(cm), {.n_blocks = ec.n_kv_blocks,
                                                                       .block_size = ec.block_size,
                                                                       .is_deterministic = ec.is_deterministic,
                                                                       .kv_dtype = kv_dtype}));
    return engine::Engine::create(*rt.model, *rt.tokenizer, ec, std::move(cr));
#else
    return make_error(ErrorCode::kUnimplemented, "--device cuda: this gannet was built without CUDA");
#endif
}

// The projectors of --mmproj, or of the model file itself (none: a text-only model).
Status load_media(OpenAiRuntime& rt, const ModelRuntimeOptions& options) {
    const model::ModelConfig& c = rt.model->config();
    if (options.max_media_parts < 0 || options.max_media_parts > 1024) {
        return make_error(ErrorCode::kInvalidArgument, "--max-media-parts must be in [0, 1024], got %lld",
                          static_cast<long long>(options.max_media_parts));
    }
    Result<multimodal::MediaModel> media = multimodal::MediaModel();
    if (options.mmproj_path.empty()) {
        media = multimodal::load_media_model(rt.model->file(), rt.model->file(), c.arch_name, c.n_embd, c.n_vocab);
    } else {
        GANNET_ASSIGN_OR_RETURN(gguf::File proj, gguf::File::open(options.mmproj_path));
        media = multimodal::load_media_model(proj, rt.model->file(), c.arch_name, c.n_embd, c.n_vocab);
        if (media.has_value() && !media->has_any()) {
            return make_error(ErrorCode::kDataLoss, "--mmproj %s: no gemma4uv or gemma4ua projector tensors",
                              options.mmproj_path.c_str());
        }
    }
    GANNET_RETURN_IF_ERROR(media.error());
    rt.media = std::make_unique<multimodal::MediaModel>(std::move(*media));
    rt.media_options = options.media_options;
    rt.max_media_parts = options.max_media_parts;
    rt.media_pool = std::make_unique<ThreadPool>(options.n_threads);
    return Status();
}

}  // namespace

Result<std::shared_ptr<OpenAiRuntime>> ModelRuntime::create(const ModelRuntimeOptions& options) {
    auto rt = std::make_shared<OpenAiRuntime>();
    GANNET_ASSIGN_OR_RETURN(rt->model, model::Model::load(options.model_path));
    GANNET_ASSIGN_OR_RETURN(const model::SparseMode sparse, model::parse_sparse_mode(options.sparse_attention));
    if (Status st = rt->model->set_sparse_mode(sparse); !st.ok()) {
        return make_error(st.code(), "--sparse-attention %s: %s", options.sparse_attention.c_str(),
                          st.message().c_str());
    }
    if (options.device == "cuda") {
        GANNET_RETURN_IF_ERROR(model::check_cuda_support(rt->model->config()));
    }
    if (rt->model->config().is_diffusion() && rt->model->sparse_mode() != model::SparseMode::kOff) {
        return make_error(ErrorCode::kUnimplemented,
                          "--sparse-attention %s: diffusion models attend densely (forward_canvas has no sparse path)",
                          model::sparse_mode_name(rt->model->sparse_mode()));
    }
    if (options.device == "cuda" && rt->model->sparse_mode() != model::SparseMode::kOff) {
        return make_error(ErrorCode::kUnimplemented,
                          "--sparse-attention %s runs on the CPU only for now; use --sparse-attention off with "
                          "--device cuda",
                          model::sparse_mode_name(rt->model->sparse_mode()));
    }
    GANNET_ASSIGN_OR_RETURN(rt->tokenizer, tokenizer::Tokenizer::from_gguf(rt->model->file()));
    auto tmpl = tokenizer::ChatTemplate::from_gguf(rt->model->file(), *rt->tokenizer);
    if (!tmpl.has_value()) {
        if (tmpl.error().code() != ErrorCode::kNotFound) {
            return tmpl.error();
        }
        tmpl = tokenizer::ChatTemplate::create(kChatMlTemplate, "", "");
        GANNET_RETURN_IF_ERROR(tmpl.error());
    }
    rt->chat_template = std::make_unique<tokenizer::ChatTemplate>(std::move(*tmpl));
    const int64_t n_ctx_train = rt->model->config().n_ctx_train;
    const int64_t n_ctx = options.n_ctx == 0 ? std::min<int64_t>(n_ctx_train, 8192) : options.n_ctx;
    if (n_ctx < 1 || n_ctx > n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "--ctx must be in [1, %lld] for this model, got %lld",
                          static_cast<long long>(n_ctx_train), static_cast<long long>(n_ctx));
    }
    if (options.max_batch_tokens < 1 || options.max_batch_tokens > 65536 || options.n_kv_blocks < 0
        || options.n_kv_blocks > (1 << 24)) {
        return make_error(ErrorCode::kInvalidArgument, "--max-batch-tokens must be 1..65536 and --kv-blocks 0..2^24");
    }
    if (options.n_threads < 1) {
        return make_error(ErrorCode::kInvalidArgument, "model runtime: threads must be >= 1, got %d",
                          options.n_threads);
    }
    engine::EngineConfig ec;
    ec.n_ctx = static_cast<int32_t>(n_ctx);
    ec.block_size = 16;
    GANNET_ASSIGN_OR_RETURN(ec.kv_type, tensor::kv_type_from_name(options.kv_type));
    // Default KV: room for n_kv_contexts full contexts (64 for serving, 1 for a single request),
    // capped at 1 GiB of K/V in the cache type (so q8_0 fits ~3.8x the tokens of f32 under the cap),
    // never less than one context.
    GANNET_ASSIGN_OR_RETURN(
        kvcache::KvCacheLayout layout,
        runner::paged_layout(*rt->model, {.n_blocks = 1, .block_size = ec.block_size, .kv_type = ec.kv_type}));
    const int64_t blocks_per_ctx = (n_ctx + ec.block_size - 1) / ec.block_size;
    const int64_t default_blocks =
        std::max(blocks_per_ctx, std::min(std::max<int64_t>(1, options.n_kv_contexts) * blocks_per_ctx,
                                          kvcache::n_blocks_in_budget(layout, uint64_t{1} << 30)));
    ec.n_kv_blocks = static_cast<int32_t>(options.n_kv_blocks > 0 ? options.n_kv_blocks : default_blocks);
    ec.max_batch_tokens = static_cast<int32_t>(options.max_batch_tokens);
    ec.n_threads = options.n_threads;
    ec.is_deterministic = options.determinism == engine::Determinism::kInvariant;
    ec.determinism = options.determinism;
    ec.margin_tau = options.margin_tau;
    GANNET_RETURN_IF_ERROR(load_media(*rt, options));
    GANNET_ASSIGN_OR_RETURN(rt->engine, make_engine(*rt, ec, options));
    rt->is_cuda = options.device == "cuda";
    rt->model_name = model_name_of(options.model_path);
    rt->model_path = options.model_path;
    rt->device = options.device;
    rt->n_threads = options.n_threads;
    return rt;
}

Result<std::unique_ptr<SequenceRunner>> SequenceRunner::create(model::Model& model, const std::string& device,
                                                               int64_t n_positions, int n_threads,
                                                               tensor::DType kv_type) {
    constexpr int32_t kBlockSize = 16;
    if (n_positions < 1 || n_positions > (int64_t{1} << 30)) {
        return make_error(ErrorCode::kInvalidArgument, "sequence runner: %lld positions (need 1..2^30)",
                          static_cast<long long>(n_positions));
    }
    const auto n_blocks = static_cast<int32_t>((n_positions + kBlockSize - 1) / kBlockSize);
    if (device == "cpu") {
        GANNET_ASSIGN_OR_RETURN(
            std::unique_ptr<runner::Runner> r,
            runner::Runner::create(
                model, {.n_blocks = n_blocks, .block_size = kBlockSize, .n_threads = n_threads, .kv_type = kv_type}));
        runner::Runner* raw = r.get();
        return std::unique_ptr<SequenceRunner>(
            new SequenceRunner(std::move(r), [raw](std::span<const int32_t> t, int32_t pos, model::LogitsMode mode) {
                return raw->run_sequence(t, pos, mode);
            }));
    }
    if (device != "cuda") {
        return make_error(ErrorCode::kInvalidArgument, "--device must be cpu or cuda, got '%s'", device.c_str());
    }
    if (model.config().arch == model::Arch::kGemma4) {
        // The CUDA forward has no v-norm, layer scale or soft tokens: it would answer wrongly.
        return make_error(ErrorCode::kUnimplemented, "--device cuda: gemma4 models run on the cpu device only");
    }
    if (model.config().is_diffusion()) {
        // The CUDA forward has no V = K global layers, partial rope or ffn_post_norm_1.
        return make_error(ErrorCode::kUnimplemented, "--device cuda: diffusion models (%s) run on the cpu device only",
                          model.config().arch_name.c_str());
    }
#ifdef GANNET_CUDA
    if (kv_type != tensor::DType::kF32 && kv_type != tensor::DType::kF16) {
        return make_error(ErrorCode::kUnimplemented, "--device cuda: --kv-type %s (the device cache is f32 or f16)",
                          tensor::dtype_name(kv_type));
    }
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::cuda::CudaModel> cm, model::cuda::CudaModel::create(model, {}));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::CudaRunner> r,
                            runner::CudaRunner::create(
                                std::move(cm), {.n_blocks = n_blocks,
                                                .block_size = kBlockSize,
                                                .kv_dtype = kv_type == tensor::DType::kF16 ? kvcache::KvDType::kF16
                                                                                           : kvcache::KvDType::kF32}));
    runner::CudaRunner* raw = r.get();
    return std::unique_ptr<SequenceRunner>(
        new SequenceRunner(std::move(r), [raw](std::span<const int32_t> t, int32_t pos, model::LogitsMode mode) {
            return raw->run_sequence(t, pos, mode);
        }));
#else
    (void)n_threads;
    return make_error(ErrorCode::kUnimplemented, "--device cuda: this gannet was built without CUDA");
#endif
}

}  // namespace gannet::server
