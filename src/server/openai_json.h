// The OpenAI wire format: request parsing and validation (chat and text completions), error bodies,
// response/chunk JSON, SSE framing and tool-call extraction from model output (Hermes/Qwen
// <tool_call> tags, Llama 3 bare JSON, Gemma ```tool_code blocks). Pure functions; no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
// A 400 invalid_request_error naming `param`; invalid_type's message is OpenAI's "Invalid type for
// 'param': expected ..., but got ... instead."
OpenAiError invalid_param(const std::string& param, const std::string& message);
OpenAiError invalid_type(const std::string& param, const std::string& expected, const nlohmann::json& got);

// An image_url or input_audio content part of a chat message, kept as JSON until the route knows
// the model (src/server/openai_media.h decodes it). It stands at a media_sentinel() in its message's
// content text, so the chat template places it.
struct MediaRef {
    std::string param;  // "messages[i].content[j]"
    nlohmann::json part;
};
// A per-process random marker that no client text contains.
const std::string& media_sentinel();

struct CompletionRequest {
    bool is_chat = true;
    std::string model;
    std::vector<tokenizer::ChatMessage> messages;  // chat
    std::vector<MediaRef> media;                   // chat: media parts in message order
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
    // Structured output: "text" (none), "json_object" or "json_schema" (with schema and strict).
    std::string response_format = "text";
    nlohmann::json response_schema;
    bool is_schema_strict = false;
    std::string tool_choice_name;  // tool_choice {"type": "function", "function": {"name": ...}}
    bool is_parallel_tool_calls = true;
    std::vector<std::pair<int32_t, float>> logit_bias;
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    int32_t top_logprobs = -1;  // -1: no logprobs (chat: logprobs false; completions: logprobs null)
    int32_t n = 1;
    // "off", "invariant", "margin" or "always" (engine/margin_gate.h); empty: the server's --deterministic.
    std::string deterministic;
    // Completions only: echo puts the prompt before each choice's text; best_of generates that many
    // (>= n) and returns the n of the highest mean token logprob (0: n).
    bool is_echo = false;
    int32_t best_of = 0;
    // Extensions for diffusion models (#18): denoising steps per canvas (0: the model's 48) and the
    // canvas length the client expects (-1: any; else it must be the model's).
    int32_t diffusion_steps = 0;
    int32_t canvas_length = -1;
    // Gannet extension: "off", "quest" or "msa" for this request's block-sparse attention; empty:
    // the server's --sparse-attention.
    std::string sparse_attention;
    // OpenAI's end-user id: not a generation parameter; logged with the request id (abuse tracing).
    std::string user;
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
