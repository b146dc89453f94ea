// TokenVocab and the mask walk. TokenVocab holds each token's decoded bytes in a prefix trie,
// built once per tokenizer; mask() walks that trie from a matcher state, stepping the state one
// byte per trie edge and cutting every subtree whose prefix the matcher refuses, so the cost is
// proportional to the live trie nodes, not to n_vocab. Inside free string content (no enum, no
// pending escape), where nearly every token is live, "plain" tokens (printable, no quote or
// backslash, whole UTF-8 characters) are taken from precomputed lists by code-point count and only
// the remaining tokens are walked. Owner: constrain.
// Thread-safety: TokenVocab is immutable after build(); MaskWalker is one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "constrain/json_matcher.h"
#include "tokenizer/tokenizer.h"

namespace gannet::constrain {

// A bitset over token ids; bit i set: token i is allowed.
struct TokenMask {
    std::vector<uint64_t> words;
    void reset(int32_t n_vocab) { words.assign(static_cast<size_t>(n_vocab + 63) / 64, 0); }
    void set(int32_t id) { words[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); }
    bool test(int32_t id) const { return (words[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; }
    // this |= other. REQUIRES: same n_vocab.
    void merge(const TokenMask& other) {
        for (size_t i = 0; i < words.size(); ++i)
            words[i] |= other.words[i];
    }
    int32_t count() const;
};

class ByteTrie {
public:
    struct TrieNode {
        int32_t first_edge = 0;
        int32_t n_edges = 0;
        int32_t first_token = 0;  // tokens_[first_token, first_token + n_tokens) end here
        int32_t n_tokens = 0;
    };
    struct Edge {
        uint8_t byte = 0;
        int32_t child = 0;
    };
    // ids[i] has bytes[i]; empty byte strings are skipped.
    static ByteTrie build(const std::vector<std::string>& bytes, const std::vector<int32_t>& ids);
    const TrieNode& node(int32_t i) const { return nodes_[static_cast<size_t>(i)]; }
    const Edge& edge(int32_t i) const { return edges_[static_cast<size_t>(i)]; }
    int32_t token(int32_t i) const { return tokens_[static_cast<size_t>(i)]; }
    size_t n_nodes() const { return nodes_.size(); }

private:
    std::vector<TrieNode> nodes_;
    std::vector<Edge> edges_;
    std::vector<int32_t> tokens_;
};

class TokenVocab {
public:
    // Every token's decoded bytes (special tokens decode to nothing and are never offered).
    static std::shared_ptr<const TokenVocab> build(const tokenizer::Tokenizer& tok);
    // The same from raw byte strings (tests); token i has bytes[i].
    static std::shared_ptr<const TokenVocab> from_bytes(std::vector<std::string> bytes);

    int32_t n_vocab() const { return static_cast<int32_t>(bytes_.size()); }
    const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
    const ByteTrie& trie() const { return trie_; }
    // The tokens that are not plain, split by whether they hold a '"': from string content, those
    // without one stay inside the string (escapes, partial UTF-8: the same answer for the same
    // string frame, so it is cached), those with one may close it (the answer depends on the rest
    // of the stack).
    const ByteTrie& inside_trie() const { return inside_trie_; }
    const ByteTrie& closing_trie() const { return closing_trie_; }
    const ByteTrie& plain_trie() const { return plain_trie_; }  // the plain tokens
    // Plain tokens sorted by code points; plain_by_len_[k]: how many have <= k code points.
    const std::vector<int32_t>& plain() const { return plain_; }
    size_t n_plain_up_to(int64_t n_codepoints) const;
    // Every plain token, as a mask: free string content with no length bound ORs it in (2k words
    // at 128k tokens instead of setting 128k bits).
    const TokenMask& all_plain() const { return all_plain_; }
    int32_t max_plain_codepoints() const { return plain_len_.empty() ? 0 : plain_len_.back(); }

private:
    std::vector<std::string> bytes_;
    ByteTrie trie_;
    ByteTrie inside_trie_;
    ByteTrie closing_trie_;
    ByteTrie plain_trie_;
    std::vector<int32_t> plain_;
    std::vector<int32_t> plain_len_;  // code points of plain_[i], ascending
    TokenMask all_plain_;
};

// Masks that recur, memoised per grammar: the plain tokens a pattern DFA state allows (walking
// the plain trie costs about 1 ms at 50k tokens), and the non-plain tokens that stay inside a
// string from a given string frame. The same few states recur across a string's characters and
// across requests with the same grammar. Owned by a Grammar. Thread-safety: a mutex guards the
// map; cached masks are immutable and shared.
class MaskCache {
public:
    enum class Kind : uint8_t { kDfaPlain, kDfaAll, kInside };
    struct Key {
        const TokenVocab* vocab = nullptr;
        Kind kind = Kind::kDfaPlain;
        int32_t node = -1;   // kInside: the string's node
        int32_t state = -1;  // the DFA state (-1: none)
        int32_t aux = -1;    // kInside keys: the name-trie node
        int64_t room = -1;   // code points still allowed; -1: more than any token holds
        uint64_t seen = 0;   // kInside keys: the properties present
        const void* dfa = nullptr;
        auto operator<=>(const Key&) const = default;
    };
    std::shared_ptr<const TokenMask> find(const Key& key);
    // Returns the cached mask for `key` (the first inserted wins), or `mask` itself once the cache
    // holds kMaxEntries masks.
    std::shared_ptr<const TokenMask> insert(const Key& key, std::shared_ptr<const TokenMask> mask);
    // 16 KiB a mask at 128k tokens: at most 32 MiB per grammar.
    static constexpr size_t kMaxEntries = 2048;

private:
    std::mutex mu_;
    std::map<Key, std::shared_ptr<const TokenMask>> masks_;
};

// Computes masks; holds the per-depth matcher states it reuses (no allocation once warm).
class MaskWalker {
public:
    MaskWalker() = default;
    // Sets `mask` to the tokens whose bytes the matcher accepts from `state` (EOS is the caller's).
    // `cache` (may be null) memoises the masks that recur (see MaskCache).
    void mask(const JsonMatcher& m, const TokenVocab& v, const MatcherState& state, TokenMask& mask,
              MaskCache* cache = nullptr);

    // The tokens of `trie` whose bytes keep `dfa` live from `state`: one table step per trie edge
    // (no matcher state copied), cut at dead states and past `room` code points (-1: no bound).
    static void walk_dfa(const RegexDfa& dfa, const ByteTrie& trie, int32_t node, int32_t state, int64_t room,
                         TokenMask& mask);

private:
    void walk(const JsonMatcher& m, const ByteTrie& trie, int32_t node, size_t depth, TokenMask& mask);
    // The subtree below `node` from one stack (frames [stack, stack + n_frames)) whose top is a
    // leaf (string, number): while a byte changes only the leaf, only the leaf is stepped
    // (pairs_[depth] = {frame below, leaf}: no stack copies); a byte that ends the leaf builds the
    // whole stack and walk() goes on. REQUIRES: `stack` is not levels_[d] for any d > depth.
    void walk_leaf(const JsonMatcher& m, const ByteTrie& trie, int32_t node, size_t depth, const Frame* stack,
                   size_t n_frames, TokenMask& mask);
    // The subtree below `node` from levels_[depth]: stacks with a leaf on top go through
    // walk_leaf() one by one, the others through walk().
    void walk_below(const JsonMatcher& m, const ByteTrie& trie, int32_t node, size_t depth, TokenMask& mask);
    std::vector<MatcherState> levels_;
    // The inside-string tokens from the string frame on top of `stack` (cached when it can be).
    void inside_string(const JsonMatcher& m, const TokenVocab& v, const Frame* stack, size_t n_frames, MaskCache* cache,
                       TokenMask& mask);
    std::vector<std::array<Frame, 2>> pairs_;
    // pairs_[d] for d >= depth: the frame below the leaf; pairs_[depth][1]: the leaf.
    void set_pairs(const Frame* stack, size_t n_frames, size_t depth);
    MatcherState leaf_state_;  // walk_leaf(): the whole stack where a byte ends the leaf
    MatcherState rest_;        // the stacks not at free string content
};

}  // namespace gannet::constrain
