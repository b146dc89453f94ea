// The ECMA-262 pattern parser behind RegexDfa: code-point sets as ranges and a syntax tree of
// sets, concatenations, alternations, repeats and the ^/$ anchors. Unicode mode; constructs that
// are not regular (lookaround, backreferences, \b, \p) are refused with kUnimplemented so the
// caller can fall back to PCRE2. Owner: constrain. Thread-safety: plain functions and values.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace gannet::constrain::regex {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// A set of code points as sorted, disjoint, non-adjacent ranges.
using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// Every scalar value not in `r` (surrogates are never members: UTF-8 cannot carry them).
Ranges complement(const Ranges& r);
// ECMA-262 WhiteSpace and LineTerminator (\s).
extern const Ranges kSpace;

struct Ast {
    enum Kind { kSet, kConcat, kAlt, kRepeat, kBegin, kEnd } kind = kConcat;
    Ranges set;
    std::vector<int32_t> kids;
    int32_t min = 0, max = -1;  // repeat bounds; -1: unbounded

    static Ast of(Kind k) {
        Ast a;
        a.kind = k;
        return a;
    }
    static Ast of_set(Ranges r) {
        Ast a = of(kSet);
        a.set = std::move(r);
        return a;
    }
};

// Recursive descent over the pattern's code points into `nodes`.

// Parses `pattern` into `nodes`; returns the root. Errors: kInvalidArgument ("regex: <what> at
// offset N"), kUnimplemented for a construct that is not regular, kResourceExhausted for a
// repeat count above 1000.
Result<int32_t> parse(std::string_view pattern, std::vector<Ast>& nodes);

}  // namespace gannet::constrain::regex
