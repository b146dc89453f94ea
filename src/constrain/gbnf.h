// Gbnf: a context-free grammar in llama.cpp's GBNF syntax (rules `name ::= ...`, alternation `|`,
// sequences, "literals", [character classes] with ^ and ranges, `.`, groups, and the repetition
// operators * + ? {m} {m,} {m,n}; `#` comments; the start rule is `root`) for users who bring
// their own grammar (response_format {"type": "grammar"}). The grammar compiles into rules of
// flat element runs; a state is a set of stacks of element positions (one per live parse), stepped
// one UTF-8 byte at a time, so the same trie walk makes its masks. Left recursion is refused at
// compile time (it would expand forever). Owner: constrain. Thread-safety: immutable after parse().
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace gannet::constrain {

class Gbnf {
public:
    struct State {
        std::vector<std::vector<int32_t>> stacks;  // sorted, unique; an empty stack: the root is done
        uint32_t cp = 0;                           // the code point being read
        uint8_t cp_left = 0;                       // its continuation bytes still due
        uint8_t cp_len = 0;                        // its length in bytes
    };

    // Errors: kInvalidArgument "gbnf: <what> at line L column C", or "gbnf: rule 'x' is not
    // defined", "gbnf: no rule 'root'", "gbnf: rule 'x' is left-recursive"; kResourceExhausted
    // for a grammar past 100,000 elements.
    static Result<Gbnf> parse(std::string_view text);

    State initial() const;
    // out = in after `byte`; false when no parse takes it (or when more than 4,096 parses would
    // be live at once). `out` must not be `in`.
    bool step(const State& in, uint8_t byte, State& out) const;
    // True when the bytes so far are a whole sentence of the grammar.
    static bool is_accepting(const State& s);

    struct Element {
        enum Kind : uint8_t { kChars, kRef, kEnd } kind = kEnd;
        bool is_negated = false;  // kChars: any code point outside the ranges
        int32_t rule = -1;        // kRef
        int32_t first_range = 0;  // kChars: ranges_[first_range, first_range + n_ranges)
        int32_t n_ranges = 0;
    };

private:
    friend class GbnfBuilder;
    void expand(std::vector<int32_t>& stack, std::vector<std::vector<int32_t>>& out, int depth) const;
    bool matches(const Element& e, uint32_t lo, uint32_t hi) const;  // some code point in [lo, hi]

    std::vector<Element> elems_;  // each alternative: a run of kChars/kRef closed by kEnd
    std::vector<std::pair<uint32_t, uint32_t>> ranges_;
    std::vector<std::vector<int32_t>> rule_alts_;  // per rule: the positions its alternatives start at
    int32_t root_ = -1;
};

}  // namespace gannet::constrain
