// The request side of /v1/responses: the body checked (allow-list, request schema, storage) and
// translated into the chat request the engine path runs (openai_responses.h).
#include <algorithm>

#include "json/json.h"
#include "server/openai_responses.h"  // the declarations this file defines
#include "server/request_schema.h"
#include "server/response_store.h"

namespace gannet::server {

using nlohmann::json;

namespace {

// The Responses parameters this server takes; any other key is a 400 naming it (as kParams for
// chat). truncation and include are here to refuse the values that need what we do not have
// (truncation, outputs other than the text's logprobs) with a precise message.
constexpr const char* kResponsesParams[] = {
    "model",        "input",
    "instructions", "tools",
    "tool_choice",  "max_output_tokens",
    "temperature",  "top_p",
    "text",         "stream",
    "metadata",     "parallel_tool_calls",
    "user",         "previous_response_id",
    "store",        "truncation",
    "include",      "top_logprobs",
};

// A message item's content: a string, or input_text / output_text parts joined.
std::optional<OpenAiError> item_text(const json& c, const std::string& at, std::string& out) {
    if (c.is_string()) {
        out = c.get<std::string>();
        return std::nullopt;
    }
    if (!c.is_array())
        return invalid_type(at, "a string or an array of content parts", c);
    for (size_t k = 0; k < c.size(); ++k) {
        const std::string pat = at + "[" + std::to_string(k) + "]";
        const json& part = c[k];
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
            return invalid_type(pat + ".type", "a string", part.is_object() ? part.value("type", json()) : part);
        const std::string type = part["type"].get<std::string>();
        if (type != "input_text" && type != "output_text" && type != "text") {
            return invalid_param(pat + ".type",
                                 "content part type '" + type + "' is not supported (only input_text and output_text)");
        }
        if (!part.contains("text") || !part["text"].is_string())
            return invalid_type(pat + ".text", "a string", part.value("text", json()));
        out += part["text"].get<std::string>();
    }
    return std::nullopt;
}

std::optional<OpenAiError> string_field(const json& item, const char* key, const std::string& at, std::string& out) {
    if (!item.contains(key) || !item[key].is_string())
        return invalid_type(at + "." + key, "a string", item.value(key, json()));
    out = item[key].get<std::string>();
    return std::nullopt;
}

// One input item -> chat messages (a function_call joins the assistant message before it).
std::optional<OpenAiError> add_item(const json& item, const std::string& at, json& messages) {
    if (!item.is_object())
        return invalid_type(at, "an object", item);
    const std::string type = item.contains("type") && item["type"].is_string()
                                 ? item["type"].get<std::string>()
                                 : (item.contains("role") ? "message" : "");
    if (type == "message") {
        std::string role, text;
        if (auto err = string_field(item, "role", at, role))
            return err;
        if (role != "user" && role != "system" && role != "developer" && role != "assistant")
            return invalid_param(at + ".role", "role '" + role + "' must be user, system, developer or assistant");
        if (!item.contains("content"))
            return invalid_param(at + ".content", "Missing required parameter: '" + at + ".content'.");
        if (auto err = item_text(item["content"], at + ".content", text))
            return err;
        messages.push_back({{"role", role}, {"content", text}});
        return std::nullopt;
    }
    if (type == "function_call") {
        std::string call_id, name, arguments;
        for (auto [key, dst] : {std::pair{"call_id", &call_id}, {"name", &name}, {"arguments", &arguments}}) {
            if (auto err = string_field(item, key, at, *dst))
                return err;
        }
        json call = {{"id", call_id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
        if (messages.empty() || messages.back()["role"] != "assistant" || !messages.back().contains("tool_calls"))
            messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array()}});
        messages.back()["tool_calls"].push_back(std::move(call));
        return std::nullopt;
    }
    if (type == "function_call_output") {
        std::string call_id, output;
        if (auto err = string_field(item, "call_id", at, call_id))
            return err;
        if (auto err = string_field(item, "output", at, output))
            return err;
        messages.push_back({{"role", "tool"}, {"tool_call_id", call_id}, {"content", output}});
        return std::nullopt;
    }
    return invalid_param(
        at + ".type", "input item type '" + type + "' is not supported (message, function_call, function_call_output)");
}

// tools: [{"type": "function", "name", "description", "parameters", "strict"}] -> chat's nested form.
std::optional<OpenAiError> chat_tools(const json& tools, json& out) {
    if (!tools.is_array())
        return invalid_type("tools", "an array", tools);
    out = json::array();
    for (size_t i = 0; i < tools.size(); ++i) {
        const std::string at = "tools[" + std::to_string(i) + "]";
        const json& t = tools[i];
        if (!t.is_object())
            return invalid_type(at, "an object", t);
        if (t.value("type", json()) != "function") {
            return invalid_param(at + ".type", "tool type " + gannet::json::dump(t.value("type", json()))
                                                   + " is not supported (only \"function\")");
        }
        json fn = json::object();
        for (const auto& [key, value] : t.items()) {
            if (key == "type")
                continue;
            if (key != "name" && key != "description" && key != "parameters" && key != "strict")
                return invalid_param(at + "." + key, "Unrecognized tool field: " + at + "." + key);
            fn[key] = value;
        }
        std::string name;
        if (auto err = string_field(t, "name", at, name))
            return err;
        if (fn.contains("parameters") && !fn["parameters"].is_object() && !fn["parameters"].is_null())
            return invalid_type(at + ".parameters", "an object", fn["parameters"]);
        out.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    return std::nullopt;
}

// text: {"format": {"type": "text" | "json_object" | "json_schema", ...}} -> chat's response_format.
std::optional<OpenAiError> chat_response_format(const json& text, json& chat) {
    if (!text.is_object())
        return invalid_type("text", "an object", text);
    for (const auto& [key, value] : text.items()) {
        if (key != "format")
            return invalid_param("text." + key, "Unrecognized request argument supplied: text." + key);
    }
    if (!text.contains("format") || text["format"].is_null())
        return std::nullopt;
    const json& f = text["format"];
    if (!f.is_object() || !f.contains("type") || !f["type"].is_string())
        return invalid_type("text.format.type", "a string", f.is_object() ? f.value("type", json()) : f);
    const std::string type = f["type"].get<std::string>();
    if (type == "text" || type == "json_object") {
        chat["response_format"] = {{"type", type}};
        return std::nullopt;
    }
    if (type != "json_schema")
        return invalid_param("text.format.type", "'" + type + "' must be text, json_object or json_schema");
    json js = {{"name", f.value("name", json())}, {"schema", f.value("schema", json::object())}};
    if (!js["name"].is_string())
        return invalid_type("text.format.name", "a string", js["name"]);
    if (f.contains("strict"))
        js["strict"] = f["strict"];
    chat["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
    return std::nullopt;
}

// store, previous_response_id, truncation, include (+ top_logprobs, set on `chat`) and metadata:
// checked and refused or echoed.
std::optional<OpenAiError> check_storage(const json& j, const ResponseStore* store, ResponsesRequest& out, json& chat) {
    json& echo = out.echo;
    echo["previous_response_id"] = nullptr;
    if (j.contains("store") && !j["store"].is_null())
        out.is_store = j["store"].get<bool>();  // a boolean: the request schema checked it
    echo["store"] = out.is_store;
    if (j.contains("previous_response_id") && !j["previous_response_id"].is_null()) {
        const std::string id = j["previous_response_id"].get<std::string>();
        std::optional<json> before = store != nullptr ? store->conversation(id) : std::nullopt;
        if (!before.has_value()) {
            OpenAiError e = invalid_param("previous_response_id", "Previous response with id '" + id
                                                                      + "' not found (never stored, deleted, or "
                                                                        "evicted: the store is in memory and bounded).");
            e.code = "previous_response_not_found";
            return e;
        }
        out.conversation = std::move(*before);
        echo["previous_response_id"] = id;
    }
    if (j.contains("truncation") && !j["truncation"].is_null() && j["truncation"] != "disabled")
        return invalid_param("truncation", "truncation: only 'disabled' (a prompt over the context is a 400)");
    // include: only the output text's logprobs (top_logprobs says how many alternatives).
    bool wants_logprobs = false;
    if (j.contains("include") && !j["include"].is_null()) {
        const json& inc = j["include"];
        for (size_t i = 0; i < inc.size(); ++i) {
            if (inc[i] != "message.output_text.logprobs") {
                return invalid_param("include[" + std::to_string(i) + "]",
                                     "include: " + gannet::json::dump(inc[i])
                                         + " is not supported (only \"message.output_text.logprobs\")");
            }
            wants_logprobs = true;
        }
    }
    if (j.contains("top_logprobs") && !j["top_logprobs"].is_null()) {
        if (!wants_logprobs)
            return invalid_param("top_logprobs", "'top_logprobs' needs include [\"message.output_text.logprobs\"]");
        chat["top_logprobs"] = j["top_logprobs"];
    }
    if (wants_logprobs)
        chat["logprobs"] = true;
    echo["top_logprobs"] = j.value("top_logprobs", json());
    echo["metadata"] = json::object();
    if (j.contains("metadata") && !j["metadata"].is_null()) {
        const json& m = j["metadata"];
        if (!m.is_object() || m.size() > 16)
            return invalid_param("metadata", "'metadata' must be an object of at most 16 string values");
        for (const auto& [key, value] : m.items()) {
            if (!value.is_string() || key.size() > 64 || value.get<std::string>().size() > 512)
                return invalid_param("metadata." + key, "metadata values are strings of at most 512 characters");
        }
        echo["metadata"] = m;
    }
    return std::nullopt;
}

}  // namespace

std::string responses_param(const std::string& chat_param) {
    if (chat_param.rfind("messages", 0) == 0)
        return "input";
    if (chat_param.rfind("response_format", 0) == 0)
        return "text.format";
    if (chat_param == "max_completion_tokens")
        return "max_output_tokens";
    return chat_param;
}

std::optional<OpenAiError> parse_responses_request(const std::string& body, const ResponseStore* store,
                                                   ResponsesRequest& out) {
    auto parsed = gannet::json::parse(body, {.max_size_bytes = 8 << 20, .max_depth = 64});
    if (!parsed.has_value())
        return invalid_param("", "We could not parse the JSON body of your request: " + parsed.error().message());
    const json& j = *parsed;
    if (!j.is_object())
        return invalid_type("", "an object", j);
    for (const auto& [key, value] : j.items()) {
        if (std::find(std::begin(kResponsesParams), std::end(kResponsesParams), key) == std::end(kResponsesParams))
            return invalid_param(
                key, "Unrecognized request argument supplied: " + key + " (gannet serve does not implement it)");
    }
    if (auto err = check_request_schema(RequestKind::kResponses, j))
        return err;
    json chat = json::object();
    if (auto err = check_storage(j, store, out, chat))
        return err;
    if (!j.contains("input"))
        return invalid_param("input", "Missing required parameter: 'input'.");
    const json& in = j["input"];
    json& conversation = out.conversation;  // the stored turns, if any, then this input
    if (in.is_string()) {
        conversation.push_back({{"role", "user"}, {"content", in}});
    } else if (in.is_array()) {
        for (size_t i = 0; i < in.size(); ++i) {
            if (auto err = add_item(in[i], "input[" + std::to_string(i) + "]", conversation))
                return err;
        }
    } else {
        return invalid_type("input", "a string or an array of input items", in);
    }
    json messages = json::array();
    if (j.contains("instructions") && !j["instructions"].is_null()) {
        if (!j["instructions"].is_string())
            return invalid_type("instructions", "a string", j["instructions"]);
        messages.push_back({{"role", "system"}, {"content", j["instructions"]}});
    }
    messages.insert(messages.end(), conversation.begin(), conversation.end());
    chat["messages"] = std::move(messages);
    if (j.contains("tools") && !j["tools"].is_null()) {
        if (auto err = chat_tools(j["tools"], chat["tools"]))
            return err;
    }
    if (j.contains("tool_choice") && !j["tool_choice"].is_null()) {
        const json& tc = j["tool_choice"];
        if (tc.is_object() && tc.value("type", json()) == "function") {
            if (!tc.contains("name") || !tc["name"].is_string())
                return invalid_type("tool_choice.name", "a string", tc.value("name", json()));
            chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", tc["name"]}}}};
        } else if (tc.is_string()) {
            chat["tool_choice"] = tc;
        } else {
            return invalid_param("tool_choice",
                                 "'tool_choice' must be none, auto, required or {\"type\": \"function\", "
                                 "\"name\": ...}");
        }
    }
    if (j.contains("text") && !j["text"].is_null()) {
        if (auto err = chat_response_format(j["text"], chat))
            return err;
    }
    for (auto [from, to] : {std::pair{"model", "model"},
                            {"max_output_tokens", "max_completion_tokens"},
                            {"temperature", "temperature"},
                            {"top_p", "top_p"},
                            {"stream", "stream"},
                            {"parallel_tool_calls", "parallel_tool_calls"},
                            {"user", "user"}}) {
        if (j.contains(from))
            chat[to] = j[from];
    }
    if (auto err = parse_completion_request(gannet::json::dump(chat), /*is_chat=*/true, out.chat)) {
        err->param = responses_param(err->param);
        return err;
    }
    const CompletionRequest& c = out.chat;
    json& e = out.echo;
    e["instructions"] = j.value("instructions", json());
    e["tools"] = j.contains("tools") && !j["tools"].is_null() ? j["tools"] : json::array();
    e["tool_choice"] = j.contains("tool_choice") && !j["tool_choice"].is_null() ? j["tool_choice"] : json("auto");
    e["text"] = {{"format", j.contains("text") && j["text"].is_object() && j["text"].contains("format")
                                ? j["text"]["format"]
                                : json{{"type", "text"}}}};
    e["max_output_tokens"] = j.value("max_output_tokens", json());
    e["temperature"] = c.temperature;
    e["top_p"] = c.top_p;
    e["parallel_tool_calls"] = c.is_parallel_tool_calls;
    e["user"] = c.user.empty() ? json(nullptr) : json(c.user);
    return std::nullopt;
}

}  // namespace gannet::server
