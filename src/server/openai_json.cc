#include "server/openai_json.h"

#include <cstdio>
#include <cstdlib>
#include <random>

#include "json/json.h"
#include "server/request_schema.h"

namespace gannet::server {

const std::string& media_sentinel() {
    static const std::string sentinel = [] {
        std::random_device rd;
        char buf[64];
        std::snprintf(buf, sizeof(buf), "<|gannet-media-%08x%08x|>", rd(), rd());
        return std::string(buf);
    }();
    return sentinel;
}

using nlohmann::json;

std::string error_body(const OpenAiError& e) {
    json j = {{"error",
               {{"message", e.message},
                {"type", e.type},
                {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
    return gannet::json::dump(j);
}

OpenAiError invalid_param(const std::string& param, const std::string& message) {
    return OpenAiError{
        .http_status = 400, .message = message, .type = "invalid_request_error", .param = param, .code = ""};
}

namespace {

// "an integer", "a string", ...: how OpenAI's errors name a JSON value's type.
std::string kind_of(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number";
        case json::value_t::string: return "a string";
        case json::value_t::array: return "an array";
        case json::value_t::object: return "an object";
        default: return "an unsupported value";
    }
}

}  // namespace

OpenAiError invalid_type(const std::string& param, const std::string& expected, const json& got) {
    return invalid_param(
        param, "Invalid type for '" + param + "': expected " + expected + ", but got " + kind_of(got) + " instead.");
}

namespace {

OpenAiError bad(const std::string& param, const std::string& message) {
    return invalid_param(param, message);
}
OpenAiError bad_type(const std::string& param, const std::string& expected, const json& got) {
    return invalid_type(param, expected, got);
}

// The request parameters this server accepts, in one place. A key not listed is a 400 naming it:
// a parameter is never accepted and silently ignored. Listed = implemented here, in the engine or in
// constrained decoding (openai_constrain.cc, src/constrain/).
struct Param {
    const char* name;
    bool is_chat;
    bool is_completion;
};
constexpr Param kParams[] = {
    {"model", true, true},
    {"messages", true, false},
    {"prompt", false, true},
    {"max_tokens", true, true},
    {"max_completion_tokens", true, false},
    {"temperature", true, true},
    {"top_p", true, true},
    {"n", true, true},
    {"stream", true, true},
    {"stream_options", true, true},
    {"stop", true, true},
    {"seed", true, true},
    {"user", true, true},
    {"tools", true, false},
    {"tool_choice", true, false},
    {"ignore_eos", true, true},  // extension (as vLLM and llama.cpp): generate past end-of-sequence
    // Constrained decoding (#16):
    {"response_format", true, false},
    {"parallel_tool_calls", true, false},
    {"logprobs", true, true},
    {"top_logprobs", true, false},
    {"logit_bias", true, true},
    {"frequency_penalty", true, true},
    {"presence_penalty", true, true},
    // MarginGate (#19): this request's determinism, overriding `serve --deterministic`.
    {"deterministic", true, true},
    // Chat parameters that state what this server does anyway: store (false only: nothing is
    // stored), modalities (["text"] only), safety_identifier (logged as user is).
    {"store", true, false},
    {"modalities", true, false},
    {"safety_identifier", true, false},
    {"echo", false, true},
    {"best_of", false, true},
    // Diffusion models (#18), extensions: denoising steps per canvas, the expected canvas length.
    {"diffusion_steps", true, true},
    {"canvas_length", true, true},
    {"sparse_attention", true, true},  // Gannet: off | quest | msa (issue 17)
};

std::optional<OpenAiError> check_params(const json& j, bool is_chat) {
    for (const auto& [key, value] : j.items()) {
        bool is_known = false;
        for (const Param& p : kParams) {
            if (key == p.name && (is_chat ? p.is_chat : p.is_completion)) {
                is_known = true;
                break;
            }
        }
        if (!is_known) {
            return bad(key, "Unrecognized request argument supplied: " + key + " (gannet serve does not implement it)");
        }
    }
    return std::nullopt;
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts and media parts
// (image_url, input_audio: collected into `media`, a sentinel in the text; the route refuses them
// for a model without projectors).
std::optional<OpenAiError> content_text(const json& c, const std::string& param, std::string& out,
                                        std::vector<MediaRef>& media) {
    if (c.is_string()) {
        out = c.get<std::string>();
        return std::nullopt;
    }
    if (!c.is_array())
        return bad_type(param, "a string or an array of content parts", c);
    for (size_t i = 0; i < c.size(); ++i) {
        const json& part = c[i];
        const std::string at = param + "[" + std::to_string(i) + "]";
        if (!part.is_object())
            return bad_type(at, "an object", part);
        if (!part.contains("type") || !part["type"].is_string()) {
            return bad_type(at + ".type", "a string", part.value("type", json()));
        }
        if (part["type"] == "image_url" || part["type"] == "input_audio") {
            media.push_back({at, part});
            out += media_sentinel();
            continue;
        }
        if (part["type"] != "text") {
            return bad(at + ".type", "content part type '" + part["type"].get<std::string>()
                                         + "' is not supported (text, image_url, input_audio)");
        }
        if (!part.contains("text") || !part["text"].is_string()) {
            return bad_type(at + ".text", "a string", part.value("text", json()));
        }
        out += part["text"].get<std::string>();
    }
    return std::nullopt;
}

std::optional<OpenAiError> parse_message(const json& m, const std::string& param, tokenizer::ChatMessage& cm,
                                         std::vector<MediaRef>& media) {
    if (!m.is_object())
        return bad_type(param, "an object", m);
    if (!m.contains("role") || !m["role"].is_string())
        return bad_type(param + ".role", "a string", m.value("role", json()));
    cm.role = m["role"].get<std::string>();
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" && cm.role != "tool"
        && cm.role != "developer") {
        return bad(param + ".role", "unknown role '" + cm.role + "'");
    }
    if (cm.role == "developer")
        cm.role = "system";
    const bool has_calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
    if (!m.contains("content") || m["content"].is_null()) {
        if (cm.role != "assistant" || !has_calls) {
            return bad(param + ".content", "'" + param + ".content' is required for a " + cm.role + " message");
        }
    } else if (auto err = content_text(m["content"], param + ".content", cm.content, media)) {
        return err;
    }
    if (m.contains("name") && !m["name"].is_null()) {
        if (!m["name"].is_string())
            return bad_type(param + ".name", "a string", m["name"]);
        cm.name = m["name"];
    }
    if (m.contains("tool_call_id") && !m["tool_call_id"].is_null()) {
        if (!m["tool_call_id"].is_string())
            return bad_type(param + ".tool_call_id", "a string", m["tool_call_id"]);
        cm.tool_call_id = m["tool_call_id"];
    }
    if (has_calls) {
        const json& calls = m["tool_calls"];
        if (!calls.is_array())
            return bad_type(param + ".tool_calls", "an array", calls);
        for (size_t i = 0; i < calls.size(); ++i) {
            const json& tc = calls[i];
            const std::string at = param + ".tool_calls[" + std::to_string(i) + "]";
            if (!tc.is_object())
                return bad_type(at, "an object", tc);
            if (!tc.contains("function") || !tc["function"].is_object()) {
                return bad_type(at + ".function", "an object", tc.value("function", json()));
            }
            const json& fn = tc["function"];
            if (!fn.contains("name") || !fn["name"].is_string()) {
                return bad_type(at + ".function.name", "a string", fn.value("name", json()));
            }
            tokenizer::ToolCall call;
            if (tc.contains("id") && !tc["id"].is_null()) {
                if (!tc["id"].is_string())
                    return bad_type(at + ".id", "a string", tc["id"]);
                call.id = tc["id"];
            }
            call.name = fn["name"];
            const json& args = fn.contains("arguments") ? fn["arguments"] : json("{}");
            call.arguments = args.is_string() ? args.get<std::string>() : gannet::json::dump(args);
            cm.tool_calls.push_back(std::move(call));
        }
    }
    return std::nullopt;
}

// response_format, logprobs/top_logprobs, logit_bias, penalties and n.
std::optional<OpenAiError> parse_generation_options(const json& j, bool is_chat, CompletionRequest& out) {
    if (j.contains("response_format") && !j["response_format"].is_null()) {
        const json& rf = j["response_format"];
        const std::string type = rf.is_object() ? rf.value("type", "") : "";
        if (type == "json_schema") {
            const json& js = rf.contains("json_schema") ? rf["json_schema"] : json();
            if (!js.is_object() || !js.contains("name") || !js["name"].is_string()) {
                return bad("response_format",
                           "response_format json_schema needs {\"json_schema\": {\"name\": ..., \"schema\": {...}}}");
            }
            out.response_schema = js.contains("schema") ? js["schema"] : json::object();
            if (!out.response_schema.is_object() && !out.response_schema.is_boolean()) {
                return bad("response_format", "response_format.json_schema.schema must be an object");
            }
            out.is_schema_strict = js.contains("strict") && js["strict"].is_boolean() && js["strict"].get<bool>();
        } else if (type == "regex") {
            // Extension (docs/constrain.md): the whole output matches an ECMA-262 regex.
            if (!rf.contains("regex") || !rf["regex"].is_string())
                return bad("response_format", "response_format regex needs {\"regex\": \"<ECMA-262 pattern>\"}");
            out.response_schema = rf["regex"];
        } else if (type == "grammar") {
            // Extension (docs/constrain.md): the output is a sentence of a GBNF grammar.
            if (!rf.contains("grammar") || !rf["grammar"].is_string())
                return bad("response_format", "response_format grammar needs {\"grammar\": \"<GBNF text>\"}");
            out.response_schema = rf["grammar"];
        } else if (type != "json_object" && type != "text") {
            return bad("response_format",
                       "response_format.type must be text, json_object, json_schema, regex or grammar");
        }
        out.response_format = type;
    }
    if (is_chat) {
        const bool wants = j.contains("logprobs") && j["logprobs"].is_boolean() && j["logprobs"].get<bool>();
        if (j.contains("logprobs") && !j["logprobs"].is_null() && !j["logprobs"].is_boolean()) {
            return bad("logprobs", "'logprobs' must be a boolean");
        }
        if (j.contains("top_logprobs") && !j["top_logprobs"].is_null()) {
            const json& t = j["top_logprobs"];
            if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > 20) {
                return bad("top_logprobs", "'top_logprobs' must be an integer in [0, 20]");
            }
            if (!wants)
                return bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            out.top_logprobs = static_cast<int32_t>(t.get<int64_t>());
        } else if (wants) {
            out.top_logprobs = 0;
        }
    } else if (j.contains("logprobs") && !j["logprobs"].is_null()) {
        const json& t = j["logprobs"];
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > 5) {
            return bad("logprobs", "'logprobs' must be an integer in [0, 5]");
        }
        out.top_logprobs = static_cast<int32_t>(t.get<int64_t>());
    }
    if (j.contains("logit_bias") && !j["logit_bias"].is_null()) {
        if (!j["logit_bias"].is_object())
            return bad("logit_bias", "'logit_bias' must map token ids to numbers");
        for (auto it = j["logit_bias"].begin(); it != j["logit_bias"].end(); ++it) {
            char* end = nullptr;
            const long id = std::strtol(it.key().c_str(), &end, 10);
            if (it.key().empty() || *end != 0 || id < 0 || !it.value().is_number() || it.value().get<double>() < -100
                || it.value().get<double>() > 100) {
                return bad("logit_bias",
                           "logit_bias entry '" + it.key() + "': expected a token id and a number in [-100, 100]");
            }
            out.logit_bias.emplace_back(static_cast<int32_t>(id), it.value().get<float>());
        }
    }
    for (const char* key : {"frequency_penalty", "presence_penalty"}) {
        if (!j.contains(key) || j[key].is_null())
            continue;
        if (!j[key].is_number() || j[key].get<double>() < -2 || j[key].get<double>() > 2) {
            return bad(key, std::string("'") + key + "' must be a number in [-2, 2]");
        }
        (std::string(key) == "frequency_penalty" ? out.frequency_penalty : out.presence_penalty) = j[key].get<float>();
    }
    if (j.contains("sparse_attention") && !j["sparse_attention"].is_null()) {
        const json& t = j["sparse_attention"];
        if (!t.is_string()
            || (t.get<std::string>() != "off" && t.get<std::string>() != "quest" && t.get<std::string>() != "msa")) {
            return bad("sparse_attention", "'sparse_attention' must be \"off\", \"quest\" or \"msa\"");
        }
        out.sparse_attention = t.get<std::string>();
    }
    if (j.contains("n") && !j["n"].is_null()) {
        if (!j["n"].is_number_integer() || j["n"].get<int64_t>() < 1 || j["n"].get<int64_t>() > 16) {
            return bad("n", "'n' must be an integer in [1, 16]");
        }
        out.n = static_cast<int32_t>(j["n"].get<int64_t>());
    }
    if (!is_chat && j.contains("echo") && !j["echo"].is_null()) {
        if (!j["echo"].is_boolean())
            return bad_type("echo", "a boolean", j["echo"]);
        out.is_echo = j["echo"].get<bool>();
    }
    if (!is_chat && j.contains("best_of") && !j["best_of"].is_null()) {
        const json& b = j["best_of"];
        if (!b.is_number_integer() || b.get<int64_t>() < out.n || b.get<int64_t>() > 16) {
            return bad("best_of", "'best_of' must be an integer in [n, 16] (n is " + std::to_string(out.n) + ")");
        }
        out.best_of = static_cast<int32_t>(b.get<int64_t>());
    }
    return std::nullopt;
}

}  // namespace

std::optional<OpenAiError> parse_completion_request(const std::string& body, bool is_chat, CompletionRequest& out) {
    auto parsed = gannet::json::parse(body, {.max_size_bytes = 8 << 20, .max_depth = 64});
    if (!parsed.has_value()) {
        return bad("", "We could not parse the JSON body of your request: " + parsed.error().message());
    }
    const json& j = *parsed;
    if (!j.is_object())
        return bad("", "The request body must be a JSON object.");
    out.is_chat = is_chat;
    if (auto err = check_params(j, is_chat))
        return err;
    if (auto err = check_request_schema(is_chat ? RequestKind::kChat : RequestKind::kCompletion, j))
        return err;
    if (!j.contains("model") || !j["model"].is_string())
        return bad("model", "you must provide a model parameter");
    out.model = j["model"].get<std::string>();
    if (is_chat) {
        if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
            return bad("messages", "'messages' must be a non-empty array");
        }
        for (size_t i = 0; i < j["messages"].size(); ++i) {
            tokenizer::ChatMessage cm;
            if (auto err = parse_message(j["messages"][i], "messages[" + std::to_string(i) + "]", cm, out.media))
                return err;
            out.messages.push_back(std::move(cm));
        }
    } else {
        if (!j.contains("prompt"))
            return bad("prompt", "you must provide a prompt");
        const json& p = j["prompt"];
        if (p.is_string()) {
            out.prompt = p.get<std::string>();
        } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
            out.prompt = p[0].get<std::string>();
        } else {
            return bad("prompt", "'prompt' must be a string");
        }
    }
    if (j.contains("tools") && !j["tools"].is_null()) {
        if (!j["tools"].is_array())
            return bad("tools", "'tools' must be an array");
        for (const json& t : j["tools"]) {
            if (!t.is_object() || t.value("type", "") != "function" || !t.contains("function")
                || !t["function"].is_object() || !t["function"].contains("name")) {
                return bad("tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
            }
        }
        if (!j["tools"].empty())
            out.tools_json = gannet::json::dump(j["tools"]);
    }
    if (j.contains("tool_choice") && !j["tool_choice"].is_null()) {
        const json& tc = j["tool_choice"];
        if (tc.is_string()) {
            out.tool_choice = tc.get<std::string>();
            if (out.tool_choice != "none" && out.tool_choice != "auto" && out.tool_choice != "required") {
                return bad("tool_choice", "'tool_choice' must be none, auto, required or a function");
            }
        } else if (tc.is_object() && tc.value("type", "") == "function" && tc.contains("function")
                   && tc["function"].is_object() && tc["function"].contains("name")
                   && tc["function"]["name"].is_string()) {
            out.tool_choice = "named";
            out.tool_choice_name = tc["function"]["name"].get<std::string>();
            if (out.tools_json.find("\"" + out.tool_choice_name + "\"") == std::string::npos) {
                return bad("tool_choice", "tool_choice names '" + out.tool_choice_name + "', which is not in 'tools'");
            }
        } else {
            return bad("tool_choice",
                       "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": "
                       "{\"name\": ...}}");
        }
        if ((out.tool_choice == "required" || out.tool_choice == "named") && out.tools_json.empty()) {
            return bad("tool_choice", "tool_choice '" + out.tool_choice + "' needs a non-empty 'tools'");
        }
    }
    if (j.contains("parallel_tool_calls") && !j["parallel_tool_calls"].is_null()) {
        if (!j["parallel_tool_calls"].is_boolean())
            return bad("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
        out.is_parallel_tool_calls = j["parallel_tool_calls"].get<bool>();
    }
    if (auto err = parse_generation_options(j, is_chat, out))
        return err;
    if (j.contains("stream") && !j["stream"].is_null()) {
        if (!j["stream"].is_boolean())
            return bad("stream", "'stream' must be a boolean");
        out.is_stream = j["stream"].get<bool>();
    }
    if (j.contains("stream_options") && !j["stream_options"].is_null()) {
        const json& so = j["stream_options"];
        if (!so.is_object())
            return bad_type("stream_options", "an object", so);
        for (const auto& [key, value] : so.items()) {
            if (key != "include_usage") {
                return bad("stream_options." + key, "Unrecognized request argument supplied: stream_options." + key);
            }
            if (!value.is_boolean())
                return bad_type("stream_options.include_usage", "a boolean", value);
            out.include_usage = value.get<bool>();
        }
    }
    if (out.is_stream && out.best_of > out.n) {
        // Which choices are best is known only when all have ended, so none can stream.
        return bad("best_of", "'best_of' greater than 'n' cannot be used with 'stream'");
    }
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
        if (j.contains(key) && !j[key].is_null()) {
            if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1 || j[key].get<int64_t>() > (1 << 30)) {
                return bad(key, std::string("'") + key + "' must be a positive integer");
            }
            out.max_tokens = static_cast<int32_t>(j[key].get<int64_t>());
            break;
        }
    }
    if (j.contains("temperature") && !j["temperature"].is_null()) {
        if (!j["temperature"].is_number() || j["temperature"].get<double>() < 0 || j["temperature"].get<double>() > 2) {
            return bad("temperature", "'temperature' must be a number in [0, 2]");
        }
        out.temperature = j["temperature"].get<float>();
    }
    if (j.contains("top_p") && !j["top_p"].is_null()) {
        if (!j["top_p"].is_number() || j["top_p"].get<double>() <= 0 || j["top_p"].get<double>() > 1) {
            return bad("top_p", "'top_p' must be a number in (0, 1]");
        }
        out.top_p = j["top_p"].get<float>();
    }
    if (j.contains("user") && !j["user"].is_null()) {
        if (!j["user"].is_string())
            return bad_type("user", "a string", j["user"]);
        out.user = j["user"].get<std::string>();
        if (out.user.size() > 256)
            return bad("user", "'user' is " + std::to_string(out.user.size()) + " bytes, at most 256");
    }
    if (j.contains("safety_identifier") && !j["safety_identifier"].is_null()) {
        if (!j["safety_identifier"].is_string() || j["safety_identifier"].get<std::string>().size() > 256)
            return bad("safety_identifier", "'safety_identifier' must be a string of at most 256 bytes");
        out.user = j["safety_identifier"].get<std::string>();  // OpenAI's successor of user: the same log field
    }
    if (j.contains("store") && j["store"].is_boolean() && j["store"].get<bool>()) {
        return bad("store", "'store': this server does not store completions; pass false or omit it");
    }
    if (j.contains("modalities") && !j["modalities"].is_null() && j["modalities"] != json::array({"text"})) {
        return bad("modalities", "'modalities' must be [\"text\"]: this server generates text only");
    }
    if (j.contains("seed") && !j["seed"].is_null()) {
        if (!j["seed"].is_number_integer())
            return bad("seed", "'seed' must be an integer");
        out.seed = static_cast<uint64_t>(j["seed"].get<int64_t>());
    }
    if (j.contains("stop") && !j["stop"].is_null()) {
        const json& s = j["stop"];
        if (s.is_string()) {
            out.stop.push_back(s.get<std::string>());
        } else if (s.is_array() && s.size() <= 4) {
            for (const json& x : s) {
                if (!x.is_string())
                    return bad("stop", "'stop' entries must be strings");
                out.stop.push_back(x.get<std::string>());
            }
        } else {
            return bad("stop", "'stop' must be a string or an array of up to 4 strings");
        }
    }
    if (j.contains("deterministic") && !j["deterministic"].is_null()) {
        const json& d = j["deterministic"];
        if (!d.is_string())
            return bad_type("deterministic", "one of \"off\", \"invariant\", \"margin\", \"always\"", d);
        const std::string v = d.get<std::string>();
        if (v != "off" && v != "invariant" && v != "margin" && v != "always")
            return bad("deterministic",
                       "'deterministic' must be one of off, invariant, margin, always; got '" + v + "'");
        if ((v == "margin" || v == "always") && out.temperature != 0.0f) {
            return bad("deterministic",
                       "'deterministic' " + v + " verifies greedy decoding and needs temperature 0, got "
                           + (j.contains("temperature") ? j["temperature"].dump() : "1 (the default)"));
        }
        out.deterministic = v;
    }
    for (const char* key : {"diffusion_steps", "canvas_length"}) {
        if (j.contains(key) && !j[key].is_null()) {
            const json& v = j[key];
            if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 4096)
                return bad(key, std::string("'") + key + "' must be an integer in 1..4096");
            (std::string(key) == "diffusion_steps" ? out.diffusion_steps : out.canvas_length) = v.get<int32_t>();
        }
    }
    if (j.contains("ignore_eos") && !j["ignore_eos"].is_null()) {
        if (!j["ignore_eos"].is_boolean())
            return bad_type("ignore_eos", "a boolean", j["ignore_eos"]);
        out.ignore_eos = j["ignore_eos"].get<bool>();
    }
    return std::nullopt;
}

