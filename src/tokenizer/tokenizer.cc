#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/vocab_tokenizer.h"

namespace gannet::tokenizer {
namespace {

// Texts that end a turn in common chat formats; used when the GGUF names no eot id.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<EOT>",
    "<|eom_id|>",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",  // DeepSeek's <｜end▁of▁sentence｜>
};

Status validate(const Vocab& v) {
    const size_t n = v.tokens.size();
    if (n == 0) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: vocab has no tokens");
    }
    if (!v.scores.empty() && v.scores.size() != n) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: %zu scores for %zu tokens", v.scores.size(), n);
    }
    if (!v.types.empty() && v.types.size() != n) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: %zu token types for %zu tokens", v.types.size(), n);
    }
    for (TokenId id : {v.bos_id, v.eos_id, v.eot_id, v.eom_id, v.unk_id}) {
        if (id < -1 || id >= static_cast<TokenId>(n)) {
            return make_error(ErrorCode::kDataLoss, "tokenizer: special id %d is out of range [0, %zu)", id, n);
        }
    }
    return Status();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& file) {
    GANNET_ASSIGN_OR_RETURN(Vocab vocab, vocab_from_gguf(file));
    return from_vocab(std::move(vocab));
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_vocab(Vocab vocab) {
    GANNET_RETURN_IF_ERROR(validate(vocab));
    if (vocab.model == VocabModel::kSpm) {
        return make_spm_tokenizer(std::move(vocab));
    }
    return make_bpe_tokenizer(std::move(vocab));
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, RenderSpecial render_special) const {
    std::string out;
    for (TokenId id : ids) {
        out += decode_token(id, render_special);
    }
    if (decode_drops_leading_space() && !out.empty() && out[0] == ' ') {
        out.erase(0, 1);
    }
    return out;
}

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
    const auto n = static_cast<TokenId>(vocab_.tokens.size());
    text_to_id_.reserve(vocab_.tokens.size());
    for (TokenId id = 0; id < n; ++id) {
        const std::string& text = vocab_.tokens[id];
        if (text.empty()) {
            continue;  // an empty token can never be produced from text
        }
        text_to_id_[text] = id;  // later duplicates win, as in the reference implementation
        const TokenType type = type_of(id);
        if (type == TokenType::kControl || type == TokenType::kUserDefined) {
            special_by_first_byte_[static_cast<uint8_t>(text[0])].push_back(id);
        }
    }
    for (std::vector<TokenId>& ids : special_by_first_byte_) {
        std::stable_sort(ids.begin(), ids.end(),
                         [&](TokenId a, TokenId b) { return vocab_.tokens[a].size() > vocab_.tokens[b].size(); });
    }
    eot_id_ = vocab_.eot_id;
    for (std::string_view text : kEndOfTurnTexts) {
        const TokenId id = find(text);
        if (id >= 0) {
            eog_ids_.insert(id);
            if (eot_id_ < 0 && text != "<|endoftext|>") {
                eot_id_ = id;
            }
        }
    }
    for (TokenId id : {vocab_.eos_id, vocab_.eot_id, vocab_.eom_id}) {
        if (id >= 0) {
            eog_ids_.insert(id);
        }
    }
}

TokenId VocabTokenizer::find(std::string_view text) const {
    auto it = text_to_id_.find(text);
    return it == text_to_id_.end() ? -1 : it->second;
}

TokenType VocabTokenizer::type_of(TokenId id) const {
    return vocab_.types.empty() ? TokenType::kNormal : vocab_.types[id];
}

const std::string& VocabTokenizer::token_text(TokenId id) const {
    static const std::string kEmpty;
    return (id < 0 || id >= n_vocab()) ? kEmpty : vocab_.tokens[id];
}

std::vector<TokenId> VocabTokenizer::encode(std::string_view text, AddBos add_bos) const {
    std::vector<TokenId> out;
    if (add_bos == AddBos::kDefault && adds_bos()) {
        out.push_back(vocab_.bos_id);
    }
    // Special-token text splits the input into plain fragments; at each position the longest
    // special token that matches wins (what Hugging Face's added-token matcher does).
    size_t fragment_start = 0;
    bool starts_segment = true;
    for (size_t pos = 0; pos < text.size();) {
        TokenId match = -1;
        for (TokenId id : special_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
            if (text.substr(pos).starts_with(vocab_.tokens[id])) {
                match = id;
                break;
            }
        }
        if (match < 0) {
            ++pos;
            continue;
        }
        if (pos > fragment_start) {
            encode_fragment(text.substr(fragment_start, pos - fragment_start), starts_segment, &out);
        }
        out.push_back(match);
        starts_segment = true;
        pos += vocab_.tokens[match].size();
        fragment_start = pos;
    }
    if (fragment_start < text.size()) {
        encode_fragment(text.substr(fragment_start), starts_segment, &out);
    }
    if (add_bos == AddBos::kDefault && vocab_.add_eos && vocab_.eos_id >= 0) {
        out.push_back(vocab_.eos_id);
    }
    return out;
}

std::string VocabTokenizer::decode_token(TokenId id, RenderSpecial render_special) const {
    if (id < 0 || id >= n_vocab()) {
        return {};
    }
    const std::string& text = vocab_.tokens[id];
    switch (type_of(id)) {
        case TokenType::kControl:
        case TokenType::kUnknown: return render_special == RenderSpecial::kYes ? text : std::string();
        case TokenType::kUnused: return {};
        case TokenType::kUserDefined: return text;
        case TokenType::kByte: {
            const int byte = byte_token_value(text);
            return byte >= 0 ? std::string(1, static_cast<char>(byte)) : text;
        }
        default: return decode_normal(text);
    }
}

}  // namespace gannet::tokenizer
