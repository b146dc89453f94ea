#include "constrain/token_mask.h"

#include <algorithm>
#include <bit>
#include <numeric>

namespace gannet::constrain {

int32_t TokenMask::count() const {
    int32_t n = 0;
    for (uint64_t w : words)
        n += std::popcount(w);
    return n;
}

ByteTrie ByteTrie::build(const std::vector<std::string>& bytes, const std::vector<int32_t>& ids) {
    // Sorted byte strings share prefixes with their predecessor only, so one pass with the path of
    // the previous string builds the trie; edges created in that order are sorted by byte within a
    // parent, and a stable sort by parent makes each node's edges contiguous.
    std::vector<size_t> order(ids.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bytes[a] < bytes[b]; });
    struct RawEdge {
        int32_t parent, child;
        uint8_t byte;
    };
    std::vector<RawEdge> raw;
    std::vector<std::pair<int32_t, int32_t>> node_tokens;  // (node, token)
    std::vector<int32_t> path = {0};                       // path[d]: node at depth d of `prev`
    std::string prev;
    int32_t n_nodes = 1;
    for (size_t k : order) {
        const std::string& s = bytes[k];
        if (s.empty())
            continue;
        size_t lcp = 0;
        while (lcp < s.size() && lcp < prev.size() && s[lcp] == prev[lcp])
            ++lcp;
        path.resize(lcp + 1);
        for (size_t d = lcp; d < s.size(); ++d) {
            raw.push_back({path.back(), n_nodes, static_cast<uint8_t>(s[d])});
            path.push_back(n_nodes++);
        }
        node_tokens.emplace_back(path.back(), ids[k]);
        prev = s;
    }
    std::stable_sort(raw.begin(), raw.end(), [](const RawEdge& a, const RawEdge& b) { return a.parent < b.parent; });
    ByteTrie t;
    t.nodes_.resize(static_cast<size_t>(n_nodes));
    t.edges_.reserve(raw.size());
    for (const RawEdge& e : raw) {
        TrieNode& n = t.nodes_[static_cast<size_t>(e.parent)];
        if (n.n_edges == 0)
            n.first_edge = static_cast<int32_t>(t.edges_.size());
        ++n.n_edges;
        t.edges_.push_back({e.byte, e.child});
    }
    // node_tokens is ordered by the sorted strings; group by node.
    std::stable_sort(node_tokens.begin(), node_tokens.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [node, tok] : node_tokens) {
        TrieNode& n = t.nodes_[static_cast<size_t>(node)];
        if (n.n_tokens == 0)
            n.first_token = static_cast<int32_t>(t.tokens_.size());
        ++n.n_tokens;
        t.tokens_.push_back(tok);
    }
    return t;
}

namespace {

// Code points of a plain token (bytes >= 0x20 but '"' and '\', whole UTF-8 characters with the
// matcher's lead-byte rules), or -1 when the token is not plain.
int32_t plain_codepoints(const std::string& s) {
    int32_t n = 0;
    for (size_t i = 0; i < s.size();) {
        const uint8_t c = static_cast<uint8_t>(s[i]);
        if (c < 0x20 || c == '"' || c == '\\')
            return -1;
        int len = 1;
        if (c >= 0x80) {
            if (c < 0xC2 || c > 0xF4)
                return -1;
            len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        }
        if (i + static_cast<size_t>(len) > s.size())
            return -1;
        for (int k = 1; k < len; ++k) {
            const uint8_t d = static_cast<uint8_t>(s[i + static_cast<size_t>(k)]);
            if (d < 0x80 || d > 0xBF)
                return -1;
        }
        i += static_cast<size_t>(len);
        ++n;
    }
    return n;
}

}  // namespace