namespace {

// Accepts {"name": ..., "arguments"|"parameters": {...}}; appends a call.
bool take_call(const json& j, std::vector<tokenizer::ToolCall>& calls) {
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
        return false;
    json args = j.contains("arguments") ? j["arguments"] : j.contains("parameters") ? j["parameters"] : json::object();
    if (args.is_string()) {
        auto p = gannet::json::parse(args.get<std::string>());
        if (p.has_value())
            args = *p;
    }
    tokenizer::ToolCall c;
    c.id = "call_" + std::to_string(calls.size());
    c.name = j["name"].get<std::string>();
    c.arguments = gannet::json::dump(args);
    calls.push_back(std::move(c));
    return true;
}

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos)
        return "";
    const size_t b = s.find_last_not_of(" \t\r\n");
    return s.substr(a, b - a + 1);
}

}  // namespace

ParsedToolCalls parse_tool_calls(const std::string& text) {
    ParsedToolCalls r;
    // Hermes / Qwen: <tool_call>{json}</tool_call>, any number.
    if (text.find("<tool_call>") != std::string::npos) {
        size_t pos = 0;
        std::string rest;
        while (true) {
            const size_t a = text.find("<tool_call>", pos);
            if (a == std::string::npos) {
                rest += text.substr(pos);
                break;
            }
            rest += text.substr(pos, a - pos);
            const size_t b = text.find("</tool_call>", a);
            const std::string inner = text.substr(a + 11, b == std::string::npos ? std::string::npos : b - a - 11);
            auto p = gannet::json::parse(trim(inner));
            if (!p.has_value() || !take_call(*p, r.calls)) {
                rest += text.substr(a, b == std::string::npos ? std::string::npos : b + 12 - a);
            }
            if (b == std::string::npos)
                break;
            pos = b + 12;
        }
        r.content = trim(rest);
        return r;
    }
    // Gemma: ```tool_code / ```json fenced block holding JSON call(s).
    for (const char* fence : {"```tool_code", "```json"}) {
        const size_t a = text.find(fence);
        if (a == std::string::npos)
            continue;
        const size_t body = a + std::string(fence).size();
        const size_t b = text.find("```", body);
        const std::string inner = trim(text.substr(body, b == std::string::npos ? std::string::npos : b - body));
        auto p = gannet::json::parse(inner);
        if (p.has_value()) {
            bool ok = false;
            if (p->is_array()) {
                for (const json& x : *p)
                    ok = take_call(x, r.calls) || ok;
            } else {
                ok = take_call(*p, r.calls);
            }
            if (ok) {
                r.content = trim(text.substr(0, a) + (b == std::string::npos ? "" : text.substr(b + 3)));
                return r;
            }
            r.calls.clear();
        }
    }
    // Llama 3: the whole output is a JSON object {"name": ..., "parameters": {...}} (optionally
    // after <|python_tag|>), or several separated by ';'.
    std::string t = trim(text);
    if (t.rfind("<|python_tag|>", 0) == 0)
        t = trim(t.substr(14));
    if (!t.empty() && t.front() == '{') {
        auto p = gannet::json::parse(t);
        if (p.has_value() && take_call(*p, r.calls))
            return r;
        r.calls.clear();
        size_t start = 0;
        bool ok = true;
        while (start < t.size()) {
            size_t semi = t.find("};", start);
            const std::string piece =
                trim(t.substr(start, semi == std::string::npos ? std::string::npos : semi + 1 - start));
            auto q = gannet::json::parse(piece);
            if (!q.has_value() || !take_call(*q, r.calls)) {
                ok = false;
                break;
            }
            if (semi == std::string::npos)
                break;
            start = semi + 2;
        }
        if (ok && !r.calls.empty())
            return r;
        r.calls.clear();
    }
    r.content = text;
    return r;
}

std::string sse_data(const json& j) {
    return "data: " + gannet::json::dump(j) + "\n\n";
}
std::string sse_done() {
    return "data: [DONE]\n\n";
}

json usage_json(int32_t prompt_tokens, int32_t completion_tokens, int32_t cached_tokens) {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

}  // namespace gannet::server
