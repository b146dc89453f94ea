// JSON-RPC 2.0 error values for MCP and their HTTP statuses (checklist ../shared/specs/mcp.md §1.2,
// §2.3). A handler returns an RpcError; the transport writes it with the request id echoed.
// Owned by src/mcp/. Plain values, thread-compatible.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace gannet::mcp {

using Json = nlohmann::json;

namespace rpc_code {
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
constexpr int kInternalError = -32603;
constexpr int kHeaderMismatch = -32020;
constexpr int kMissingRequiredClientCapability = -32021;
constexpr int kUnsupportedProtocolVersion = -32022;
}  // namespace rpc_code

struct RpcError {
    int code = rpc_code::kInternalError;
    std::string message;
    Json data;              // null: omitted on the wire
    int http_status = 200;  // what the HTTP transport answers with

    Json to_json() const;
};

// Constructors for the errors the checklist fixes, with their HTTP statuses.
RpcError parse_error(const std::string& detail);                     // 400 -32700
RpcError invalid_request(const std::string& detail);                 // 400 -32600
RpcError method_not_found(const std::string& method);                // 404 -32601
RpcError invalid_params(const std::string& detail, int http = 200);  // -32602
RpcError header_mismatch(const std::string& detail);                 // 400 -32020
RpcError missing_capability(const Json& required);                   // 400 -32021
RpcError unsupported_version(const std::string& requested, const Json& supported);  // 400 -32022
RpcError internal_error(const std::string& detail);                  // 500-free: 200 -32603

// ErrorCode -> JSON-RPC error (the one mapping the style guide asks mcp/ to own).
RpcError rpc_error_from_status(const Status& status);

}  // namespace gannet::mcp
