#include "server/request_schema.h"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "base/log.h"
#include "jsonschema/validator.h"

namespace gannet::server {

using nlohmann::json;

namespace {

// Types only (and the fixed enums): values and ranges are the parsers' (their messages are
// OpenAI's), and no schema is stricter than its parser about what it accepts.
constexpr const char* kChatSchema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["model", "messages"],
  "properties": {
    "model": {"type": "string"},
    "messages": {"type": "array", "items": {"$ref": "#/$defs/message"}},
    "max_tokens": {"type": ["integer", "null"]},
    "max_completion_tokens": {"type": ["integer", "null"]},
    "temperature": {"type": ["number", "null"]},
    "top_p": {"type": ["number", "null"]},
    "n": {"type": ["integer", "null"]},
    "stream": {"type": ["boolean", "null"]},
    "stream_options": {"type": ["object", "null"], "properties": {"include_usage": {"type": "boolean"}}},
    "stop": {"type": ["string", "array", "null"], "items": {"type": "string"}},
    "seed": {"type": ["integer", "null"]},
    "user": {"type": ["string", "null"]},
    "ignore_eos": {"type": ["boolean", "null"]},
    "tools": {"type": ["array", "null"], "items": {
      "type": "object", "required": ["type", "function"],
      "properties": {"type": {"type": "string"},
                     "function": {"type": "object", "required": ["name"],
                                  "properties": {"name": {"type": "string"},
                                                 "description": {"type": ["string", "null"]},
                                                 "strict": {"type": ["boolean", "null"]}}}}}},
    "tool_choice": {"anyOf": [
      {"type": ["string", "null"]},
      {"type": "object", "required": ["type", "function"],
       "properties": {"type": {"type": "string"},
                      "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}]},
    "parallel_tool_calls": {"type": ["boolean", "null"]},
    "response_format": {"type": ["object", "null"], "properties": {
      "type": {"type": "string"},
      "json_schema": {"type": "object", "properties": {"name": {"type": "string"},
                                                       "description": {"type": ["string", "null"]},
                                                       "schema": {"type": ["object", "boolean"]},
                                                       "strict": {"type": ["boolean", "null"]}}}}},
    "logprobs": {"type": ["boolean", "null"]},
    "top_logprobs": {"type": ["integer", "null"]},
    "logit_bias": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
    "frequency_penalty": {"type": ["number", "null"]},
    "presence_penalty": {"type": ["number", "null"]},
    "store": {"type": ["boolean", "null"]},
    "modalities": {"type": ["array", "null"], "items": {"type": "string"}},
    "safety_identifier": {"type": ["string", "null"]}
  },
  "$defs": {
    "message": {
      "type": "object", "required": ["role"],
      "properties": {
        "role": {"type": "string"},
        "content": {"anyOf": [{"type": ["string", "null"]},
                              {"type": "array", "items": {"type": "object", "required": ["type"],
                                                          "properties": {"type": {"type": "string"},
                                                                         "text": {"type": "string"}}}}]},
        "name": {"type": ["string", "null"]},
        "tool_call_id": {"type": ["string", "null"]},
        "tool_calls": {"type": ["array", "null"], "items": {
          "type": "object", "required": ["function"],
          "properties": {"id": {"type": ["string", "null"]},
                         "type": {"type": "string"},
                         "function": {"type": "object", "required": ["name"],
                                      "properties": {"name": {"type": "string"},
                                                     "arguments": {"type": ["string", "object"]}}}}}}
      }
    }
  }
})";

constexpr const char* kCompletionSchema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["model", "prompt"],
  "properties": {
    "model": {"type": "string"},
    "prompt": {"type": ["string", "array"], "items": {"type": "string"}},
    "max_tokens": {"type": ["integer", "null"]},
    "temperature": {"type": ["number", "null"]},
    "top_p": {"type": ["number", "null"]},
    "n": {"type": ["integer", "null"]},
    "stream": {"type": ["boolean", "null"]},
    "stream_options": {"type": ["object", "null"], "properties": {"include_usage": {"type": "boolean"}}},
    "stop": {"type": ["string", "array", "null"], "items": {"type": "string"}},
    "seed": {"type": ["integer", "null"]},
    "user": {"type": ["string", "null"]},
    "ignore_eos": {"type": ["boolean", "null"]},
    "logprobs": {"type": ["integer", "null"]},
    "echo": {"type": ["boolean", "null"]},
    "best_of": {"type": ["integer", "null"]},
    "suffix": {"type": ["string", "null"]},
    "logit_bias": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
    "frequency_penalty": {"type": ["number", "null"]},
    "presence_penalty": {"type": ["number", "null"]}
  }
})";

constexpr const char* kEmbeddingsSchema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["model", "input"],
  "properties": {
    "model": {"type": "string"},
    "input": {"anyOf": [{"type": "string"},
                        {"type": "array", "items": {"anyOf": [{"type": ["string", "integer"]},
                                                              {"type": "array", "items": {"type": "integer"}}]}}]},
    "encoding_format": {"type": ["string", "null"]},
    "dimensions": {"type": ["integer", "null"]},
    "user": {"type": ["string", "null"]}
  }
})";

