// JsonMatcher: a character-level pushdown matcher over a SchemaGraph. Its state is a small set of
// stacks (one per live alternative of anyOf/oneOf); each stack holds frames (root, value, object,
// array, string, number, literal) with the lexer state inline, so a state is a flat array of
// plain frames that copies with memcpy — the mask walk (token_mask.h) clones it at every trie node.
// Invariant: every state reachable from reset() through accepted bytes has a completion
// (unsatisfiable subschemas are pruned at compile time, bounds are checked for feasibility), so a
// mask never leads the model into a dead end. Owner: constrain.
// Thread-safety: the matcher reads the graph only; one matcher per sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "constrain/number_lexer.h"
#include "constrain/schema_graph.h"

namespace gannet::constrain {

struct MatcherOptions {
    // Whitespace bytes allowed in a row at each place JSON allows them: 0 gives compact JSON (what
    // the server asks of the model: no token is spent on layout and nothing can loop on blanks);
    // the benchmark allows pretty-printed instances.
    int32_t max_whitespace = 0;
    int32_t max_depth = 64;   // nesting of arrays/objects; deeper is refused
    int32_t max_stacks = 64;  // live alternatives kept at once
    // Check restrictive anchored patterns after every character (PCRE2 partial matching); off:
    // every pattern is checked only when its string closes (cheaper masks, same final text).
    bool is_pattern_per_byte = true;
    // Literal text around the value (a tool-call wrapper such as "<tool_call>" ... "</tool_call>");
    // with is_repeated, further wrapped values may follow, each after `separator`.
    std::string prefix;
    std::string suffix;
    std::string separator;
    bool is_repeated = false;
};

enum class FrameKind : uint8_t { kRoot, kValue, kObject, kArray, kString, kNumber, kLiteral };

struct Frame {
    FrameKind kind = FrameKind::kValue;
    uint8_t phase = 0;
    uint8_t esc = 0;          // string: 0, 1 after '\', 2..5 inside \uXXXX
    uint8_t utf8_left = 0;    // string: continuation bytes still due
    uint8_t is_key = 0;       // string: an object key (node is the object's node)
    uint8_t is_anchored = 0;  // string: its pattern is anchored at the start
    int32_t node = 0;
    int32_t count = 0;  // object keys, array items, string code points, literal position
    int32_t ws = 0;     // whitespace bytes in a row
    int32_t aux = -1;   // object: current property (-1 additional); string: name-trie node (-1 off);
                        // literal: 0 true, 1 false, 2 null
    uint32_t code = 0;  // string: \u accumulator
    uint64_t seen = 0;  // object: properties present (first 64)
    // string with a pattern: the decoded content so far (-1: no pattern; -2: longer than pat, the
    // pattern is left to the final validation)
    int16_t pat_len = -1;
    // string with a pattern DFA: its state (-1: none; -2: off after a \u escape, the final
    // validation checks the pattern)
    int32_t dfa = -1;
    char pat[62] = {};
    NumberLexer num;
};

// All live stacks, flattened: frames of stack i are frames[starts[i] .. starts[i + 1]).
struct MatcherState {
    std::vector<Frame> frames;
    std::vector<uint32_t> starts;  // size n_stacks + 1
    size_t n_stacks() const { return starts.empty() ? 0 : starts.size() - 1; }
    bool empty() const { return n_stacks() == 0; }
    void clear() {
        frames.clear();
        starts.assign(1, 0);
    }
};

class JsonMatcher {
public:
    // `graph` must outlive the matcher.
    JsonMatcher(const SchemaGraph& graph, const MatcherOptions& options);

    // The state before any byte.
    MatcherState initial() const;
    // out = in after `byte`; false (out empty) when every stack refuses it. `out` must not be `in`.
    bool step(const MatcherState& in, uint8_t byte, MatcherState& out) const;
    // True when the bytes so far form a whole value the graph accepts (trailing blanks allowed).
    bool is_complete(const MatcherState& s) const;
    // True when some stack is at a string's content with no pending escape or UTF-8 tail and no
    // enum/name trie: the mask walk may then use the precomputed plain-token set for it.
    struct FreeString {
        bool is_free = false;
        int64_t room = -1;  // code points still allowed; -1 unbounded
        // The content must also keep this DFA live (null: any content).
        const RegexDfa* dfa = nullptr;
        int32_t dfa_state = -1;
    };
    FreeString free_string(const MatcherState& s, size_t stack) const;
    // The mask walk's fast path for a byte that changes only the leaf on top of a stack (string
    // content, a number's next character): pair[1] is the leaf, pair[0] the frame below it
    // (read by keys). kStepped: pair[1] took the byte; kRefused; kLeaves: the byte ends the leaf
    // (a closing quote, a byte after a number) and the whole stack must step().
    enum class LeafStep { kStepped, kRefused, kLeaves };
    LeafStep step_leaf(Frame* pair, uint8_t c) const;
    static bool is_leaf(const Frame& f) { return f.kind == FrameKind::kString || f.kind == FrameKind::kNumber; }

    const SchemaGraph& graph() const { return graph_; }
    const MatcherOptions& options() const { return options_; }

private:
    void feed(std::vector<Frame>& st, uint8_t c, MatcherState& out, int depth) const;
    void complete_top(std::vector<Frame>& st) const;
    bool feed_root(Frame& f, uint8_t c) const;
    bool feed_string(std::vector<Frame>& st, uint8_t c) const;
    bool feed_string_content(Frame& f, uint8_t c) const;
    bool feed_name_byte(Frame& f, uint8_t c) const;
    bool close_string(std::vector<Frame>& st) const;
    bool is_trie_bound(const Frame& f) const;
    bool feed_pattern(Frame& f, uint8_t c) const;
    bool feed_object(std::vector<Frame>& st, uint8_t c) const;
    bool feed_array(std::vector<Frame>& st, uint8_t c, MatcherState& out, int depth) const;
    bool start_value(std::vector<Frame>& st, uint8_t c, MatcherState& out, int depth) const;
    bool can_add_key(const Frame& obj) const;
    bool can_close_object(const Frame& obj) const;
    uint64_t open_props(const Frame& obj) const;
    int32_t item_node(const Node& arr, int32_t index) const;
    bool is_ws(uint8_t c, Frame& f) const;

    const SchemaGraph& graph_;
    MatcherOptions options_;
    mutable std::vector<Frame> scratch_;
};

}  // namespace gannet::constrain
