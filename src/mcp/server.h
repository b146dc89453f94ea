// Server: MCP over Streamable HTTP, stateless 2026-07-28 (every request carries its own version,
// capabilities and auth, so any server of a fleet answers any request), plus 2025-11-25 clients
// served statelessly (initialize answered, no session kept in memory). Validation follows the wire
// checklist ../shared/specs/mcp.md §1.2 in the order of §11: transport (405/403/401/415) -> parse
// (-32700/-32600) -> headers (-32020) -> _meta (-32602) -> version (-32022) -> method (-32601) ->
// capability (-32021) -> handler. Owned by src/mcp/.
// Thread-safety: handle() may be called concurrently from any I/O thread; it never blocks (tools
// that block run on the server's worker threads).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "mcp/auth.h"
#include "mcp/registry.h"
#include "mcp/schema_validator.h"
#include "mcp/store.h"
#include "mcp/transport.h"

namespace gannet::mcp {

inline constexpr const char* kModernVersion = "2026-07-28";

struct ServerConfig {
    std::string name = "gannet";
    std::string version = "0.1.0";
    std::string instructions;
    // Reject requests whose Host or Origin is not localhost (DNS rebinding), for servers bound to
    // loopback. Servers behind a proxy list their public origins in allowed_origins instead.
    bool is_local_only = true;
    std::vector<std::string> allowed_origins;  // exact "scheme://host[:port]" values
    int n_workers = 16;                        // threads for blocking tools and background tasks
    int64_t task_ttl_ms = 60 * 60 * 1000;
    int64_t task_poll_interval_ms = 200;
    int64_t request_state_ttl_ms = 10 * 60 * 1000;
    int64_t list_ttl_ms = 60 * 1000;  // ttlMs on cacheable list results
};

class Server {
public:
    // Fetches (or mints) the fleet's requestState secret from the store; kUnavailable if the store
    // is down, kInvalidArgument if a tool's inputSchema does not compile.
    static Result<std::unique_ptr<Server>> create(ServerConfig config, Registry registry, std::shared_ptr<Store> store,
                                                  Auth auth, std::unique_ptr<SchemaValidatorFactory> schemas);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // One HTTP request on the MCP endpoint. Answers exactly once through `reply` (possibly later,
    // from a worker thread).
    void handle(HttpCall call, std::shared_ptr<HttpReply> reply);

    // Announces a changed list ("tools", "prompts", "resources") on open subscriptions/listen streams.
    void notify_list_changed(const std::string& list);

    const std::string& schema_validator_name() const;

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gannet::mcp