std::shared_ptr<const TokenVocab> TokenVocab::from_bytes(std::vector<std::string> bytes) {
    auto v = std::make_shared<TokenVocab>();
    v->bytes_ = std::move(bytes);
    std::vector<int32_t> all(v->bytes_.size());
    std::iota(all.begin(), all.end(), 0);
    v->trie_ = ByteTrie::build(v->bytes_, all);
    std::vector<std::pair<int32_t, int32_t>> plain;  // (code points, id)
    std::vector<std::string> plain_bytes;
    std::vector<int32_t> plain_ids;
    std::vector<std::string> inside_bytes, closing_bytes;
    std::vector<int32_t> inside_ids, closing_ids;
    for (int32_t i = 0; i < static_cast<int32_t>(v->bytes_.size()); ++i) {
        const std::string& s = v->bytes_[static_cast<size_t>(i)];
        if (s.empty())
            continue;
        const int32_t n = plain_codepoints(s);
        if (n > 0) {
            plain.emplace_back(n, i);
            plain_bytes.push_back(s);
            plain_ids.push_back(i);
        } else {
            const bool has_quote = s.find('"') != std::string::npos;
            (has_quote ? closing_bytes : inside_bytes).push_back(s);
            (has_quote ? closing_ids : inside_ids).push_back(i);
        }
    }
    std::sort(plain.begin(), plain.end());
    v->all_plain_.reset(static_cast<int32_t>(v->bytes_.size()));
    for (auto [n, id] : plain) {
        v->plain_.push_back(id);
        v->plain_len_.push_back(n);
        v->all_plain_.set(id);
    }
    v->inside_trie_ = ByteTrie::build(inside_bytes, inside_ids);
    v->closing_trie_ = ByteTrie::build(closing_bytes, closing_ids);
    v->plain_trie_ = ByteTrie::build(plain_bytes, plain_ids);
    return v;
}

std::shared_ptr<const TokenVocab> TokenVocab::build(const tokenizer::Tokenizer& tok) {
    std::vector<std::string> bytes(static_cast<size_t>(tok.n_vocab()));
    for (int32_t i = 0; i < tok.n_vocab(); ++i) {
        bytes[static_cast<size_t>(i)] = tok.decode_token(i, tokenizer::Tokenizer::RenderSpecial::kNo);
    }
    return from_bytes(std::move(bytes));
}

size_t TokenVocab::n_plain_up_to(int64_t n_codepoints) const {
    if (n_codepoints < 0)
        return plain_.size();
    return static_cast<size_t>(std::upper_bound(plain_len_.begin(), plain_len_.end(), n_codepoints)
                               - plain_len_.begin());
}

void MaskWalker::walk(const JsonMatcher& m, const ByteTrie& trie, int32_t node, size_t depth, TokenMask& mask) {
    if (levels_.size() < depth + 2)
        levels_.resize(depth + 2);
    const ByteTrie::TrieNode& n = trie.node(node);
    for (int32_t e = n.first_edge; e < n.first_edge + n.n_edges; ++e) {
        const ByteTrie::Edge& edge = trie.edge(e);
        if (!m.step(levels_[depth], edge.byte, levels_[depth + 1]))
            continue;
        const ByteTrie::TrieNode& c = trie.node(edge.child);
        for (int32_t t = c.first_token; t < c.first_token + c.n_tokens; ++t)
            mask.set(trie.token(t));
        if (c.n_edges == 0)
            continue;
        walk_below(m, trie, edge.child, depth + 1, mask);
    }
}

void MaskWalker::walk_below(const JsonMatcher& m, const ByteTrie& trie, int32_t node, size_t depth, TokenMask& mask) {
    // A token is allowed when some stack takes all its bytes, so the mask is the union over the
    // stacks: each stack in a string or number walks alone, stepping only its top frame.
    MatcherState& s = levels_[depth];
    size_t n_leaf = 0;
    for (size_t k = 0; k < s.n_stacks(); ++k) {
        n_leaf += s.starts[k + 1] - s.starts[k] >= 2 && JsonMatcher::is_leaf(s.frames[s.starts[k + 1] - 1]);
    }
    if (n_leaf == 0) {
        walk(m, trie, node, depth, mask);
        return;
    }
    // The frames are copied out: the walks below may move levels_ (and levels_[depth] is reused
    // for the stacks that are not leaves).
    std::vector<Frame> frames = s.frames;
    std::vector<uint32_t> starts = s.starts;
    MatcherState rest;
    rest.clear();
    for (size_t k = 0; k + 1 < starts.size(); ++k) {
        const Frame* stack = frames.data() + starts[k];
        const size_t n_frames = starts[k + 1] - starts[k];
        if (n_frames >= 2 && JsonMatcher::is_leaf(stack[n_frames - 1])) {
            set_pairs(stack, n_frames, depth);
            walk_leaf(m, trie, node, depth, stack, n_frames, mask);
        } else {
            rest.frames.insert(rest.frames.end(), stack, stack + n_frames);
            rest.starts.push_back(static_cast<uint32_t>(rest.frames.size()));
        }
    }
    if (!rest.empty()) {
        levels_[depth] = std::move(rest);
        walk(m, trie, node, depth, mask);
    }
}