constexpr const char* kResponsesSchema = R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["model", "input"],
  "properties": {
    "model": {"type": "string"},
    "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/$defs/item"}}]},
    "instructions": {"type": ["string", "null"]},
    "tools": {"type": ["array", "null"], "items": {
      "type": "object", "required": ["type"],
      "properties": {"type": {"type": "string"}, "name": {"type": "string"},
                     "description": {"type": ["string", "null"]}, "parameters": {"type": ["object", "null"]},
                     "strict": {"type": ["boolean", "null"]}}}},
    "tool_choice": {"anyOf": [{"type": ["string", "null"]},
                              {"type": "object", "required": ["type"],
                               "properties": {"type": {"type": "string"}, "name": {"type": "string"}}}]},
    "max_output_tokens": {"type": ["integer", "null"]},
    "temperature": {"type": ["number", "null"]},
    "top_p": {"type": ["number", "null"]},
    "text": {"type": ["object", "null"], "properties": {"format": {
      "type": ["object", "null"],
      "properties": {"type": {"type": "string"}, "name": {"type": "string"},
                     "schema": {"type": ["object", "boolean"]}, "strict": {"type": ["boolean", "null"]}}}}},
    "stream": {"type": ["boolean", "null"]},
    "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    "parallel_tool_calls": {"type": ["boolean", "null"]},
    "user": {"type": ["string", "null"]},
    "previous_response_id": {"type": ["string", "null"]},
    "store": {"type": ["boolean", "null"]},
    "truncation": {"type": ["string", "null"]},
    "include": {"type": ["array", "null"], "items": {"type": "string"}},
    "top_logprobs": {"type": ["integer", "null"]}
  },
  "$defs": {
    "item": {
      "type": "object",
      "properties": {
        "type": {"type": "string"},
        "role": {"type": "string"},
        "content": {"anyOf": [{"type": "string"},
                              {"type": "array", "items": {"type": "object", "required": ["type"],
                                                          "properties": {"type": {"type": "string"},
                                                                         "text": {"type": "string"}}}}]},
        "call_id": {"type": "string"},
        "name": {"type": "string"},
        "arguments": {"type": "string"},
        "output": {"type": "string"}
      }
    }
  }
})";

struct Compiled {
    json schema;
    Result<jsonschema::Validator> validator;
};

const Compiled& compiled(RequestKind kind) {
    // Compiled once, on first use; a schema that does not compile is a bug request_schema_test catches.
    static const std::array<Compiled, 4> kCompiled = [] {
        auto make = [](const char* text) {
            json s = json::parse(text);
            Result<jsonschema::Validator> v = jsonschema::Validator::compile(s);
            return Compiled{std::move(s), std::move(v)};
        };
        return std::array<Compiled, 4>{make(kChatSchema), make(kCompletionSchema), make(kEmbeddingsSchema),
                                       make(kResponsesSchema)};
    }();
    return kCompiled[static_cast<size_t>(kind)];
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "integer" -> "an integer": OpenAI's wording of a JSON type (openai_json.cc's kind_of).
std::string article(const std::string& type) {
    if (type == "null")
        return type;
    return (type == "integer" || type == "array" || type == "object" ? "an " : "a ") + type;
}

// "null or integer" -> "an integer": null (an unset parameter) goes unsaid beside a real type, as
// in OpenAI's messages.
std::string articles(const std::string& types) {
    std::string out;
    size_t pos = 0;
    while (true) {
        const size_t next = types.find(" or ", pos);
        const std::string type = types.substr(pos, next == std::string::npos ? next : next - pos);
        if (type != "null")
            out += (out.empty() ? "" : " or ") + article(type);
        if (next == std::string::npos)
            return out.empty() ? "null" : out;
        pos = next + 4;
    }
}

