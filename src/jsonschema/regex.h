// ECMA-262 regular expressions (as JSON Schema's `pattern`, `patternProperties` and format "regex"
// require) on top of PCRE2: the pattern is translated to PCRE2 syntax first (ASCII \d \w \b, Unicode
// \s, '.' excluding line terminators, \uXXXX and surrogate pairs, long Unicode property names such
// as \p{Letter}), and identity escapes ECMA forbids in Unicode mode are rejected. Matching is
// bounded by PCRE2 match/depth limits so a catastrophic pattern fails with kLimit instead of hanging.
// Thread-safety: a compiled Regex is immutable; search() is safe from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

struct pcre2_real_code_8;

namespace gannet::jsonschema {

// Translates an ECMA-262 (Unicode mode) pattern into PCRE2 syntax; kInvalidArgument when the
// pattern is not valid ECMA-262 in a way the translator can see.
Result<std::string> ecma_to_pcre2(std::string_view pattern);

class Regex {
public:
    enum class Match { kNo, kYes, kLimit };

    // kInvalidArgument with PCRE2's message and offset when the pattern does not compile.
    static Result<Regex> compile(std::string_view ecma_pattern);

    // For the "regex" format: true when `ecma_pattern` is valid ECMA-262. Also true for the one
    // construct ECMA allows and PCRE2 10.42 cannot compile: a variable-width lookbehind.
    static bool is_valid_syntax(std::string_view ecma_pattern);

    // Unanchored search, as ECMA-262 `RegExp.prototype.test`. `subject` must be UTF-8.
    Match search(std::string_view subject) const;
    // For constrained decoding: whether `prefix` (UTF-8, whole characters) or some extension of
    // it can match. kMatch: it matches now; kPartial: the subject ended inside a possible match;
    // kNo: no extension can match. A match/depth limit answers kPartial (never stricter).
    enum class Prefix { kNo, kPartial, kMatch };
    Prefix prefix_match(std::string_view prefix) const;
    // True when every match starts at the subject's start (a leading ^, no multiline): only then
    // does kNo from prefix_match() rule out a later match.
    bool is_anchored() const;
    const std::string& pattern() const { return pattern_; }

private:
    struct CodeDeleter {
        void operator()(pcre2_real_code_8* code) const;
    };
    std::shared_ptr<pcre2_real_code_8> code_;
    std::string pattern_;  // the original ECMA text, for messages
};

}  // namespace gannet::jsonschema
