#include "mcp/rpc_error.h"

namespace gannet::mcp {

Json RpcError::to_json() const {
    Json j = {{"code", code}, {"message", message}};
    if (!data.is_null()) {
        j["data"] = data;
    }
    return j;
}

RpcError parse_error(const std::string& detail) {
    return RpcError{rpc_code::kParseError, "Parse error: " + detail, nullptr, 400};
}

RpcError invalid_request(const std::string& detail) {
    return RpcError{rpc_code::kInvalidRequest, "Invalid Request: " + detail, nullptr, 400};
}

RpcError method_not_found(const std::string& method) {
    return RpcError{rpc_code::kMethodNotFound, "Method not found: " + method, nullptr, 404};
}

RpcError invalid_params(const std::string& detail, int http) {
    return RpcError{rpc_code::kInvalidParams, "Invalid params: " + detail, nullptr, http};
}

RpcError header_mismatch(const std::string& detail) {
    return RpcError{rpc_code::kHeaderMismatch, "Header mismatch: " + detail, nullptr, 400};
}

RpcError missing_capability(const Json& required) {
    return RpcError{rpc_code::kMissingRequiredClientCapability,
                    "Missing required client capability: " + required.dump(), Json{{"requiredCapabilities", required}},
                    400};
}

RpcError unsupported_version(const std::string& requested, const Json& supported) {
    return RpcError{rpc_code::kUnsupportedProtocolVersion, "Unsupported protocol version: " + requested,
                    Json{{"supported", supported}, {"requested", requested}}, 400};
}

RpcError internal_error(const std::string& detail) {
    return RpcError{rpc_code::kInternalError, "Internal error: " + detail, nullptr, 200};
}

RpcError rpc_error_from_status(const Status& status) {
    switch (status.code()) {
        case ErrorCode::kInvalidArgument:
        case ErrorCode::kNotFound:
        case ErrorCode::kAlreadyExists: return RpcError{rpc_code::kInvalidParams, status.message(), nullptr, 200};
        case ErrorCode::kUnimplemented: return RpcError{rpc_code::kMethodNotFound, status.message(), nullptr, 404};
        default: return RpcError{rpc_code::kInternalError, status.message(), nullptr, 200};
    }
}

}  // namespace gannet::mcp
