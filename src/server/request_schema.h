// Request validation by our own JSON Schema 2020-12 validator (src/jsonschema): one schema per
// request body (chat completions, completions, embeddings, responses) says the type of every
// parameter, down to message parts, tools and input items. A body of a wrong type is a 400 naming
// the field's path ("messages[0].content") before the route's parser reads it; ranges and the
// parameter allow-list stay with the parsers (openai_json.cc, ...), whose messages are OpenAI's.
// Owner: server. Thread-safety: the compiled schemas are immutable and shared; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "server/openai_json.h"

namespace gannet::server {

enum class RequestKind { kChat, kCompletion, kEmbeddings, kResponses };

// The schema of a request kind (JSON Schema 2020-12), as docs/serving.md publishes it.
const nlohmann::json& request_schema(RequestKind kind);

// nullopt when `body` is valid for kind; else a 400 invalid_request_error whose param is the path
// of the deepest failing field and whose message is "Invalid type for '<path>': expected ..., got
// ..." (or the validator's message for other keywords).
std::optional<OpenAiError> check_request_schema(RequestKind kind, const nlohmann::json& body);

// "/messages/0/content" -> "messages[0].content" (array indexes in brackets, as OpenAI writes
// them; `body` tells arrays from objects whose keys are digits).
std::string field_path(const std::string& json_pointer, const nlohmann::json& body);

}  // namespace gannet::server
