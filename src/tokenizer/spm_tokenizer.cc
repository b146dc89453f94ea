// SentencePiece BPE ("llama" vocabs): spaces become U+2581, a space is prepended to each segment,
// then adjacent pieces merge greedily by the merged token's score (highest first, leftmost on
// ties); pieces that are no token fall back to <0xAB> byte tokens.
#include <array>
#include <queue>

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

// One piece of the working string: a doubly linked list over byte ranges.
struct Symbol {
    int prev;
    int next;
    size_t start;
    size_t len;  // 0 once merged into its left neighbour
};

struct Bigram {
    float score;
    int left;
    size_t left_len;  // lengths when queued: a changed side makes the entry stale
    size_t right_len;
};

struct BigramOrder {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
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

    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < s.size();) {
        const size_t n = utf8_char_len(s, pos);
        const int idx = static_cast<int>(symbols.size());
        symbols.push_back(Symbol{idx - 1, idx + 1, pos, n});
        pos += n;
    }
    if (symbols.empty()) {
        return;
    }
    symbols.back().next = -1;

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    auto try_add = [&](int left) {
        if (left < 0 || symbols[left].next < 0) {
            return;
        }
        const Symbol& l = symbols[left];
        const Symbol& r = symbols[l.next];
        const TokenId id = find(std::string_view(s).substr(l.start, l.len + r.len));
        if (id < 0) {
            return;
        }
        const float score = vocab().scores.empty() ? 0.0f : vocab().scores[id];
        queue.push(Bigram{score, left, l.len, r.len});
    };
    for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) {
        try_add(i);
    }
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = symbols[b.left];
        if (l.len != b.left_len || l.next < 0 || symbols[l.next].len != b.right_len) {
            continue;  // stale: one side has merged since this pair was queued
        }
        Symbol& r = symbols[l.next];
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) {
            symbols[r.next].prev = b.left;
        }
        try_add(l.prev);
        try_add(b.left);
    }
    // Every merged piece is a token by construction; single characters may not be.
    for (int i = 0; i >= 0; i = symbols[i].next) {
        const std::string_view piece = std::string_view(s).substr(symbols[i].start, symbols[i].len);
        const TokenId id = find(piece);
        if (id >= 0) {
            out->push_back(id);
        } else {
            emit_bytes(piece, out);
        }
    }
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
