// POST /v1/responses, OpenAI's Responses API over the same engine path as chat completions: the
// request (input as a string or message / function_call / function_call_output items,
// instructions, function tools and tool_choice, max_output_tokens, temperature, top_p, text.format,
// parallel_tool_calls, metadata, user, stream) is translated into a chat request and validated by
// the chat parser; the answer is a response object, or with stream the official event sequence
// (response.created ... response.completed). Responses are stored in memory (ResponseStore) unless
// store is false: previous_response_id continues a stored conversation, GET / DELETE
// /v1/responses/{id} read and drop one. Owner: server. Thread-safety: the parser is pure; the handler
// never blocks (the engine's callbacks answer).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

#include "server/http_types.h"
#include "server/openai_json.h"

namespace gannet::server {

struct OpenAiRuntime;

class ResponseStore;

struct ResponsesRequest {
    CompletionRequest chat;  // what the engine path runs (is_chat, n 1)
    bool is_store = true;    // OpenAI's default
    // The chat messages of the conversation without the instructions (the stored one of
    // previous_response_id, then this input): what is stored with this response's output.
    nlohmann::json conversation = nlohmann::json::array();
    // Echoed in the response object as sent (or their defaults): instructions, tools, tool_choice,
    // text, metadata, max_output_tokens, temperature, top_p, parallel_tool_calls, user.
    nlohmann::json echo;
};

// Errors name the Responses parameter and its path ("input[2].content[0].type", "text.format").
// `store` resolves previous_response_id (null: none is stored, so any id is unknown); an unknown
// id is a 400 with code previous_response_not_found.
std::optional<OpenAiError> parse_responses_request(const std::string& body, const ResponseStore* store,
                                                   ResponsesRequest& out);

// The chat parser's param names in the Responses API's terms ("messages[2]" -> "input",
// "response_format" -> "text.format", "max_completion_tokens" -> "max_output_tokens").
std::string responses_param(const std::string& chat_param);

// GET /v1/responses/{id} (the stored response object) and DELETE (OpenAI's response.deleted);
// 404 for an id not stored.
void handle_stored_response(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                            const std::shared_ptr<ResponseWriter>& writer);

void handle_responses(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                      const std::shared_ptr<ResponseWriter>& writer);

}  // namespace gannet::server
