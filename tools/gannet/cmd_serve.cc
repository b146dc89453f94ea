// `gannet serve`: the MCP server (/mcp, /health) and, once the model runtime lands, the OpenAI API.
#include <algorithm>
#include <cstdio>

#include "command.h"
#include "flags.h"
#include "model_cli.h"
#include "serve_limits.h"
#include "server/openai_routes.h"
#include "server/serve.h"
#ifdef GANNET_CUDA
#include "model/cuda/cuda_model.h"
#include "runner/cuda/cuda_runner.h"
#endif

namespace gannet::app {

namespace {

struct ModelOptions {
    int64_t n_ctx = 0;  // 0: the model's training context, at most 8192
    int64_t n_kv_blocks = 0;  // 0: enough for 4 full contexts
    int64_t max_batch_tokens = 512;
    int64_t n_threads = 0;
    bool is_deterministic = false;
    std::string device = "cpu";  // cpu or cuda (the engine's runner)
    std::string kv_type = "f32";  // --kv-type: f32, f16, q8_0 or q4_0 (paged K/V rows)
    int64_t max_tokens_limit = 0;  // --max-tokens; 0: the context
};

// ChatML, for models whose GGUF has no chat template.
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// The model runtime (issue #5): load MODEL and mount /v1/* and /metrics on the HTTP server.
Status mount_model(server::HttpServer& http, const std::string& path, const ModelOptions& mo_in) {
    auto rt = std::make_shared<server::OpenAiRuntime>();
    GANNET_ASSIGN_OR_RETURN(rt->model, model::Model::load(path));
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
    ModelOptions mo = mo_in;
    if (mo.n_ctx == 0) {
        mo.n_ctx = std::min<int64_t>(n_ctx_train, 8192);
    }
    if (mo.n_ctx < 1 || mo.n_ctx > n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "--ctx must be in [1, %lld] for this model, got %lld",
                          static_cast<long long>(n_ctx_train), static_cast<long long>(mo.n_ctx));
    }
    if (mo.max_batch_tokens < 1 || mo.max_batch_tokens > 65536 || mo.n_kv_blocks < 0 || mo.n_kv_blocks > (1 << 24)) {
        return make_error(ErrorCode::kInvalidArgument, "--max-batch-tokens must be 1..65536 and --kv-blocks 0..2^24");
    }
    GANNET_ASSIGN_OR_RETURN(int n_threads, resolve_threads(mo.n_threads));
    engine::EngineConfig ec;
    ec.n_ctx = static_cast<int32_t>(mo.n_ctx);
    ec.block_size = 16;
    GANNET_ASSIGN_OR_RETURN(ec.kv_type, tensor::kv_type_from_name(mo.kv_type));
    // Default KV: room for 64 full contexts, capped at 1 GiB of K/V in the cache type (so q8_0 fits
    // ~3.8x the tokens of f32 under the cap), never less than one context.
    GANNET_ASSIGN_OR_RETURN(
        kvcache::KvCacheLayout layout,
        runner::paged_layout(*rt->model, {.n_blocks = 1, .block_size = ec.block_size, .kv_type = ec.kv_type}));
    const int64_t blocks_per_ctx = (mo.n_ctx + ec.block_size - 1) / ec.block_size;
    const int64_t default_blocks =
        std::max(blocks_per_ctx, std::min(64 * blocks_per_ctx, kvcache::n_blocks_in_budget(layout, uint64_t{1} << 30)));
    ec.n_kv_blocks = static_cast<int32_t>(mo.n_kv_blocks > 0 ? mo.n_kv_blocks : default_blocks);
    ec.max_batch_tokens = static_cast<int32_t>(mo.max_batch_tokens);
    ec.n_threads = n_threads;
    ec.is_deterministic = mo.is_deterministic;
    if (mo.device == "cuda") {
#ifdef GANNET_CUDA
        if (ec.kv_type != tensor::DType::kF32) {
            return make_error(ErrorCode::kUnimplemented, "--device cuda keeps the KV cache in f32 only");
        }
        // Weights go to the GPU once; the runner keeps the paged KV cache in device memory (the
        // model's own contiguous cache is not used, so it gets one position).
        GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::cuda::CudaModel> cm,
                                model::cuda::CudaModel::create(*rt->model, {.n_ctx = 1}));
        GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::CudaRunner> cr,
                                runner::CudaRunner::create(std::move(cm), {.n_blocks = ec.n_kv_blocks,
                                                                           .block_size = ec.block_size,
                                                                           .is_deterministic = ec.is_deterministic}));
        GANNET_ASSIGN_OR_RETURN(rt->engine, engine::Engine::create(*rt->model, *rt->tokenizer, ec, std::move(cr)));
#else
        return make_error(ErrorCode::kUnimplemented, "--device cuda: this gannet was built without CUDA");
#endif
    } else if (mo.device == "cpu") {
        GANNET_ASSIGN_OR_RETURN(rt->engine, engine::Engine::create(*rt->model, *rt->tokenizer, ec));
    } else {
        return make_error(ErrorCode::kInvalidArgument, "--device must be cpu or cuda, got '%s'", mo.device.c_str());
    }
    std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) {
        name.resize(name.size() - 5);
    }
    rt->model_name = name;
    rt->max_tokens_limit = static_cast<int32_t>(mo.max_tokens_limit);
    server::mount_openai_routes(http, rt);
    return Status();
}

