// The model side of the agent: one /chat/completions call over the project's HTTP client
// (src/bench/http_client.h), non-streaming, with tools. Any OpenAI-compatible endpoint.
// Owned by src/agent/. Thread-safety: free functions; each call owns its connection.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "base/result.h"
#include "bench/http_client.h"

namespace gannet::agent {

struct ModelEndpoint {
    bench::Url url;       // base, e.g. http://127.0.0.1:8080/v1
    std::string model;    // empty: resolve_model() fills it from GET /models
    std::string api_key;  // "Authorization: Bearer ..." when non-empty; never logged
    int timeout_ms = 600000;
};

struct ChatReply {
    int http_status = 0;
    std::string content;
    nlohmann::json tool_calls = nlohmann::json::array();  // OpenAI tool_calls of the message
    std::string finish_reason;
    uint64_t prompt_tokens = 0;
    uint64_t completion_tokens = 0;
    std::string error_type;  // non-200: the error object's type/code/message
    std::string error_code;
    std::string error_message;

    bool is_ok() const { return http_status == 200; }
    uint64_t total_tokens() const { return prompt_tokens + completion_tokens; }
};

// The first model GET <url>/models lists. kUnavailable (unreachable), kDataLoss (malformed answer).
Result<std::string> resolve_model(const ModelEndpoint& endpoint);

// POSTs {model, messages, tools?, max_tokens, temperature, seed, stop?}. A non-200 answer is a ChatReply
// with the error fields set (a 429 is the server's budget speaking, not a harness failure). Errors:
// those of the HTTP client; kDataLoss for a 200 without choices or usage.
Result<ChatReply> chat(const ModelEndpoint& endpoint, const nlohmann::json& messages, const nlohmann::json& tools,
                       uint64_t max_tokens, double temperature, uint64_t seed, const std::string& stop = "");

}  // namespace gannet::agent
