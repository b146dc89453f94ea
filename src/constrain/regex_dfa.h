// RegexDfa: an ECMA-262 pattern (Unicode mode, the regular subset: no lookaround, backreference,
// word boundary or \p property) compiled into a byte-level DFA over UTF-8. The constrained-decoding
// matcher steps it once per content byte of a string, so a `pattern` (or a user's `regex`
// response format) is checked after every character in constant time — where PCRE2's partial
// matching cost a call per trie node and backtracked exponentially on patterns such as
// `([\w .-]*)*`. Dead states (no completion can match) are removed, so a state >= 0 always has a
// completion. Owner: constrain. Thread-safety: immutable after compile(); share freely.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace gannet::constrain {

class RegexDfa {
public:
    static constexpr int32_t kDead = -1;
    // kSearch: JSON Schema `pattern` (matches anywhere unless ^ / $ anchor it); kFullMatch: the
    // whole text must match (the `regex` response format).
    enum class Mode { kSearch, kFullMatch };

    // Errors: kUnimplemented for a construct outside the regular subset (the caller falls back to
    // checking the pattern at the end), kInvalidArgument for a syntax error ("regex: <what> at
    // offset N"), kResourceExhausted past max_states DFA states or 10,000 NFA states.
    static Result<RegexDfa> compile(std::string_view pattern, Mode mode, int32_t max_states = 512);

    int32_t start() const { return start_; }
    // The state after `byte`, or kDead. REQUIRES: 0 <= s < n_states().
    int32_t step(int32_t s, uint8_t byte) const { return next_[static_cast<size_t>(s) * 256 + byte]; }
    bool is_accepting(int32_t s) const { return flags_[static_cast<size_t>(s)] & kAccepting; }
    // Every string of plain characters (printable, no '"' or '\', whole UTF-8 code points) keeps
    // the state live: the mask may then take all plain tokens without stepping through them.
    bool is_universal(int32_t s) const { return flags_[static_cast<size_t>(s)] & kUniversal; }
    int32_t n_states() const { return static_cast<int32_t>(flags_.size()); }

private:
    friend class DfaBuilder;
    enum : uint8_t { kAccepting = 1, kUniversal = 2 };
    std::vector<int32_t> next_;  // [n_states * 256]
    std::vector<uint8_t> flags_;
    int32_t start_ = 0;
};

}  // namespace gannet::constrain