void MaskWalker::walk_dfa(const RegexDfa& dfa, const ByteTrie& trie, int32_t node, int32_t state, int64_t room,
                          TokenMask& mask) {
    const ByteTrie::TrieNode& n = trie.node(node);
    for (int32_t e = n.first_edge; e < n.first_edge + n.n_edges; ++e) {
        const ByteTrie::Edge& edge = trie.edge(e);
        const bool is_lead = (edge.byte & 0xC0) != 0x80;  // a new code point starts here
        if (is_lead && room == 0)
            continue;
        const int32_t next = dfa.step(state, edge.byte);
        if (next < 0)
            continue;
        const ByteTrie::TrieNode& c = trie.node(edge.child);
        for (int32_t t = c.first_token; t < c.first_token + c.n_tokens; ++t)
            mask.set(trie.token(t));
        if (c.n_edges > 0)
            walk_dfa(dfa, trie, edge.child, next, is_lead && room > 0 ? room - 1 : room, mask);
    }
}

std::shared_ptr<const TokenMask> MaskCache::find(const Key& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = masks_.find(key);
    return it == masks_.end() ? nullptr : it->second;
}

std::shared_ptr<const TokenMask> MaskCache::insert(const Key& key, std::shared_ptr<const TokenMask> mask) {
    std::lock_guard<std::mutex> lock(mu_);
    if (masks_.size() >= kMaxEntries)
        return mask;  // full: the caller uses it once, uncached
    return masks_.emplace(key, std::move(mask)).first->second;
}

void MaskWalker::walk_leaf(const JsonMatcher& m, const ByteTrie& trie, int32_t node, size_t depth, const Frame* stack,
                           size_t n_frames, TokenMask& mask) {
    if (levels_.size() < depth + 2)
        levels_.resize(depth + 2);
    if (pairs_.size() < depth + 2) {
        const Frame below = pairs_[depth][0];  // the same at every depth of this walk
        pairs_.resize(depth + 2, {below, below});
    }
    const ByteTrie::TrieNode& n = trie.node(node);
    for (int32_t e = n.first_edge; e < n.first_edge + n.n_edges; ++e) {
        const ByteTrie::Edge& edge = trie.edge(e);
        const ByteTrie::TrieNode& c = trie.node(edge.child);
        pairs_[depth + 1][1] = pairs_[depth][1];
        const JsonMatcher::LeafStep r = m.step_leaf(pairs_[depth + 1].data(), edge.byte);
        if (r == JsonMatcher::LeafStep::kRefused)
            continue;
        if (r == JsonMatcher::LeafStep::kLeaves) {
            // Build the whole stack with the leaf as it stands and let the matcher take the byte.
            leaf_state_.clear();
            leaf_state_.frames.assign(stack, stack + n_frames - 1);
            leaf_state_.frames.push_back(pairs_[depth][1]);
            leaf_state_.starts.push_back(static_cast<uint32_t>(n_frames));
            if (!m.step(leaf_state_, edge.byte, levels_[depth + 1]))
                continue;
        }
        for (int32_t t = c.first_token; t < c.first_token + c.n_tokens; ++t)
            mask.set(trie.token(t));
        if (c.n_edges == 0)
            continue;
        if (r == JsonMatcher::LeafStep::kStepped) {
            walk_leaf(m, trie, edge.child, depth + 1, stack, n_frames, mask);
        } else {
            walk_below(m, trie, edge.child, depth + 1, mask);
        }
    }
}

void MaskWalker::set_pairs(const Frame* stack, size_t n_frames, size_t depth) {
    if (pairs_.size() < depth + 2)
        pairs_.resize(depth + 2);
    for (size_t d = depth; d < pairs_.size(); ++d)
        pairs_[d][0] = stack[n_frames - 2];
    pairs_[depth][1] = stack[n_frames - 1];
}

