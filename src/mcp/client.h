// Blocking MCP client for the agent harness: the stateless 2026-07-28 HTTP transport, with fallback
// to the 2025-11-25 session handshake when the server does not serve a modern version we speak
// (../shared/specs/mcp.md §1, §7 "Probing from the client side"). Plain HTTP/1.1 over POSIX sockets,
// one connection per request. Owned by src/mcp/. Thread-compatible: one Client per thread.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "mcp/rpc_error.h"

namespace gannet::mcp {

struct ClientOptions {
    std::string url;  // http://HOST:PORT/PATH (no TLS)
    // Versions we speak, most preferred first. Modern ones are tried statelessly; a legacy one
    // ("2025-11-25") enables the initialize fallback. {"2025-11-25"} alone pins the legacy era.
    std::vector<std::string> versions = {"2026-07-28", "2025-11-25"};
    Json capabilities = Json::object();  // ClientCapabilities sent in every modern request's _meta
    bool has_tasks = true;               // adds the io.modelcontextprotocol/tasks extension capability
    int timeout_ms = 30000;              // per HTTP exchange (connect, send, receive)
    std::string client_name = "gannet";
    std::string bearer_token;  // sent as "Authorization: Bearer ..." when non-empty (auth, budgets)
};

// One tools/call. A retry after input_required reuses name/arguments and adds the answers.
struct ToolCall {
    std::string name;
    Json arguments = Json::object();
    Json input_responses;       // null: omitted; else {key: ElicitResult|CreateMessageResult|...}
    std::string request_state;  // echoed byte-exact; empty: omitted
    Json progress_token;        // null: omitted; set it to get progress notifications (SSE)
};

enum class CallKind { kComplete, kInputRequired, kTask };

struct CallResult {
    CallKind kind = CallKind::kComplete;
    Json result;                      // CallToolResult, InputRequiredResult or CreateTaskResult
    std::vector<Json> notifications;  // notifications that arrived on the request's SSE stream
};

class Client {
public:
    // Parses the URL; contacts nothing until the first call. kInvalidArgument for a bad URL or
    // an empty version list.
    static Result<Client> create(ClientOptions options);

    // Probes the server on first use (server/discover with our modern versions, then initialize).
    // kUnavailable: connection failed; kUnimplemented: no common version.
    Status connect();

    // All tools, following nextCursor. Protocol errors come back as Status with the JSON-RPC code
    // in the message (see rpc_status()).
    Result<Json> list_tools();
    Result<CallResult> call_tool(const ToolCall& call);

    // Tasks extension (modern era only; kUnimplemented in the legacy era).
    Result<Json> get_task(const std::string& task_id);
    // Polls tasks/get honouring pollIntervalMs until the task is terminal or input_required
    // (returned so the caller can answer with update_task). kDeadlineExceeded after timeout_ms.
    Result<Json> wait_task(const std::string& task_id, int timeout_ms);
    Status update_task(const std::string& task_id, const Json& input_responses);
    Status cancel_task(const std::string& task_id);

    bool is_legacy() const { return is_legacy_; }
    const std::string& protocol_version() const { return version_; }  // empty before connect()
    const Json& server_info() const { return server_info_; }
    // The JSON-RPC error of the last failed call (code 0 when it failed below JSON-RPC).
    const RpcError& last_rpc_error() const { return last_error_; }

private:
    struct Reply {
        int http_status = 0;
        std::string session_id;  // Mcp-Session-Id (legacy)
        Json message;            // the JSON-RPC response (null for 202 Accepted)
        std::vector<Json> notifications;
    };

    Client() = default;
    Result<Reply> post(const std::string& method, const Json& params, const std::string& version, bool is_notification);
    Result<Json> request(const std::string& method, Json params, std::vector<Json>* notifications);
    Status start_legacy(const std::string& version);
    Status probe_modern(const std::string& version, std::vector<std::string>* supported);

    ClientOptions options_;
    std::string host_;
    std::string port_;
    std::string path_;
    bool is_connected_ = false;
    bool is_legacy_ = false;
    std::string version_;
    std::string session_id_;
    Json server_info_;
    RpcError last_error_;
    long next_id_ = 1;
};

// Maps a JSON-RPC error to a Status: -32602 kInvalidArgument, -32601 kNotFound, -32021
// kPermissionDenied, -32022 kUnimplemented, others kInternal. Message: "mcp METHOD: CODE MESSAGE".
Status rpc_status(const std::string& method, const RpcError& error);

}  // namespace gannet::mcp
