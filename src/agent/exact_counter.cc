#include "agent/exact_counter.h"

#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "json/json.h"
#include "tokenizer/prompt.h"

namespace gannet::agent {

namespace {

// ChatML, what `gannet serve` renders for a model whose GGUF has no chat template.
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

}  // namespace

Result<ExactCounter> ExactCounter::load(const std::string& gguf_path) {
    GANNET_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(gguf_path));
    ExactCounter c;
    GANNET_ASSIGN_OR_RETURN(c.tokenizer_, tokenizer::Tokenizer::from_gguf(file));
    Result<tokenizer::ChatTemplate> t = tokenizer::ChatTemplate::from_gguf(file, *c.tokenizer_);
    if (!t.has_value() && t.error().code() == ErrorCode::kNotFound) {
        t = tokenizer::ChatTemplate::create(kChatMlTemplate, "", "");
    }
    GANNET_RETURN_IF_ERROR(t.error());
    c.template_.emplace(std::move(*t));
    return c;
}

Result<uint64_t> ExactCounter::count(std::string_view request_text) const {
    GANNET_ASSIGN_OR_RETURN(nlohmann::json request, gannet::json::parse(request_text));
    const nlohmann::json messages = request.is_object() ? request.value("messages", nlohmann::json::array()) : request;
    if (!messages.is_array()) {
        return make_error(ErrorCode::kInvalidArgument, "agent: exact counter: messages must be an array");
    }
    std::vector<tokenizer::ChatMessage> ms;
    for (const nlohmann::json& m : messages) {
        tokenizer::ChatMessage cm;
        cm.role = m.value("role", "");
        cm.content = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
        cm.tool_call_id = m.value("tool_call_id", "");
        cm.name = m.value("name", "");
        if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
            for (const nlohmann::json& tc : m["tool_calls"]) {
                const nlohmann::json fn = tc.value("function", nlohmann::json::object());
                cm.tool_calls.push_back(
                    {.id = tc.value("id", ""),
                     .name = fn.value("name", ""),
                     .arguments = fn.contains("arguments") && fn["arguments"].is_string()
                                      ? fn["arguments"].get<std::string>()
                                      : gannet::json::dump(fn.value("arguments", nlohmann::json::object()))});
            }
        }
        ms.push_back(std::move(cm));
    }
    tokenizer::ChatRenderOptions options;
    if (request.is_object() && request.contains("tools") && request["tools"].is_array() && !request["tools"].empty()) {
        options.tools_json = gannet::json::dump(request["tools"]);
    }
    GANNET_ASSIGN_OR_RETURN(std::string rendered, template_->render(ms, options));
    // The server's own rule (tokenizer/prompt.h), so the count is exact to the token.
    return static_cast<uint64_t>(
        tokenizer::encode_prompt(*tokenizer_, rendered, tokenizer::PromptKind::kRendered).size());
}

}  // namespace gannet::agent
