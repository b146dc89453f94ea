#include "server/model_runtime.h"

#include <algorithm>

#include "kvcache/kv_storage.h"
#include "runner/runner.h"
#include "tensor/kv_quant.h"
#ifdef GANNET_CUDA
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

Result<std::unique_ptr<engine::Engine>> make_engine(const OpenAiRuntime& rt, const engine::EngineConfig& ec,
                                                    const std::string& device) {
    if (device == "cpu") {
        return engine::Engine::create(*rt.model, *rt.tokenizer, ec);
    }
    if (device != "cuda") {
        return make_error(ErrorCode::kInvalidArgument, "--device must be cpu or cuda, got '%s'", device.c_str());
    }
#ifdef GANNET_CUDA
    if (ec.kv_type != tensor::DType::kF32) {
        return make_error(ErrorCode::kUnimplemented, "--device cuda keeps the KV cache in f32 only");
    }
    // Weights go to the GPU once; the runner keeps the paged KV cache in device memory (the model's
    // own contiguous cache is not used, so it gets one position).
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::cuda::CudaModel> cm,
                            model::cuda::CudaModel::create(*rt.model, {.n_ctx = 1}));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::CudaRunner> cr,
                            runner::CudaRunner::create(std::move(cm), {.n_blocks = ec.n_kv_blocks,
                                                                       .block_size = ec.block_size,
                                                                       .is_deterministic = ec.is_deterministic}));
    return engine::Engine::create(*rt.model, *rt.tokenizer, ec, std::move(cr));
#else
    return make_error(ErrorCode::kUnimplemented, "--device cuda: this gannet was built without CUDA");
#endif
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
    ec.is_deterministic = options.is_deterministic;
    GANNET_ASSIGN_OR_RETURN(rt->engine, make_engine(*rt, ec, options.device));
    rt->is_cuda = options.device == "cuda";
    rt->model_name = model_name_of(options.model_path);
    return rt;
}

}  // namespace gannet::server
