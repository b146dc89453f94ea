// Internal: what the SentencePiece and byte-level BPE tokenizers share — the vocab, text -> id
// lookup, special-token matching, BOS/EOS handling and end-of-generation ids. A subclass supplies
// only the encoding of plain-text fragments and the decoding of normal tokens. Owner: tokenizer.
// Thread-safety: immutable after construction. Not moveable: text_to_id_ views the vocab's strings.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace gannet::tokenizer {

class VocabTokenizer : public Tokenizer {
public:
    explicit VocabTokenizer(Vocab vocab);
    VocabTokenizer(const VocabTokenizer&) = delete;
    VocabTokenizer& operator=(const VocabTokenizer&) = delete;

    std::vector<TokenId> encode(std::string_view text, AddBos add_bos) const override;
    std::string decode_token(TokenId id, RenderSpecial render_special) const override;
    const std::string& token_text(TokenId id) const override;

    int32_t n_vocab() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
    TokenId bos_id() const override { return vocab_.bos_id; }
    TokenId eos_id() const override { return vocab_.eos_id; }
    TokenId eot_id() const override { return eot_id_; }
    bool adds_bos() const override { return vocab_.add_bos && vocab_.bos_id >= 0; }
    bool is_end_of_generation(TokenId id) const override { return eog_ids_.count(id) != 0; }

protected:
    // Encodes one fragment of plain text (no special-token text in it). `starts_segment` is true
    // for the first fragment and for fragments right after a special token.
    virtual void encode_fragment(std::string_view text, bool starts_segment, std::vector<TokenId>* out) const = 0;
    // The bytes of a kNormal token.
    virtual std::string decode_normal(const std::string& text) const = 0;

    TokenId find(std::string_view text) const;  // -1 when absent
    TokenType type_of(TokenId id) const;
    const Vocab& vocab() const { return vocab_; }

private:
    Vocab vocab_;
    std::unordered_map<std::string_view, TokenId> text_to_id_;  // views into vocab_.tokens
    // Control and user-defined tokens by first byte, longest first, for leftmost-longest matching.
    std::array<std::vector<TokenId>, 256> special_by_first_byte_;
    std::unordered_set<TokenId> eog_ids_;
    TokenId eot_id_ = -1;
};

// Builders for the two models; `vocab` is already validated.
std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);
Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(Vocab vocab);

}  // namespace gannet::tokenizer
