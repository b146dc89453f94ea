#include "tokenizer/chat_template.h"

#include <nlohmann/json.hpp>

namespace gannet::tokenizer {
namespace {

using jinja::Value;

// JSON text to a template value; nlohmann throws on bad input, so this is the boundary.
Result<Value> parse_json(const std::string& text, const char* what) {
    try {
        return Value::from_json(nlohmann::ordered_json::parse(text));
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInvalidArgument, "chat template: %s is not valid JSON: %s", what, e.what());
    }
}

Value message_value(const ChatMessage& m) {
    Value v = Value::object();
    v.set("role", Value::string(m.role));
    v.set("content", Value::string(m.content));
    if (!m.tool_calls.empty()) {
        jinja::Array calls;
        for (const ToolCall& c : m.tool_calls) {
            Value fn = Value::object();
            fn.set("name", Value::string(c.name));
            // Templates print arguments with |tojson, so they get the parsed object; text that is
            // not JSON stays a string.
            Result<Value> args = parse_json(c.arguments.empty() ? "{}" : c.arguments, "tool arguments");
            fn.set("arguments", args.has_value() ? *args : Value::string(c.arguments));
            Value call = Value::object();
            if (!c.id.empty()) {
                call.set("id", Value::string(c.id));
            }
            call.set("type", Value::string("function"));
            call.set("function", fn);
            calls.push_back(call);
        }
        v.set("tool_calls", Value::array(std::move(calls)));
    }
    if (!m.tool_call_id.empty()) {
        v.set("tool_call_id", Value::string(m.tool_call_id));
    }
    if (!m.name.empty()) {
        v.set("name", Value::string(m.name));
    }
    return v;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) {
        return "";
    }
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

Result<ChatTemplate> ChatTemplate::create(const std::string& source, std::string bos_token, std::string eos_token) {
    ChatTemplate t;
    t.bos_token_ = std::move(bos_token);
    t.eos_token_ = std::move(eos_token);
    Result<jinja::Template> parsed = jinja::Template::parse(source);
    if (parsed.has_value()) {
        t.template_ = std::move(parsed).value();
        return t;
    }
    if (parsed.error().code() != ErrorCode::kUnimplemented) {
        return parsed.error();
    }
    if (source.find("<|start_header_id|>") != std::string::npos) {
        t.family_ = ChatFamily::kLlama3;
    } else if (source.find("<|im_start|>") != std::string::npos) {
        t.family_ = ChatFamily::kChatMl;
    } else if (source.find("<start_of_turn>") != std::string::npos) {
        t.family_ = ChatFamily::kGemma;
    } else {
        return parsed.error();
    }
    return t;
}

Result<ChatTemplate> ChatTemplate::from_gguf(const gguf::File& file, const Tokenizer& tokenizer) {
    const gguf::Value* v = file.find_value("tokenizer.chat_template");
    if (v == nullptr || v->type != gguf::ValueType::kString) {
        return make_error(ErrorCode::kNotFound, "chat template: the GGUF has no string tokenizer.chat_template");
    }
    return create(std::string(v->str), tokenizer.token_text(tokenizer.bos_id()),
                  tokenizer.token_text(tokenizer.eos_id()));
}

Result<std::string> ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                         const ChatRenderOptions& options) const {
    if (family_ != ChatFamily::kJinja) {
        return render_fallback(messages, options);
    }
    Value globals = Value::object();
    if (!options.extra_context_json.empty()) {
        GANNET_ASSIGN_OR_RETURN(Value extra, parse_json(options.extra_context_json, "extra context"));
        if (!extra.is_object()) {
            return make_error(ErrorCode::kInvalidArgument, "chat template: extra context must be a JSON object");
        }
        globals = extra;
    }
    jinja::Array msgs;
    for (const ChatMessage& m : messages) {
        msgs.push_back(message_value(m));
    }
    globals.set("messages", Value::array(std::move(msgs)));
    if (!options.tools_json.empty()) {
        GANNET_ASSIGN_OR_RETURN(Value tools, parse_json(options.tools_json, "tools"));
        if (!tools.is_array()) {
            return make_error(ErrorCode::kInvalidArgument, "chat template: tools must be a JSON array");
        }
        globals.set("tools", tools);
    }
    globals.set("add_generation_prompt", Value::boolean(options.add_generation_prompt));
    globals.set("bos_token", Value::string(bos_token_));
    globals.set("eos_token", Value::string(eos_token_));
    return template_.render(globals);
}

std::string ChatTemplate::render_fallback(const std::vector<ChatMessage>& messages,
                                          const ChatRenderOptions& options) const {
    std::string out;
    switch (family_) {
        case ChatFamily::kLlama3:
            out = bos_token_;
            for (const ChatMessage& m : messages) {
                const std::string role = m.role == "tool" ? "ipython" : m.role;
                out += "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
            }
            if (options.add_generation_prompt) {
                out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            }
            break;
        case ChatFamily::kChatMl:
            for (const ChatMessage& m : messages) {
                out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            }
            if (options.add_generation_prompt) {
                out += "<|im_start|>assistant\n";
            }
            break;
        case ChatFamily::kGemma: {
            // Gemma has no system role: its text leads the first user turn (Gemma 3's convention).
            out = bos_token_;
            std::string system;
            for (const ChatMessage& m : messages) {
                if (m.role == "system") {
                    system += trim(m.content) + "\n\n";
                    continue;
                }
                const std::string role = m.role == "assistant" ? "model" : m.role;
                std::string content = trim(m.content);
                if (m.role == "user" && !system.empty()) {
                    content = system + content;
                    system.clear();
                }
                out += "<start_of_turn>" + role + "\n" + content + "<end_of_turn>\n";
            }
            if (options.add_generation_prompt) {
                out += "<start_of_turn>model\n";
            }
            break;
        }
        case ChatFamily::kJinja: break;
    }
    return out;
}

}  // namespace gannet::tokenizer
