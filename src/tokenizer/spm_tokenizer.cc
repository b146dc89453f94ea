// SentencePiece BPE ("llama" vocabs): spaces become U+2581, a space is prepended to each segment,
// then adjacent pieces merge greedily by the merged token's score (highest first, leftmost on
// ties); pieces that are no token fall back to <0xAB> byte tokens.
#include <array>
#include <optional>

#include "tokenizer/bigram_merge.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_tokenizer.h"

namespace gannet::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

class SpmTokenizer final : public VocabTokenizer {
public:
    explicit SpmTokenizer(Vocab v) : VocabTokenizer(std::move(v)) {
        byte_ids_.fill(-1);
        for (TokenId id = 0; id < n_vocab(); ++id) {
            const int byte = type_of(id) == TokenType::kByte ? byte_token_value(vocab().tokens[id]) : -1;
            if (byte >= 0) {
                byte_ids_[byte] = id;
            }
        }
    }

protected:
    void encode_fragment(std::string_view text, bool starts_segment, std::vector<TokenId>* out) const override;
    std::string decode_normal(const std::string& text) const override;
    bool decode_drops_leading_space() const override { return vocab().add_space_prefix; }

private:
    void emit_bytes(std::string_view piece, std::vector<TokenId>* out) const;

    std::array<TokenId, 256> byte_ids_;  // <0xAB> token per byte, -1 when the vocab lacks it
};

void SpmTokenizer::encode_fragment(std::string_view text, bool starts_segment, std::vector<TokenId>* out) const {
    std::string s;
    s.reserve(text.size() + 8);
    if (starts_segment && vocab().add_space_prefix) {
        s += kSpace;
    }
    for (char c : text) {
        if (c == ' ') {
            s += kSpace;
        } else {
            s.push_back(c);
        }
    }

    // Merge by the merged token's score; every merged piece is a token by construction, single
    // characters may not be (byte fallback).
    auto rate = [&](std::string_view left, std::string_view right) -> std::optional<float> {
        // left and right are adjacent views into s, so the merged piece is one view.
        const TokenId id = find(std::string_view(left.data(), left.size() + right.size()));
        if (id < 0) {
            return std::nullopt;
        }
        return vocab().scores.empty() ? 0.0f : vocab().scores[id];
    };
    detail::merge_bigrams(s, rate, [&](std::string_view piece) {
        const TokenId id = find(piece);
        if (id >= 0) {
            out->push_back(id);
        } else {
            emit_bytes(piece, out);
        }
    });
}

void SpmTokenizer::emit_bytes(std::string_view piece, std::vector<TokenId>* out) const {
    for (char c : piece) {
        const TokenId id = byte_ids_[static_cast<uint8_t>(c)];
        if (id >= 0) {
            out->push_back(id);
        } else if (vocab().unk_id >= 0) {
            out->push_back(vocab().unk_id);
        }
    }
}

std::string SpmTokenizer::decode_normal(const std::string& text) const {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        if (std::string_view(text).substr(pos).starts_with(kSpace)) {
            out.push_back(' ');
            pos += kSpace.size();
        } else {
            out.push_back(text[pos++]);
        }
    }
    return out;
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) {
    return std::make_unique<SpmTokenizer>(std::move(vocab));
}

}  // namespace gannet::tokenizer
