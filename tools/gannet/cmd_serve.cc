// `gannet serve`: the MCP server (/mcp, /health) and, with a model, the OpenAI API. Parses flags;
// server::ModelRuntime assembles the model, tokenizer, engine and runner, server::serve the rest.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "command.h"
#include "flags.h"
#include "model_cli.h"
#include "serve_limits.h"
#include "server/budget_gate.h"
#include "server/model_runtime.h"
#include "server/openai_routes.h"
#include "server/serve.h"

namespace gannet::app {

namespace {

struct ModelOptions {
    int64_t n_ctx = 0;        // 0: the model's training context, at most 8192
    int64_t n_kv_blocks = 0;  // 0: 64 contexts, at most 1 GiB
    int64_t max_batch_tokens = 512;
    int64_t n_threads = 0;
    std::string deterministic = "off";  // --deterministic: off, invariant (bare flag), margin or always
    double margin_tau = engine::kDefaultMarginTau;
    std::string device = "cpu";                // cpu or cuda (the engine's runner)
    std::string kv_type = "f32";               // --kv-type: f32, f16, q8_0 or q4_0 (paged K/V rows)
    int64_t max_tokens_limit = 0;              // --max-tokens; 0: the context
    std::string mmproj;                        // --mmproj: projector file for image/audio input
    int64_t max_media_parts = 8;               // --max-media-parts
    int64_t max_media_bytes = 24 << 20;        // --max-media-bytes: base64 text of one part
    std::string sparse_attention = "default";  // --sparse-attention; requests may override it
    int64_t max_n_limit = 16;                  // --max-n
};

// The model runtime (server/model_runtime.h): load MODEL and mount /v1/* and /metrics on the HTTP server;
// budgets (may be null) gate each request by its API key.
Status mount_model(server::HttpServer& http, const std::string& path, const ModelOptions& mo,
                   std::shared_ptr<server::BudgetGate> budgets) {
    GANNET_ASSIGN_OR_RETURN(int n_threads, resolve_threads(mo.n_threads));
    GANNET_ASSIGN_OR_RETURN(engine::Determinism determinism,
                            engine::determinism_from_name(mo.deterministic, "--deterministic"));
    if (mo.max_media_bytes < 1 || mo.max_media_bytes > (int64_t{1} << 30)) {
        return make_error(ErrorCode::kInvalidArgument, "--max-media-bytes must be in [1, 2^30], got %lld",
                          static_cast<long long>(mo.max_media_bytes));
    }
    multimodal::MediaOptions media_options;
    media_options.max_encoded_bytes = static_cast<size_t>(mo.max_media_bytes);
    GANNET_ASSIGN_OR_RETURN(std::shared_ptr<server::OpenAiRuntime> rt,
                            server::ModelRuntime::create({.model_path = path,
                                                          .n_ctx = mo.n_ctx,
                                                          .n_kv_blocks = mo.n_kv_blocks,
                                                          .max_batch_tokens = mo.max_batch_tokens,
                                                          .n_threads = n_threads,
                                                          .determinism = determinism,
                                                          .margin_tau = static_cast<float>(mo.margin_tau),
                                                          .device = mo.device,
                                                          .kv_type = mo.kv_type,
                                                          .mmproj_path = mo.mmproj,
                                                          .media_options = media_options,
                                                          .max_media_parts = mo.max_media_parts,
                                                          .sparse_attention = mo.sparse_attention}));
    rt->budgets = std::move(budgets);
    rt->max_tokens_limit = static_cast<int32_t>(mo.max_tokens_limit);
    rt->max_n_limit = static_cast<int32_t>(mo.max_n_limit);
    server::mount_openai_routes(http, rt);
    return Status();
}

// `--deterministic` alone meant the batch-invariant path before it took a value, and still does: it
// becomes `--deterministic=invariant` unless a mode name follows (a bad name fails in the parse).
std::vector<std::string> bare_deterministic_is_invariant(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (size_t i = 0; i < args.size(); ++i) {
        const bool has_value = i + 1 < args.size() && !args[i + 1].empty() && args[i + 1][0] != '-';
        if (args[i] == "--deterministic" && !has_value) {
            out.push_back("--deterministic=invariant");
        } else {
            out.push_back(args[i]);
        }
    }
    return out;
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
    flags.add_string(
        "--host", &o.host,
        "address to bind (default 127.0.0.1; cross-site Origins get 403 anywhere, foreign Hosts on loopback)");
    flags.add_int("--port", &port, "port (default 8080; 0 picks a free one and prints it)");
    flags.add_bool("--no-model", &is_no_model, "serve MCP only, without a model");
    flags.add_string("-m,--model", &model, "GGUF model for the OpenAI API");
    ModelOptions mo;
    flags.add_int("--ctx", &mo.n_ctx,
                  "context length per request, prompt + completion (default: the model's, at most 8192)");
    flags.add_int("--kv-blocks", &mo.n_kv_blocks,
                  "paged KV cache blocks of 16 tokens (default: 64 contexts, at most 1 GiB; cuda: at most the device "
                  "memory left after the weights, less 3 GiB)");
    flags.add_int("--max-batch-tokens", &mo.max_batch_tokens, "tokens per engine step (default 512)");
    flags.add_string("--kv-type", &mo.kv_type, kKvTypeHelp);
    flags.add_string("--device", &mo.device, "cpu (default) or cuda: where the engine runs the model");
    flags.add_string("--sparse-attention", &mo.sparse_attention, kSparseAttentionHelp);
    flags.add_int("-t,--threads", &mo.n_threads, "compute threads (default 0: all)");
    flags.add_string("--deterministic", &mo.deterministic,
                     "off (default), invariant (the bare flag: batch-invariant products; the CPU path always is), "
                     "margin (MarginGate: verify greedy steps whose top-1/top-2 margin is below --margin-tau on "
                     "the reference path) or always (verify every greedy step)");
    flags.add_float("--margin-tau", &mo.margin_tau,
                    "MarginGate's threshold in logits (default 1; `gannet bench determinism --calibrate` finds one)");
    flags.add_string("--tools", &tools, "comma-separated tool packs: workspace, conformance");
    flags.add_string("--store", &o.store,
                     "sqlite:PATH or redis://HOST:PORT (default " + server::default_store_spec() + ")");
    flags.add_string("--workspace", &o.workspace, "root directory for the workspace tools (default .)");
    flags.add_string("--sandbox-allow-missing", &o.sandbox_allow_missing,
                     "comma-separated sandbox layers run_command may run without when the kernel refuses them "
                     "(user, mount, pid, net, caps, seccomp, landlock, rlimits; default none: refuse to start)");
    flags.add_int("--sandbox-cpu-s", &o.sandbox_cpu_s, "run_command: CPU seconds per process (default 60)");
    flags.add_int("--sandbox-mem-mb", &o.sandbox_mem_mb, "run_command: address space per process, MiB (default 4096)");
    flags.add_int("--sandbox-procs", &o.sandbox_procs, "run_command: processes of the sandbox uid (default 256)");
    flags.add_int("--sandbox-file-mb", &o.sandbox_file_mb,
                  "run_command: largest file it may write, MiB (default 1024)");
    flags.add_string("--auth-tokens", &o.auth_tokens_file, "file of 'TOKEN TENANT' lines; enables bearer auth");
    flags.add_string("--budgets", &o.budgets_file,
                     "JSON file of per-API-key token budgets and tool costs (docs/budgets.md)");
    flags.add_string("--mmproj", &mo.mmproj,
                     "gemma4uv/gemma4ua projector GGUF for image/audio input (default: the model file's, if any)");
    flags.add_int("--max-media-parts", &mo.max_media_parts,
                  "image_url/input_audio parts per chat request (default 8; http(s) image URLs are always refused)");
    flags.add_int("--max-media-bytes", &mo.max_media_bytes,
                  "base64 bytes of one image/audio part (default 25165824; --max-body-bytes bounds the request)");
    ServeLimitFlags limits;
    limits.add_to(flags);
    flags.add_bool("-h,--help", &is_help, "show this help");
    if (Status s = flags.parse(bare_deterministic_is_invariant(args)); !s.ok()) {
        return fail("serve", s);
    }
    if (Result<engine::Determinism> d = engine::determinism_from_name(mo.deterministic, "--deterministic");
        !d.has_value()) {
        return fail("serve", d.error());
    }
    if (!(mo.margin_tau >= 0.0) || !std::isfinite(mo.margin_tau)) {
        return fail("serve", make_error(ErrorCode::kInvalidArgument,
                                        "--margin-tau must be a finite number >= 0, got %g", mo.margin_tau));
    }
    if (Result<tensor::DType> t = tensor::kv_type_from_name(mo.kv_type); !t.has_value()) {
        return fail("serve", t.error());
    }
    if (is_help) {
        std::printf(
            "usage: gannet serve [--host H] [--port P] [--no-model | -m MODEL] [--ctx N] [--kv-blocks N]\n"
            "                    [--kv-type T] [--max-batch-tokens N] [--device cpu|cuda]\n"
            "                    [--deterministic [off|invariant|margin|always]] [--margin-tau T]\n"
            "                    [--sparse-attention off|quest|msa]\n"
            "                    [--tools PACK,...] [--store sqlite:PATH | redis://HOST:PORT] [--workspace DIR]\n"
            "                    [--sandbox-allow-missing LAYERS] [--auth-tokens FILE [--public-metrics]]\n"
            "                    [--budgets FILE] [--mmproj FILE] [--max-media-parts N] [--max-media-bytes N]\n"
            "                    [limits: --max-body-bytes N ...]\n\n%s",
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
    mo.max_n_limit = limits.max_n;
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
        mount = [model, mo](server::HttpServer& http, std::shared_ptr<server::BudgetGate> budgets) {
            return mount_model(http, model, mo, std::move(budgets));
        };
    }
    Status s = server::serve(o, mount);
    return s.ok() ? 0 : fail("serve", s);
}

}  // namespace
}  // namespace gannet::app

GANNET_COMMAND("serve", "serve MCP tools (and, with a model, the OpenAI API) over HTTP", gannet::app::serve_main);
