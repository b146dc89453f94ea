#include "tokenizer/prompt.h"

namespace gannet::tokenizer {

TokenId prompt_bos(const Tokenizer& tok) {
    return tok.adds_bos() ? tok.bos_id() : -1;
}

std::vector<TokenId> encode_prompt(const Tokenizer& tok, std::string_view text, PromptKind kind) {
    if (kind == PromptKind::kRendered && tok.bos_id() >= 0) {
        const std::string& bos_text = tok.token_text(tok.bos_id());
        if (!bos_text.empty() && text.substr(0, bos_text.size()) == bos_text) {
            return tok.encode(text, AddBos::kNo);  // the template wrote it
        }
    }
    return tok.encode(text, AddBos::kDefault);
}

}  // namespace gannet::tokenizer