int serve_main(const std::vector<std::string>& args) {
    Flags flags("serve");
    server::ServeOptions o;
    int64_t port = o.port;
    std::string model;
    bool is_no_model = false;
    std::vector<std::string> packs;
    std::string tools;
    bool is_help = false;
    flags.add_string("--host", &o.host, "address to bind (default 127.0.0.1; loopback enables Host/Origin checks)");
    flags.add_int("--port", &port, "port (default 8080; 0 picks a free one and prints it)");
    flags.add_bool("--no-model", &is_no_model, "serve MCP only, without a model");
    flags.add_string("-m,--model", &model, "GGUF model for the OpenAI API");
    ModelOptions mo;
    flags.add_int("--ctx", &mo.n_ctx, "context length per request, prompt + completion (default: the model's, at most 8192)");
    flags.add_int("--kv-blocks", &mo.n_kv_blocks, "paged KV cache blocks of 16 tokens (default: 64 contexts, at most 1 GiB)");
    flags.add_int("--max-batch-tokens", &mo.max_batch_tokens, "tokens per engine step (default 512)");
    flags.add_string("--kv-type", &mo.kv_type, kKvTypeHelp);
    flags.add_string("--device", &mo.device, "cpu (default) or cuda: where the engine runs the model");
    flags.add_int("-t,--threads", &mo.n_threads, "compute threads (default 0: all)");
    flags.add_bool("--deterministic", &mo.is_deterministic,
                   "a request's tokens do not depend on its batch-mates (the CPU path always is; cuda: one token per product)");
    flags.add_string("--tools", &tools, "comma-separated tool packs: workspace, conformance");
    flags.add_string("--store", &o.store, "sqlite:PATH or redis://HOST:PORT (default " +
                                               server::default_store_spec() + ")");
    flags.add_string("--workspace", &o.workspace, "root directory for the workspace tools (default .)");
    flags.add_string("--sandbox-allow-missing", &o.sandbox_allow_missing,
                     "comma-separated sandbox layers run_command may run without when the kernel refuses them "
                     "(user, mount, pid, net, caps, seccomp, landlock, rlimits; default none: refuse to start)");
    flags.add_string("--auth-tokens", &o.auth_tokens_file, "file of 'TOKEN TENANT' lines; enables bearer auth");
    ServeLimitFlags limits;
    limits.add_to(flags);
    flags.add_bool("-h,--help", &is_help, "show this help");
    if (Status s = flags.parse(args); !s.ok()) {
        return fail("serve", s);
    }
    if (Result<tensor::DType> t = tensor::kv_type_from_name(mo.kv_type); !t.has_value()) {
        return fail("serve", t.error());
    }
    if (is_help) {
        std::printf("usage: gannet serve [--host H] [--port P] [--no-model | -m MODEL] [--ctx N] [--kv-blocks N]\n"
                    "                    [--kv-type T] [--max-batch-tokens N] [--device cpu|cuda] [--deterministic] [--tools PACK,...]\n"
                    "                    [--store sqlite:PATH | redis://HOST:PORT] [--workspace DIR] [--sandbox-allow-missing LAYERS]\n"
                    "                    [--auth-tokens FILE [--public-metrics]] [limits: --max-body-bytes N ...]\n\n%s",
                    flags.usage().c_str());
        return 0;
    }
    if (is_no_model && !model.empty()) {
        return fail("serve", make_error(ErrorCode::kInvalidArgument, "--no-model and -m are mutually exclusive"));
    }
    if (port < 0 || port > 65535) {
        return fail("serve", make_error(ErrorCode::kInvalidArgument, "--port must be 0..65535, got %lld",
                                        static_cast<long long>(port)));
    }
    o.port = static_cast<int>(port);
    if (Status s = limits.apply(o); !s.ok()) {
        return fail("serve", s);
    }
    mo.max_tokens_limit = limits.max_tokens;
    size_t start = 0;
    while (start <= tools.size() && !tools.empty()) {
        size_t comma = tools.find(',', start);
        std::string pack = tools.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!pack.empty()) {
            o.tool_packs.push_back(pack);
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    server::MountFn mount;
    if (!is_no_model && model.empty()) {
        Result<std::string> def = default_model_path();
        if (!def.has_value()) {
            return fail("serve", def.error());
        }
        model = *def;
    }
    if (!model.empty()) {
        // Runs before the port is bound, so a model that cannot load never half-starts a server.
        mount = [model, mo](server::HttpServer& http) { return mount_model(http, model, mo); };
    }
    Status s = server::serve(o, mount);
    return s.ok() ? 0 : fail("serve", s);
}

}  // namespace
}  // namespace gannet::app

GANNET_COMMAND("serve", "serve MCP tools (and, with a model, the OpenAI API) over HTTP", gannet::app::serve_main);
