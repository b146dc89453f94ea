// The OpenAI wire format: request parsing and validation (chat and text completions), error bodies,
// response/chunk JSON, SSE framing and tool-call extraction from model output (Hermes/Qwen
// <tool_call> tags, Llama 3 bare JSON, Gemma ```tool_code blocks). Pure functions; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

namespace gannet::server {

struct OpenAiError {
    int http_status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param;  // empty: null
    std::string code;   // empty: null
};
std::string error_body(const OpenAiError& e);

struct CompletionRequest {
    bool is_chat = true;
    std::string model;
    std::vector<tokenizer::ChatMessage> messages;  // chat
    std::string prompt;                            // completions
    std::string tools_json;                        // JSON array text, empty when none
    std::string tool_choice = "auto";              // "none" drops the tools
    bool is_stream = false;
    bool include_usage = false;
    int32_t max_tokens = -1;  // -1: up to the context
    float temperature = 1.0f;
    float top_p = 1.0f;
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    bool ignore_eos = false;
};

// Parses and validates a request body. Errors carry the offending param.
std::optional<OpenAiError> parse_completion_request(const std::string& body, bool is_chat, CompletionRequest& out);

struct ParsedToolCalls {
    std::string content;  // text outside the calls
    std::vector<tokenizer::ToolCall> calls;
};
// Finds tool calls in model output. Ids are "call_<index>"; arguments are compact JSON objects.
ParsedToolCalls parse_tool_calls(const std::string& text);

// "data: <json>\n\n"; sse_done() is "data: [DONE]\n\n".
std::string sse_data(const nlohmann::json& j);
std::string sse_done();

nlohmann::json usage_json(int32_t prompt_tokens, int32_t completion_tokens, int32_t cached_tokens);

}  // namespace gannet::server
