// The greedy pair-merging loop that SentencePiece (by token score) and byte-level BPE (by merge
// rank) both run over a word: split into UTF-8 characters, then repeatedly merge the adjacent pair
// with the best priority (leftmost on ties) until no pair can merge. Only the priority differs
// between the two, so it is a template over the function that rates a pair.
// Owner: tokenizer. Thread-safety: pure.
#pragma once

#include <cstddef>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "tokenizer/utf8.h"

namespace gannet::tokenizer::detail {

// rate(left, right) -> std::optional<P>: nullopt when the pair cannot merge, else its priority;
// a higher P merges first. Calls emit(piece) for each final piece, left to right.
// O(n log n) in the characters of text: stale queue entries are skipped, never searched for.
template <typename Rate, typename Emit>
void merge_bigrams(std::string_view text, Rate rate, Emit emit) {
    struct Symbol {
        int prev;
        int next;
        size_t start;
        size_t len;  // 0 once merged into its left neighbour
    };
    using Priority = typename decltype(rate(text, text))::value_type;
    struct Bigram {
        Priority priority;
        int left;
        size_t left_len;  // lengths when queued: a changed side makes the entry stale
        size_t right_len;
    };
    struct WorseFirst {  // std::priority_queue pops the "largest": best priority, then leftmost
        bool operator()(const Bigram& a, const Bigram& b) const {
            return a.priority < b.priority || (!(b.priority < a.priority) && a.left > b.left);
        }
    };

    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
        const size_t n = utf8_char_len(text, pos);
        const int idx = static_cast<int>(symbols.size());
        symbols.push_back(Symbol{idx - 1, idx + 1, pos, n});
        pos += n;
    }
    if (symbols.empty()) {
        return;
    }
    symbols.back().next = -1;

    std::priority_queue<Bigram, std::vector<Bigram>, WorseFirst> queue;
    auto try_add = [&](int left) {
        if (left < 0 || symbols[left].next < 0) {
            return;
        }
        const Symbol& l = symbols[left];
        const Symbol& r = symbols[l.next];
        const std::optional<Priority> p = rate(text.substr(l.start, l.len), text.substr(r.start, r.len));
        if (p) {
            queue.push(Bigram{*p, left, l.len, r.len});
        }
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
    for (int i = 0; i >= 0; i = symbols[i].next) {
        emit(text.substr(symbols[i].start, symbols[i].len));
    }
}

}  // namespace gannet::tokenizer::detail