// The errors at the deepest failing field as one message: the anyOf branches' type errors merged
// ("expected a string or an array, but got an integer instead."), else the first specific error.
std::string describe(const std::vector<const jsonschema::OutputUnit*>& at, bool* is_type) {
    std::string expected, got, other;
    for (const jsonschema::OutputUnit* u : at) {
        const size_t e = u->error.find("expected "), g = u->error.rfind(", got ");
        if (ends_with(u->keyword_location, "/type") && e == 0 && g != std::string::npos) {
            const std::string these = articles(u->error.substr(9, g - 9));
            if (these != "null" || expected.empty())
                expected += (expected.empty() ? "" : " or ") + these;
            got = article(u->error.substr(g + 6));
        } else if (other.empty() && !ends_with(u->keyword_location, "/anyOf")) {
            other = u->error;
        }
    }
    *is_type = other.empty() && !expected.empty();
    if (*is_type)
        return "expected " + expected + ", but got " + got + " instead.";
    if (!other.empty())
        return other;
    return at.empty() ? "invalid" : at.front()->error;
}

}  // namespace

const json& request_schema(RequestKind kind) {
    return compiled(kind).schema;
}

std::string field_path(const std::string& json_pointer, const json& body) {
    std::string out;
    const json* at = &body;
    size_t pos = 1;
    while (pos <= json_pointer.size() && !json_pointer.empty()) {
        size_t next = json_pointer.find('/', pos);
        if (next == std::string::npos)
            next = json_pointer.size();
        std::string token = json_pointer.substr(pos, next - pos);
        for (size_t i; (i = token.find("~1")) != std::string::npos;)
            token.replace(i, 2, "/");
        for (size_t i; (i = token.find("~0")) != std::string::npos;)
            token.replace(i, 2, "~");
        if (at != nullptr && at->is_array()) {
            out += "[" + token + "]";
            const size_t index = std::strtoull(token.c_str(), nullptr, 10);
            at = index < at->size() ? &(*at)[index] : nullptr;
        } else {
            out += (out.empty() ? "" : ".") + token;
            at = at != nullptr && at->is_object() && at->contains(token) ? &(*at)[token] : nullptr;
        }
        pos = next + 1;
    }
    return out;
}

std::optional<OpenAiError> check_request_schema(RequestKind kind, const json& body) {
    const Compiled& c = compiled(kind);
    if (!c.validator.has_value()) {
        GANNET_LOG_ERROR("openai", "request schema %d: %s", static_cast<int>(kind),
                         c.validator.error().message().c_str());
        return OpenAiError{.http_status = 500,
                           .message = "request schema: " + c.validator.error().message(),
                           .type = "server_error",
                           .param = "",
                           .code = ""};
    }
    if (c.validator->validate(body))
        return std::nullopt;
    const jsonschema::ValidationResult r = c.validator->validate(body, jsonschema::OutputFormat::kBasic);
    // The deepest failing field is the one to name: an anyOf's other branches fail higher up.
    size_t depth = 0;
    std::string deepest;
    bool has_any = false;
    for (const jsonschema::OutputUnit& u : r.errors) {
        const size_t d = static_cast<size_t>(std::count(u.instance_location.begin(), u.instance_location.end(), '/'));
        if (!has_any || d > depth) {
            has_any = true;
            depth = d;
            deepest = u.instance_location;
        }
    }
    std::vector<const jsonschema::OutputUnit*> at;
    for (const jsonschema::OutputUnit& u : r.errors) {
        if (u.instance_location == deepest)
            at.push_back(&u);
    }
    std::string path = field_path(deepest, body);
    for (const jsonschema::OutputUnit* u : at) {
        // "missing required property 'name'": the missing field is the one to name.
        const size_t q = u->error.find('\'');
        if (ends_with(u->keyword_location, "/required") && q != std::string::npos && u->error.back() == '\'') {
            path += (path.empty() ? "" : ".") + u->error.substr(q + 1, u->error.size() - q - 2);
            return invalid_param(path, "Missing required parameter: '" + path + "'.");
        }
    }
    bool is_type = false;
    const std::string what = describe(at, &is_type);
    return invalid_param(path, std::string(is_type ? "Invalid type for '" : "Invalid value for '")
                                   + (path.empty() ? "body" : path) + "': " + what);
}

}  // namespace gannet::server
