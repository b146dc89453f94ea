#include "server/serve.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "base/log.h"
#include "mcp/server.h"
#include "mcp/tool_packs.h"
#include "server/mcp_route.h"

namespace gannet::server {

std::string default_store_spec() {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    std::string dir =
        state && *state ? std::string(state) : std::string(home && *home ? home : "/tmp") + "/.local/state";
    return "sqlite:" + dir + "/gannet/mcp.db";
}

namespace {

// --sandbox-cpu-s/-mem-mb/-procs/-file-mb onto run_command's rlimits; a flag given without the
// workspace pack (nothing would run under it) or out of range is an error naming it.
Status apply_sandbox_limits(const ServeOptions& o, mcp::SandboxLimits* limits) {
    struct Limit {
        const char* flag;
        int64_t value;
        int64_t max;
        int64_t scale;
        int64_t* out;
    };
    const Limit all[] = {
        {"--sandbox-cpu-s", o.sandbox_cpu_s, 86400, 1, &limits->cpu_seconds},
        {"--sandbox-mem-mb", o.sandbox_mem_mb, int64_t{1} << 20, int64_t{1} << 20, &limits->address_space_bytes},
        {"--sandbox-procs", o.sandbox_procs, 65536, 1, &limits->n_processes},
        {"--sandbox-file-mb", o.sandbox_file_mb, int64_t{1} << 20, int64_t{1} << 20, &limits->file_size_bytes}};
    const bool has_workspace = std::find(o.tool_packs.begin(), o.tool_packs.end(), "workspace") != o.tool_packs.end();
    for (const Limit& l : all) {
        if (l.value == ServeOptions::kSandboxLimitUnset) {
            continue;
        }
        if (!has_workspace) {
            return make_error(ErrorCode::kInvalidArgument, "%s %lld needs --tools workspace", l.flag,
                              static_cast<long long>(l.value));
        }
        if (l.value < 1 || l.value > l.max) {
            return make_error(ErrorCode::kInvalidArgument, "%s must be in [1, %lld], got %lld", l.flag,
                              static_cast<long long>(l.max), static_cast<long long>(l.value));
        }
        *l.out = l.value * l.scale;
    }
    return Status();
}

// With --auth-tokens every route but /health needs a known bearer token: the OpenAI API, /metrics
// (unless is_metrics_public) and whatever a caller mounts. /mcp is let through here because the
// MCP server authenticates each request itself and answers in JSON-RPC (and binds the tenant).
std::function<std::optional<HttpResponse>(const HttpRequest&)> make_auth_gate(const mcp::Auth& auth,
                                                                              bool is_metrics_public) {
    return [auth, is_metrics_public](const HttpRequest& req) -> std::optional<HttpResponse> {
        if (req.path == "/health" || req.path == "/mcp" || (is_metrics_public && req.path == "/metrics")) {
            return std::nullopt;
        }
        if (auth.authenticate(req.header("authorization")).has_value()) {
            return std::nullopt;
        }
        std::string body =
            "{\"error\":{\"message\":\"auth: missing or unknown bearer token (send Authorization: Bearer TOKEN)\","
            "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}";
        return HttpResponse{
            401, {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer"}}, std::move(body)};
    };
}

}  // namespace

Status serve(const ServeOptions& options, const MountFn& mount_model) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client that vanishes mid-write is an error code, not a signal

    mcp::Registry registry;
    mcp::WorkspaceOptions workspace;
    workspace.root = options.workspace.empty() ? "." : options.workspace;
    GANNET_ASSIGN_OR_RETURN(workspace.sandbox_allow_missing, mcp::parse_sandbox_layers(options.sandbox_allow_missing));
    if (!options.sandbox_allow_missing.empty()
        && std::find(options.tool_packs.begin(), options.tool_packs.end(), "workspace") == options.tool_packs.end()) {
        return make_error(ErrorCode::kInvalidArgument, "--sandbox-allow-missing '%s' needs --tools workspace",
                          options.sandbox_allow_missing.c_str());
    }
    GANNET_RETURN_IF_ERROR(apply_sandbox_limits(options, &workspace.limits));
    for (const std::string& pack : options.tool_packs) {
        GANNET_RETURN_IF_ERROR(mcp::add_tool_pack(registry, pack, workspace));
    }
    std::string store_spec = options.store.empty() ? default_store_spec() : options.store;
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<mcp::Store> opened, mcp::open_store(store_spec));
    std::shared_ptr<mcp::Store> store(std::move(opened));
    // The budget ledger lives in the same store as the MCP tasks, so a fleet shares both.
    std::shared_ptr<BudgetGate> budgets;
    if (!options.budgets_file.empty()) {
        GANNET_ASSIGN_OR_RETURN(BudgetsConfig bc, load_budgets_file(options.budgets_file));
        GANNET_ASSIGN_OR_RETURN(budgets, BudgetGate::create(std::move(bc), store));
    }
    mcp::Auth auth;
    if (!options.auth_tokens_file.empty()) {
        GANNET_ASSIGN_OR_RETURN(auth, mcp::Auth::load(options.auth_tokens_file));
    }
    HttpServerConfig http_config = options.http;
    if (auth.is_enabled()) {
        http_config.gate = make_auth_gate(auth, options.is_metrics_public);
    }
    mcp::ServerConfig config;
    config.is_local_only = options.host == "127.0.0.1" || options.host == "localhost" || options.host == "::1";
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<mcp::Server> mcp_server,
                            mcp::Server::create(config, std::move(registry), store, std::move(auth), nullptr));

    http_config.host = options.host;
    http_config.port = options.port;
    http_config.n_io_threads = options.n_io_threads;
    HttpServer http(http_config);
    McpWrapFn charge_tools;
    if (budgets) {
        charge_tools = [&budgets](Handler h) {
            return budgets->wrap_mcp(std::move(h));
        };
    }
    mount_mcp(http, *mcp_server, "/mcp", charge_tools);
    mount_health(http);
    if (budgets) {
        budgets->mount(http);
        if (!mount_model) {
            budgets->mount_metrics(http);  // the model routes serve /metrics (budget lines included) otherwise
        }
    }
    if (mount_model) {
        GANNET_RETURN_IF_ERROR(mount_model(http, budgets));
    }
    GANNET_RETURN_IF_ERROR(http.start());
    std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    // Scripts read this line to find the port when --port 0 was asked for.
    std::printf("gannet serve: listening on http://%s:%d (%smcp: /mcp, health: /health)\n", host.c_str(), http.port(),
                mount_model ? "openai: /v1, metrics: /metrics, " : (budgets ? "metrics: /metrics, " : ""));
    std::fflush(stdout);
    GANNET_LOG_INFO("serve", "store=%s auth=%s budgets=%s schema=%s", store_spec.c_str(),
                    options.auth_tokens_file.empty() ? "off" : "bearer",
                    options.budgets_file.empty() ? "off" : options.budgets_file.c_str(),
                    mcp_server->schema_validator_name().c_str());
    int sig = 0;
    sigwait(&signals, &sig);
    GANNET_LOG_INFO("serve", "signal %d: shutting down", sig);
    http.stop();
    return Status();
}

}  // namespace gannet::server
