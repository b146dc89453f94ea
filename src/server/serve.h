// `gannet serve` without the flag parsing: builds the MCP server (tool packs, store, auth), mounts
// /mcp and /health, lets the caller mount a model runtime (the OpenAI API, issue #5), prints the
// bound address and runs until SIGINT/SIGTERM. Owned by src/server/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "server/budget_gate.h"
#include "server/http_server.h"

namespace gannet::server {

struct ServeOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                      // 0: any free port (printed on stdout)
    std::vector<std::string> tool_packs;  // "workspace", "conformance"
    std::string store;                    // "sqlite:PATH" | "redis://HOST:PORT"; empty: the default SQLite file
    std::string workspace;                // root for the workspace pack
    std::string sandbox_allow_missing;    // "landlock,seccomp": run_command may run without these layers
    // run_command's rlimits (mcp::SandboxLimits); kSandboxLimitUnset: the default. serve() checks the
    // ranges (so -1 or 0 from the command line is an error, not "the default").
    static constexpr int64_t kSandboxLimitUnset = INT64_MIN;
    int64_t sandbox_cpu_s = kSandboxLimitUnset;    // RLIMIT_CPU seconds
    int64_t sandbox_mem_mb = kSandboxLimitUnset;   // RLIMIT_AS, MiB
    int64_t sandbox_procs = kSandboxLimitUnset;    // RLIMIT_NPROC
    int64_t sandbox_file_mb = kSandboxLimitUnset;  // RLIMIT_FSIZE, MiB
    std::string auth_tokens_file;                  // empty: no auth
    std::string budgets_file;                      // empty: no token budgets (see budget_gate.h)
    bool is_metrics_public = false;                // with auth: /metrics answers without a token (for scrapers)
    int n_io_threads = 2;
    // Body/header sizes, timeouts, slow-reader bound and admission limits (see HttpServerConfig);
    // its host, port and n_io_threads are ignored in favour of the fields above.
    HttpServerConfig http;
};

// Mounts extra routes (the model runtime) before the server starts; `budgets` is null without
// --budgets. Returns non-OK to abort.
using MountFn = std::function<Status(HttpServer& http, std::shared_ptr<BudgetGate> budgets)>;

// Blocks until SIGINT/SIGTERM. REQUIRES: called from the main thread before any other thread starts
// (it blocks the two signals so that only this thread receives them).
Status serve(const ServeOptions& options, const MountFn& mount_model);

// "sqlite:$XDG_STATE_HOME/gannet/mcp.db" (or ~/.local/state/gannet/mcp.db).
std::string default_store_spec();

}  // namespace gannet::server
