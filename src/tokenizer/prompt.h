// The one BOS rule: how every prompt becomes token ids (the engine's server routes, `gannet run`,
// `tokenize`, `quantize --calibration` and `perplexity` all call this file). Plain text gets the
// vocabulary's BOS when it asks for one (tokenizer.ggml.add_bos_token); text rendered by a chat
// template gets it only when the template did not already write the BOS text, so a prompt never
// starts with two. Owner: tokenizer. Thread-safety: pure.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace gannet::tokenizer {

enum class PromptKind {
    kPlain,     // the user's text as is
    kRendered,  // the output of a chat template
};

// The BOS a prompt starts with, or -1 when the vocabulary adds none.
TokenId prompt_bos(const Tokenizer& tok);

// text -> ids under the rule above.
std::vector<TokenId> encode_prompt(const Tokenizer& tok, std::string_view text, PromptKind kind);

}  // namespace gannet::tokenizer
