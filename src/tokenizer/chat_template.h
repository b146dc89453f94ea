// Renders a conversation into the prompt text a model was trained on, from the GGUF's
// tokenizer.chat_template (a Jinja template from the model's tokenizer_config.json), with the
// globals Hugging Face passes: messages, tools, add_generation_prompt, bos_token, eos_token.
// Owner: tokenizer. Thread-safety: immutable after creation; render() may run concurrently.
//
// Templates run on the Jinja-subset interpreter in jinja.h, which renders the real Llama 3.x,
// Qwen 2.5 (ChatML) and Gemma 2 templates exactly. Fallback: when a template uses a feature the
// interpreter lacks (call blocks, includes: parse gives kUnimplemented), the family is recognised
// by its markers (<|start_header_id|> Llama 3, <|im_start|> ChatML, <start_of_turn> Gemma) and
// that family's plain format is rendered in C++ instead (no tool descriptions in that path);
// is_fallback() says when this happened. Unrecognised unsupported templates are an error.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "gguf/gguf_file.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"

namespace gannet::tokenizer {

struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments;  // JSON text (an object); passed to templates parsed, as HF does
};

struct ChatMessage {
    std::string role;  // system, user, assistant, tool (ipython for Llama 3 is the template's job)
    std::string content;
    std::vector<ToolCall> tool_calls;  // assistant only
    std::string tool_call_id;          // tool only; empty when unknown
    std::string name;                  // tool only: the function that produced this result
};

struct ChatRenderOptions {
    bool add_generation_prompt = true;  // end with the assistant header so the model answers
    std::string tools_json;             // JSON array of OpenAI-style tool definitions; empty: none
    std::string extra_context_json;     // JSON object of extra globals (e.g. {"date_string": "..."})
};

enum class ChatFamily { kJinja, kLlama3, kChatMl, kGemma };

class ChatTemplate {
public:
    // kInvalidArgument for a template with a syntax error; kUnimplemented when it needs features
    // the interpreter lacks and its family is not recognised.
    static Result<ChatTemplate> create(const std::string& source, std::string bos_token, std::string eos_token);
    // From tokenizer.chat_template; bos/eos texts come from the tokenizer. kNotFound when the
    // GGUF has no template.
    static Result<ChatTemplate> from_gguf(const gguf::File& file, const Tokenizer& tokenizer);

    // kInvalidArgument for malformed tools/extra JSON or a template error (raise_exception's
    // message is passed through, e.g. "Conversation roles must alternate ...").
    Result<std::string> render(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) const;

    ChatFamily family() const { return family_; }
    bool is_fallback() const { return family_ != ChatFamily::kJinja; }

private:
    std::string render_fallback(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options) const;

    ChatFamily family_ = ChatFamily::kJinja;
    jinja::Template template_;  // valid when family_ == kJinja
    std::string bos_token_;
    std::string eos_token_;
};

}  // namespace gannet::tokenizer