void MaskWalker::inside_string(const JsonMatcher& m, const TokenVocab& v, const Frame* stack, size_t n_frames,
                               MaskCache* cache, TokenMask& mask) {
    const Frame& f = stack[n_frames - 1];
    const Node& n = m.graph().node(f.node);
    // What the inside tokens do depends on the string frame alone: its node, the room left, the
    // DFA state, and for a key its name-trie node and the properties present. A PCRE2 pattern
    // keeps the content itself, so that frame is walked every time.
    const int64_t room = f.is_key || n.max_length < 0 || n.max_length - f.count > 256 ? -1 : n.max_length - f.count;
    const MaskCache::Key key{.vocab = &v,
                             .kind = MaskCache::Kind::kInside,
                             .node = f.node,
                             .state = f.dfa,
                             .aux = f.is_key ? f.aux : -1,
                             .room = room,
                             .seen = f.is_key ? stack[n_frames - 2].seen : 0};
    const bool can_cache = cache != nullptr && f.pat_len < 0;
    if (can_cache) {
        if (auto hit = cache->find(key)) {
            mask.merge(*hit);
            return;
        }
    }
    set_pairs(stack, n_frames, 0);
    if (!can_cache) {
        walk_leaf(m, v.inside_trie(), 0, 0, stack, n_frames, mask);
        return;
    }
    auto fresh = std::make_shared<TokenMask>();
    fresh->reset(v.n_vocab());
    walk_leaf(m, v.inside_trie(), 0, 0, stack, n_frames, *fresh);
    mask.merge(*cache->insert(key, std::move(fresh)));
}

void MaskWalker::mask(const JsonMatcher& m, const TokenVocab& v, const MatcherState& state, TokenMask& mask,
                      MaskCache* cache) {
    mask.reset(v.n_vocab());
    if (levels_.size() < 2)
        levels_.resize(2);
    // Stacks inside free string content take the plain tokens from a precomputed mask (or, under
    // a pattern, from the DFA's) and walk only the other tokens, stepping just the string frame;
    // the remaining stacks (often pruned fast: closed keys, enums) walk the whole trie with the
    // matcher. Splitting keeps one permissive alternative from making every stack walk it all.
    rest_.clear();
    int64_t room = 0;
    bool has_free = false;
    for (size_t i = 0; i < state.n_stacks(); ++i) {
        const JsonMatcher::FreeString f = m.free_string(state, i);
        const Frame* stack = state.frames.data() + state.starts[i];
        const size_t n_frames = state.starts[i + 1] - state.starts[i];
        if (!f.is_free) {
            rest_.frames.insert(rest_.frames.end(), stack, stack + n_frames);
            rest_.starts.push_back(static_cast<uint32_t>(rest_.frames.size()));
            continue;
        }
        if (f.dfa != nullptr && !f.dfa->is_universal(f.dfa_state)) {
            // Plain tokens must keep the pattern live.
            // Rooms past the longest plain token allow what no bound does.
            const int64_t room = f.room > v.max_plain_codepoints() ? -1 : f.room;
            const MaskCache::Key key{
                .vocab = &v, .kind = MaskCache::Kind::kDfaPlain, .state = f.dfa_state, .room = room, .dfa = f.dfa};
            std::shared_ptr<const TokenMask> cached = cache != nullptr ? cache->find(key) : nullptr;
            if (cached == nullptr) {
                auto fresh = std::make_shared<TokenMask>();
                fresh->reset(v.n_vocab());
                walk_dfa(*f.dfa, v.plain_trie(), 0, f.dfa_state, room, *fresh);
                cached = cache != nullptr ? cache->insert(key, std::move(fresh)) : std::move(fresh);
            }
            mask.merge(*cached);
        } else {
            room = (has_free && room < 0) || f.room < 0 ? -1 : std::max(room, f.room);
            has_free = true;
        }
        inside_string(m, v, stack, n_frames, cache, mask);
        set_pairs(stack, n_frames, 0);
        walk_leaf(m, v.closing_trie(), 0, 0, stack, n_frames, mask);
    }
    if (has_free && (room < 0 || room > v.max_plain_codepoints())) {
        mask.merge(v.all_plain());
    } else if (has_free) {
        const size_t n = v.n_plain_up_to(room);
        for (size_t i = 0; i < n; ++i)
            mask.set(v.plain()[i]);
    }
    if (!rest_.empty()) {
        levels_[0] = rest_;
        walk_below(m, v.trie(), 0, 0, mask);
    }
}

}  // namespace gannet::constrain
