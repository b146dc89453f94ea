// Byte-level BPE ("gpt2" vocabs): the pre-tokenizer splits text into words, each word's bytes map
// to GPT-2's printable alphabet, then adjacent pieces merge by merge rank (lowest first, leftmost
// on ties) until no ranked pair is left.
#include <optional>

#include "tokenizer/bigram_merge.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_tokenizer.h"

namespace gannet::tokenizer {
namespace {

class BpeTokenizer final : public VocabTokenizer {
public:
    BpeTokenizer(Vocab v, PreTokenizer pre) : VocabTokenizer(std::move(v)), pre_(std::move(pre)) {
        const std::vector<std::string>& merges = vocab().merges;
        ranks_.reserve(merges.size());
        for (size_t i = 0; i < merges.size(); ++i) {
            // Later duplicates do not override: the lowest rank of a pair is the one that applies.
            ranks_.emplace(merges[i], static_cast<int>(i));
        }
        // Llama 3 vocabs emit a word that is itself a token whole, before any merging.
        ignore_merges_ = vocab().pre == "llama-bpe" || vocab().pre == "llama3" || vocab().pre == "llama-v3";
    }

protected:
    void encode_fragment(std::string_view text, bool starts_segment, std::vector<TokenId>* out) const override;
    std::string decode_normal(const std::string& text) const override { return unicode_to_bytes(text); }

private:
    void encode_word(const std::string& word, std::vector<TokenId>* out) const;
    int rank(std::string_view left, std::string_view right, std::string* scratch) const;

    PreTokenizer pre_;
    std::unordered_map<std::string, int> ranks_;  // "left right" -> merge rank
    bool ignore_merges_ = false;
};

void BpeTokenizer::encode_fragment(std::string_view text, bool /*starts_segment*/, std::vector<TokenId>* out) const {
    const std::array<std::string, 256>& alphabet = byte_to_unicode();
    std::string word;
    for (std::string_view piece : pre_.split(text)) {
        word.clear();
        for (char c : piece) {
            word += alphabet[static_cast<uint8_t>(c)];
        }
        encode_word(word, out);
    }
}

int BpeTokenizer::rank(std::string_view left, std::string_view right, std::string* scratch) const {
    scratch->assign(left);
    scratch->push_back(' ');
    scratch->append(right);
    auto it = ranks_.find(*scratch);
    return it == ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<TokenId>* out) const {
    if (ignore_merges_) {
        const TokenId id = find(word);
        if (id >= 0) {
            out->push_back(id);
            return;
        }
    }
    std::string scratch;
    auto rate = [&](std::string_view left, std::string_view right) -> std::optional<int> {
        const int rk = rank(left, right, &scratch);
        return rk < 0 ? std::nullopt : std::optional<int>(-rk);  // the lowest rank merges first
    };
    detail::merge_bigrams(word, rate, [&](std::string_view piece) {
        const TokenId id = find(piece);
        if (id >= 0) {
            out->push_back(id);
            return;
        }
        // A piece no merge produced as a token: fall back to its characters (each one byte's
        // stand-in, which every byte-level vocab has), else the unknown token.
        for (size_t pos = 0; pos < piece.size();) {
            const size_t n = utf8_char_len(piece, pos);
            const TokenId cid = find(piece.substr(pos, n));
            if (cid >= 0) {
                out->push_back(cid);
            } else if (vocab().unk_id >= 0) {
                out->push_back(vocab().unk_id);
            }
            pos += n;
        }
    });
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(Vocab vocab) {
    GANNET_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::create(vocab.pre));
    return std::unique_ptr<Tokenizer>(std::make_unique<BpeTokenizer>(std::move(vocab), std::move(pre)));
}

}  // namespace gannet::tokenizer
