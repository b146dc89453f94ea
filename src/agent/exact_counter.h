// ExactCounter: the prompt tokens a gannet server will bill for a chat request, counted locally
// with the model's own tokenizer and chat template (the "tokenizer" estimator: exact for prompts).
// It renders as the server's chat route does: the GGUF's template (ChatML when it has none), the
// tool definitions passed to it, encoded without BOS. Owned by src/agent/. Immutable after load():
// count() may run from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace gannet::agent {

class ExactCounter {
public:
    // kNotFound / kDataLoss for a missing or malformed GGUF (the path is named).
    static Result<ExactCounter> load(const std::string& gguf_path);

    // `request_text`: a JSON array of {role, content} messages, or an object {"messages": [...],
    // "tools": [...]}. kInvalidArgument for malformed JSON or a template error.
    Result<uint64_t> count(std::string_view request_text) const;

private:
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
    std::optional<tokenizer::ChatTemplate> template_;
};

}  // namespace gannet::agent
