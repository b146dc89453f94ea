#include "constrain/json_matcher.h"

namespace gannet::constrain {
namespace {

// Object phases.
enum : uint8_t { kObjOpen, kObjAfterKey, kObjInValue, kObjAfterValue, kObjAfterComma, kObjInKey };
// Array phases.
enum : uint8_t { kArrOpen, kArrAfterValue, kArrInValue };
// Root phases.
enum : uint8_t { kRootBefore, kRootInValue, kRootAfter, kRootPrefix, kRootSuffix, kRootDone, kRootAgain };

constexpr const char* kLiterals[3] = {"true", "false", "null"};
constexpr int32_t kLiteralLen[3] = {4, 5, 4};

int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

Frame make_frame(FrameKind kind, int32_t node) {
    Frame f;
    f.kind = kind;
    f.node = node;
    return f;
}

}  // namespace

JsonMatcher::JsonMatcher(const SchemaGraph& graph, const MatcherOptions& options) : graph_(graph), options_(options) {}

MatcherState JsonMatcher::initial() const {
    MatcherState s;
    s.clear();
    Frame root = make_frame(FrameKind::kRoot, graph_.root());
    root.phase = options_.prefix.empty() ? kRootBefore : kRootPrefix;
    s.frames.push_back(root);
    s.starts.push_back(1);
    return s;
}

bool JsonMatcher::is_ws(uint8_t c, Frame& f) const {
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
        return false;
    if (f.ws >= options_.max_whitespace)
        return false;
    ++f.ws;
    return true;
}

bool JsonMatcher::step(const MatcherState& in, uint8_t byte, MatcherState& out) const {
    out.clear();
    for (size_t i = 0; i < in.n_stacks(); ++i) {
        scratch_.assign(in.frames.begin() + in.starts[i], in.frames.begin() + in.starts[i + 1]);
        feed(scratch_, byte, out, 0);
        if (out.n_stacks() >= static_cast<size_t>(options_.max_stacks))
            break;
    }
    return !out.empty();
}

// Pops the finished top frame and moves its parent on.
void JsonMatcher::complete_top(std::vector<Frame>& st) const {
    st.pop_back();
    Frame& p = st.back();
    switch (p.kind) {
        case FrameKind::kRoot:
            p.phase = kRootAfter;
            p.ws = 0;
            break;
        case FrameKind::kObject:
            if (p.phase == kObjInKey) {
                p.phase = kObjAfterKey;
            } else {
                p.phase = kObjAfterValue;
                ++p.count;
            }
            p.ws = 0;
            break;
        case FrameKind::kArray:
            p.phase = kArrAfterValue;
            ++p.count;
            p.ws = 0;
            break;
        default: break;
    }
}

// One byte into one stack; every stack that survives is appended to `out`.
void JsonMatcher::feed(std::vector<Frame>& st, uint8_t c, MatcherState& out, int depth) const {
    bool ok = false;
    while (true) {
        Frame& f = st.back();
        switch (f.kind) {
            case FrameKind::kRoot:
                if (f.phase == kRootBefore) {
                    f.phase = kRootInValue;
                    st.push_back(make_frame(FrameKind::kValue, f.node));
                    continue;
                }
                ok = feed_root(f, c);
                break;
            case FrameKind::kValue: start_value(st, c, out, depth); return;  // start_value emits
            case FrameKind::kObject: ok = feed_object(st, c); break;
            case FrameKind::kArray:
                if (!feed_array(st, c, out, depth))
                    return;
                ok = true;
                break;
            case FrameKind::kString: ok = feed_string(st, c); break;
            case FrameKind::kNumber: {
                const Node& n = graph_.node(f.node);
                NumberLexer probe = f.num;
                if (probe.feed(c, n)) {
                    f.num = probe;
                    ok = true;
                    break;
                }
                // Not a number byte: the number ends here if it is whole and in bounds, and the
                // byte goes to the parent.
                if (!f.num.is_terminal() || !f.num.is_in_bounds(n))
                    return;
                complete_top(st);
                continue;
            }
            case FrameKind::kLiteral:
                ok = kLiterals[f.aux][f.count] == static_cast<char>(c);
                if (ok && ++f.count == kLiteralLen[f.aux])
                    complete_top(st);
                break;
        }
        break;
    }
    if (!ok)
        return;
    out.frames.insert(out.frames.end(), st.begin(), st.end());
    out.starts.push_back(static_cast<uint32_t>(out.frames.size()));
}

// The literal wrapper around the value and the blanks after it.
bool JsonMatcher::feed_root(Frame& f, uint8_t c) const {
    const std::string& pre = options_.prefix;
    const std::string& suf = options_.suffix;
    auto literal = [&](const std::string& text, uint8_t done_phase) {
        if (static_cast<size_t>(f.count) >= text.size() || text[static_cast<size_t>(f.count)] != static_cast<char>(c)) {
            return false;
        }
        if (static_cast<size_t>(++f.count) == text.size()) {
            f.phase = done_phase;
            f.count = 0;
        }
        return true;
    };
    switch (f.phase) {
        case kRootPrefix: return literal(pre, kRootBefore);
        case kRootAfter:
            if (is_ws(c, f))
                return true;
            if (suf.empty())
                return false;
            f.phase = kRootSuffix;
            f.count = 0;
            return literal(suf, kRootDone);
        case kRootSuffix: return literal(suf, kRootDone);
        case kRootDone:
            if (!options_.is_repeated)
                return false;
            f.phase = kRootAgain;
            f.count = 0;
            f.ws = 0;
            [[fallthrough]];
        case kRootAgain: {
            const std::string again = options_.separator + pre;
            if (!literal(again, kRootBefore))
                return false;
            return true;
        }
        default: return false;
    }
}

bool JsonMatcher::start_value(std::vector<Frame>& st, uint8_t c, MatcherState& out, int depth) const {
    Frame& f = st.back();
    const Node& n = graph_.node(f.node);
    if (!n.alts.empty()) {
        if (depth > 32)
            return false;  // an alternation that only refers to itself
        for (int32_t a : n.alts) {
            if (!graph_.node(a).is_sat)
                continue;
            std::vector<Frame> copy = st;
            copy.back().node = a;
            feed(copy, c, out, depth + 1);
        }
        return true;
    }
    if (is_ws(c, f)) {
        out.frames.insert(out.frames.end(), st.begin(), st.end());
        out.starts.push_back(static_cast<uint32_t>(out.frames.size()));
        return true;
    }
    const int32_t node = f.node;
    const bool is_deep = static_cast<int32_t>(st.size()) > options_.max_depth;
    Frame next;
    if (c == '{' && (n.types & kTypeObject) && !is_deep) {
        next = make_frame(FrameKind::kObject, node);
    } else if (c == '[' && (n.types & kTypeArray) && !is_deep) {
        next = make_frame(FrameKind::kArray, node);
    } else if (c == '"' && (n.types & kTypeString)) {
        next = make_frame(FrameKind::kString, node);
        next.aux = n.has_string_enum ? 0 : -1;
        next.pat_len = n.pattern.has_value() ? 0 : -1;
        next.is_anchored = n.is_pattern_per_byte && options_.is_pattern_per_byte;
        if (n.pattern_dfa != nullptr && options_.is_pattern_per_byte) {
            next.dfa = n.pattern_dfa->start();
            next.pat_len = -1;  // the DFA checks the whole pattern, exactly
        }
    } else if ((c == '-' || (c >= '0' && c <= '9')) && (n.types & (kTypeInteger | kTypeNumber))) {
        next = make_frame(FrameKind::kNumber, node);
        if (!next.num.feed(c, n))
            return false;
    } else if ((c == 't' && (n.types & kTypeBool) && (n.bool_values & 2))
               || (c == 'f' && (n.types & kTypeBool) && (n.bool_values & 1)) || (c == 'n' && (n.types & kTypeNull))) {
        next = make_frame(FrameKind::kLiteral, node);
        next.aux = c == 't' ? 0 : c == 'f' ? 1 : 2;
        next.count = 1;
    } else {
        return false;
    }
    st.back() = next;
    out.frames.insert(out.frames.end(), st.begin(), st.end());
    out.starts.push_back(static_cast<uint32_t>(out.frames.size()));
    return true;
}

// Properties that may still appear: satisfiable, not yet present.
uint64_t JsonMatcher::open_props(const Frame& obj) const {
    const Node& n = graph_.node(obj.node);
    uint64_t open = 0;
    for (size_t i = 0; i < n.prop_names.size() && i < 64; ++i) {
        if (graph_.node(n.prop_nodes[i]).is_sat)
            open |= uint64_t{1} << i;
    }
    return open & ~obj.seen;
}

bool JsonMatcher::can_add_key(const Frame& obj) const {
    const Node& n = graph_.node(obj.node);
    if (n.max_props >= 0 && obj.count >= n.max_props)
        return false;
    const bool has_additional = n.additional < 0 || graph_.node(n.additional).is_sat;
    return has_additional || open_props(obj) != 0 || n.prop_names.size() > 64;
}

bool JsonMatcher::can_close_object(const Frame& obj) const {
    const Node& n = graph_.node(obj.node);
    return (n.required & ~obj.seen) == 0 && obj.count >= n.min_props;
}

bool JsonMatcher::feed_object(std::vector<Frame>& st, uint8_t c) const {
    Frame& f = st.back();
    const Node& n = graph_.node(f.node);
    switch (f.phase) {
        case kObjOpen:
        case kObjAfterComma:
            if (is_ws(c, f))
                return true;
            if (c == '"' && can_add_key(f)) {
                f.phase = kObjInKey;
                Frame key = make_frame(FrameKind::kString, f.node);
                key.is_key = 1;
                key.aux = n.prop_names.empty() ? -1 : 0;
                st.push_back(key);
                return true;
            }
            if (c == '}' && f.phase == kObjOpen && can_close_object(f)) {
                complete_top(st);
                return true;
            }
            return false;
        case kObjAfterKey:
            if (is_ws(c, f))
                return true;
            if (c != ':')
                return false;
            f.phase = kObjInValue;
            {
                const int32_t v = f.aux >= 0         ? n.prop_nodes[static_cast<size_t>(f.aux)]
                                  : n.additional < 0 ? SchemaGraph::kAnyNode
                                                     : n.additional;
                if (f.aux >= 0 && f.aux < 64)
                    f.seen |= uint64_t{1} << f.aux;
                st.push_back(make_frame(FrameKind::kValue, v));
            }
            return true;
        case kObjAfterValue:
            if (is_ws(c, f))
                return true;
            if (c == ',' && can_add_key(f)) {
                f.phase = kObjAfterComma;
                f.ws = 0;
                return true;
            }
            if (c == '}' && can_close_object(f)) {
                complete_top(st);
                return true;
            }
            return false;
        default: return false;
    }
}

int32_t JsonMatcher::item_node(const Node& arr, int32_t index) const {
    if (static_cast<size_t>(index) < arr.prefix_items.size())
        return arr.prefix_items[static_cast<size_t>(index)];
    return arr.items < 0 ? SchemaGraph::kAnyNode : arr.items;
}

bool JsonMatcher::feed_array(std::vector<Frame>& st, uint8_t c, MatcherState& out, int depth) const {
    Frame& f = st.back();
    const Node& n = graph_.node(f.node);
    const bool can_close = f.count >= n.min_items;
    const bool can_add = (n.max_items < 0 || f.count < n.max_items) && graph_.node(item_node(n, f.count)).is_sat;
    if (is_ws(c, f))
        return true;
    if (c == ']' && can_close && f.phase != kArrInValue) {
        complete_top(st);
        return true;
    }
    if (f.phase == kArrOpen && can_add) {
        f.phase = kArrInValue;
        st.push_back(make_frame(FrameKind::kValue, item_node(n, f.count)));
        start_value(st, c, out, depth);
        return false;  // start_value emitted the surviving stacks
    }
    if (f.phase == kArrAfterValue && c == ',' && can_add) {
        f.phase = kArrInValue;
        st.push_back(make_frame(FrameKind::kValue, item_node(n, f.count)));
        return true;
    }
    return false;
}

// One content byte (raw or decoded from an escape) against the name trie of a key or string enum.
bool JsonMatcher::feed_name_byte(Frame& f, uint8_t c) const {
    const Node& n = graph_.node(f.node);
    if (f.is_key) {
        const bool has_additional = n.additional < 0 || graph_.node(n.additional).is_sat;
        if (f.aux >= 0) {
            const int32_t child = n.prop_trie.child(f.aux, c);
            const Frame& obj = *(&f - 1);
            if (child >= 0
                && ((n.prop_trie.nodes[static_cast<size_t>(child)].subtree & open_props(obj)) != 0
                    || n.prop_names.size() > 64)) {
                f.aux = child;
                return true;
            }
            f.aux = -1;
        }
        return has_additional;
    }
    if (f.pat_len >= 0 && !feed_pattern(f, c))
        return false;
    if (f.dfa >= 0) {
        f.dfa = n.pattern_dfa->step(f.dfa, c);
        if (f.dfa < 0)
            return false;
    }
    if (!n.has_string_enum)
        return true;
    if (f.aux < 0)
        return false;
    f.aux = n.string_enum.child(f.aux, c);
    return f.aux >= 0;
}

// Appends one decoded content byte and asks the pattern whether the content can still match.
bool JsonMatcher::feed_pattern(Frame& f, uint8_t c) const {
    if (static_cast<size_t>(f.pat_len) >= sizeof(f.pat)) {
        f.pat_len = -2;  // too long to keep: the final validation checks the pattern
        return true;
    }
    f.pat[f.pat_len++] = static_cast<char>(c);
    if (f.utf8_left != 0 || !f.is_anchored)
        return true;  // whole characters only (UTF-8 mode), and only patterns worth checking
    const Node& n = graph_.node(f.node);
    return n.pattern->prefix_match(std::string_view(f.pat, static_cast<size_t>(f.pat_len)))
           != jsonschema::Regex::Prefix::kNo;
}

bool JsonMatcher::is_trie_bound(const Frame& f) const {
    const Node& n = graph_.node(f.node);
    if (!f.is_key)
        return n.has_string_enum;
    return f.aux >= 0 && !(n.additional < 0 || graph_.node(n.additional).is_sat);
}

bool JsonMatcher::close_string(std::vector<Frame>& st) const {
    Frame& f = st.back();
    const Node& n = graph_.node(f.node);
    if (f.esc != 0 || f.utf8_left != 0)
        return false;
    if (f.is_key) {
        Frame& obj = st[st.size() - 2];
        const int32_t term = f.aux >= 0 ? n.prop_trie.nodes[static_cast<size_t>(f.aux)].terminal : -1;
        if (term >= 0 && (term >= 64 || (open_props(obj) >> term) & 1)) {
            obj.aux = term;
        } else if (term >= 0 || !(n.additional < 0 || graph_.node(n.additional).is_sat)) {
            return false;  // a duplicate key, or an unknown one where none is allowed
        } else {
            obj.aux = -1;
        }
        complete_top(st);
        return true;
    }
    if (f.count < n.min_length)
        return false;
    if (f.dfa >= 0 && !n.pattern_dfa->is_accepting(f.dfa))
        return false;
    if (f.pat_len >= 0
        && n.pattern->search(std::string_view(f.pat, static_cast<size_t>(f.pat_len)))
               == jsonschema::Regex::Match::kNo) {
        return false;
    }
    if (n.has_string_enum && (f.aux < 0 || n.string_enum.nodes[static_cast<size_t>(f.aux)].terminal < 0))
        return false;
    complete_top(st);
    return true;
}

bool JsonMatcher::feed_string(std::vector<Frame>& st, uint8_t c) const {
    const Frame& top = st.back();
    if (c == '"' && top.esc == 0 && top.utf8_left == 0)
        return close_string(st);
    return feed_string_content(st.back(), c);
}

JsonMatcher::LeafStep JsonMatcher::step_leaf(Frame* pair, uint8_t c) const {
    Frame& f = pair[1];
    if (f.kind == FrameKind::kNumber) {
        NumberLexer probe = f.num;
        if (!probe.feed(c, graph_.node(f.node)))
            return LeafStep::kLeaves;
        f.num = probe;
        return LeafStep::kStepped;
    }
    if (c == '"' && f.esc == 0 && f.utf8_left == 0)
        return LeafStep::kLeaves;
    return feed_string_content(f, c) ? LeafStep::kStepped : LeafStep::kRefused;
}

// One byte of string content (anything but the closing quote). A key reads its object, the
// frame just below `f`.
bool JsonMatcher::feed_string_content(Frame& f, uint8_t c) const {
    const Node& n = graph_.node(f.node);
    const bool has_room = f.is_key || n.max_length < 0 || f.count < n.max_length;
    if (f.esc == 1) {
        static constexpr char kFrom[] = "\"\\/bfnrt";
        static constexpr char kTo[] = "\"\\/\b\f\n\r\t";
        if (c == 'u') {
            // \u escapes are matched only where no name trie restricts the content: a trie walk
            // through hex digits could strand the model on a code point no name continues with.
            f.esc = 2;
            f.code = 0;
            if (f.dfa >= 0)
                f.dfa = -2;  // a walk through hex digits could strand the DFA: the validator checks
            return !is_trie_bound(f);
        }
        for (int i = 0; i < 8; ++i) {
            if (c == static_cast<uint8_t>(kFrom[i])) {
                f.esc = 0;
                ++f.count;
                return has_room && feed_name_byte(f, static_cast<uint8_t>(kTo[i]));
            }
        }
        return false;
    }
    if (f.esc >= 2) {
        const int h = hex_value(c);
        if (h < 0)
            return false;
        f.code = f.code * 16 + static_cast<uint32_t>(h);
        if (++f.esc < 6)
            return true;
        f.esc = 0;
        const uint32_t cp = f.code;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return f.aux < 0 && (f.is_key || !n.has_string_enum) ? true : false;
        ++f.count;  // a surrogate pair counts once: at its high half
        if (!has_room)
            return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            // The name tries hold UTF-8; a pair is matched only off the trie.
            if (f.is_key) {
                f.aux = -1;
                return n.additional < 0 || graph_.node(n.additional).is_sat;
            }
            f.pat_len = f.pat_len >= 0 ? -2 : f.pat_len;  // the pattern sees UTF-8; left to the validator
            return !n.has_string_enum;
        }
        uint8_t buf[3];
        int k = 0;
        if (cp < 0x80) {
            buf[k++] = static_cast<uint8_t>(cp);
        } else if (cp < 0x800) {
            buf[k++] = static_cast<uint8_t>(0xC0 | (cp >> 6));
            buf[k++] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
        } else {
            buf[k++] = static_cast<uint8_t>(0xE0 | (cp >> 12));
            buf[k++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
            buf[k++] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
        }
        for (int i = 0; i < k; ++i) {
            if (!feed_name_byte(f, buf[i]))
                return false;
        }
        return true;
    }
    if (f.utf8_left > 0) {
        if (c < 0x80 || c > 0xBF)
            return false;
        --f.utf8_left;
        return feed_name_byte(f, c);
    }
    if (c == '\\') {
        f.esc = 1;
        if (!has_room)
            return false;
        if (!is_trie_bound(f))
            return true;
        for (uint8_t d : {'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'}) {
            // In place, then undone: a key's check reads the object frame just below `f`.
            const int32_t aux = f.aux;
            const int16_t pat_len = f.pat_len;
            const int32_t dfa = f.dfa;
            const bool is_ok = feed_name_byte(f, d);
            f.aux = aux;
            f.pat_len = pat_len;
            f.dfa = dfa;
            if (is_ok)
                return true;
        }
        return false;
    }
    if (c < 0x20)
        return false;
    if (c >= 0x80) {
        if (c < 0xC2 || c > 0xF4)
            return false;
        f.utf8_left = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    }
    if (!has_room)
        return false;
    ++f.count;
    return feed_name_byte(f, c);
}

bool JsonMatcher::is_complete(const MatcherState& s) const {
    for (size_t i = 0; i < s.n_stacks(); ++i) {
        const Frame* b = s.frames.data() + s.starts[i];
        const size_t len = s.starts[i + 1] - s.starts[i];
        if (len == 1 && ((b[0].phase == kRootAfter && options_.suffix.empty()) || b[0].phase == kRootDone))
            return true;
        if (len == 2 && options_.suffix.empty() && b[1].kind == FrameKind::kNumber && b[1].num.is_terminal()
            && b[1].num.is_in_bounds(graph_.node(b[1].node))) {
            return true;
        }
    }
    return false;
}

JsonMatcher::FreeString JsonMatcher::free_string(const MatcherState& s, size_t stack) const {
    const Frame& f = s.frames[s.starts[stack + 1] - 1];
    FreeString r;
    if (f.kind != FrameKind::kString || f.esc != 0 || f.utf8_left != 0)
        return r;
    const Node& n = graph_.node(f.node);
    // A key of an object that takes other keys may hold any content (only its closing quote is
    // checked, for duplicates); a value string is free without an enum or a per-byte pattern.
    if (f.is_key ? !(n.additional < 0 || graph_.node(n.additional).is_sat)
                 : n.has_string_enum || (f.pat_len >= 0 && f.is_anchored)) {
        return r;
    }
    r.is_free = true;
    r.room = f.is_key || n.max_length < 0 ? -1 : n.max_length - f.count;
    if (f.dfa >= 0) {
        r.dfa = n.pattern_dfa.get();
        r.dfa_state = f.dfa;
    }
    return r;
}

}  // namespace gannet::constrain
