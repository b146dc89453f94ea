#include "constrain/regex_dfa.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "base/status.h"
#include "constrain/regex_parser.h"

namespace gannet::constrain {
namespace {

using regex::Ast;
using regex::complement;
using regex::kMaxCodePoint;
using regex::kSpace;
using regex::Ranges;

constexpr size_t kMaxDeterminizeWork = size_t{1} << 20;  // with kMaxNfaStates: about 10 ms
constexpr size_t kMaxNfaStates = 10000;                  // bounds compile time (about 10 ms)

}  // namespace

// Thompson NFA over bytes, then subset construction.
class DfaBuilder {
public:
    struct NfaState {
        uint8_t lo = 0, hi = 0;  // byte range (kByte)
        enum Kind : uint8_t { kByte, kSplit, kMatch } kind = kByte;
        std::vector<int32_t> outs;

        static NfaState of(Kind k, std::vector<int32_t> outs = {}) {
            NfaState n;
            n.kind = k;
            n.outs = std::move(outs);
            return n;
        }
    };
    explicit DfaBuilder(const std::vector<Ast>& ast) : ast_(ast) {}

    Result<int32_t> compile(int32_t node, int32_t next);
    int32_t add(NfaState s) {
        nfa_.push_back(std::move(s));
        return static_cast<int32_t>(nfa_.size() - 1);
    }
    Result<int32_t> compile_set(const Ranges& set, int32_t next);
    Result<RegexDfa> determinize(int32_t start, int32_t max_states);

    const std::vector<Ast>& ast_;
    std::vector<NfaState> nfa_;

private:
    void closure(std::vector<int32_t>& set);
    std::vector<uint32_t> seen_;  // closure(): stamp_ marks the states visited
    uint32_t stamp_ = 0;
    std::vector<int32_t> stack_;
    static void mark_universal(RegexDfa& d);
};

namespace {

// UTF-8 byte-range sequences covering [lo, hi] exactly (no surrogates inside).
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
    static constexpr uint32_t kMaxOfLen[3] = {0x7F, 0x7FF, 0xFFFF};
    for (uint32_t m : kMaxOfLen) {
        if (lo <= m && hi > m) {
            utf8_sequences(lo, m, out);
            utf8_sequences(m + 1, hi, out);
            return;
        }
    }
    if (hi < 0x80) {
        out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
        return;
    }
    for (int i = 1; i < 4; ++i) {
        const uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) {
                utf8_sequences(lo, lo | m, out);
                utf8_sequences((lo | m) + 1, hi, out);
                return;
            }
            if ((hi & m) != m) {
                utf8_sequences(lo, (hi & ~m) - 1, out);
                utf8_sequences(hi & ~m, hi, out);
                return;
            }
        }
    }
    auto encode = [](uint32_t cp, uint8_t* b) {
        if (cp < 0x800) {
            b[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
            b[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
            return 2;
        }
        if (cp < 0x10000) {
            b[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
            b[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
            b[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
            return 3;
        }
        b[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
        b[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
        b[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
        b[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
        return 4;
    };
    uint8_t a[4], b[4];
    const int n = encode(lo, a);
    encode(hi, b);
    std::vector<std::pair<uint8_t, uint8_t>> seq;
    for (int k = 0; k < n; ++k)
        seq.emplace_back(a[k], b[k]);
    out.push_back(std::move(seq));
}

// True when `set` holds every non-ASCII scalar value but perhaps the Unicode blanks (\s beyond
// ASCII): it is then encoded laxly, as any lead byte with its continuation bytes. That keeps the
// DFA small and lets states such as `.*` be universal; the price is that a U+2028 or U+00A0 where
// `.` or \S stands passes the per-byte check and is refused by the exact final validation.
bool is_lax(const Ranges& set) {
    Ranges wanted;
    for (const auto& [lo, hi] : complement(kSpace)) {
        if (hi >= 0x80)
            wanted.emplace_back(std::max<uint32_t>(lo, 0x80), hi);
    }
    size_t i = 0;
    for (const auto& [lo, hi] : wanted) {
        while (i < set.size() && set[i].second < lo)
            ++i;
        if (i == set.size() || set[i].first > lo || set[i].second < hi)
            return false;
    }
    return true;
}

}  // namespace

Result<int32_t> DfaBuilder::compile_set(const Ranges& set, int32_t next) {
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
    const bool is_lax_set = is_lax(set);
    for (const auto& [lo, hi] : set) {
        if (lo < 0x80)
            utf8_sequences(lo, std::min<uint32_t>(hi, 0x7F), seqs);
        if (hi >= 0x80 && !is_lax_set)
            utf8_sequences(std::max<uint32_t>(lo, 0x80), hi, seqs);
    }
    if (is_lax_set) {
        seqs.push_back({{0xC2, 0xDF}, {0x80, 0xBF}});
        seqs.push_back({{0xE0, 0xEF}, {0x80, 0xBF}, {0x80, 0xBF}});
        seqs.push_back({{0xF0, 0xF4}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}});
    }
    NfaState split = NfaState::of(NfaState::kSplit);
    for (const auto& seq : seqs) {
        int32_t s = next;
        for (size_t k = seq.size(); k-- > 0;) {
            NfaState byte = NfaState::of(NfaState::kByte, {s});
            byte.lo = seq[k].first;
            byte.hi = seq[k].second;
            s = add(std::move(byte));
        }
        split.outs.push_back(s);
    }
    if (nfa_.size() > kMaxNfaStates)
        return make_error(ErrorCode::kResourceExhausted, "regex: more than %zu NFA states", kMaxNfaStates);
    return add(std::move(split));
}

Result<int32_t> DfaBuilder::compile(int32_t node, int32_t next) {
    const Ast& a = ast_[static_cast<size_t>(node)];
    switch (a.kind) {
        case Ast::kSet: return compile_set(a.set, next);
        case Ast::kConcat:
            for (size_t k = a.kids.size(); k-- > 0;) {
                GANNET_ASSIGN_OR_RETURN(next, compile(a.kids[k], next));
            }
            return next;
        case Ast::kAlt: {
            NfaState split = NfaState::of(NfaState::kSplit);
            for (int32_t k : a.kids) {
                GANNET_ASSIGN_OR_RETURN(int32_t s, compile(k, next));
                split.outs.push_back(s);
            }
            return add(std::move(split));
        }
        case Ast::kRepeat: {
            int32_t cur = next;
            if (a.max < 0) {
                const int32_t loop = add(NfaState::of(NfaState::kSplit));
                GANNET_ASSIGN_OR_RETURN(int32_t body, compile(a.kids[0], loop));
                nfa_[static_cast<size_t>(loop)].outs = {body, next};
                cur = loop;
            } else {
                for (int32_t i = a.min; i < a.max; ++i) {
                    GANNET_ASSIGN_OR_RETURN(int32_t body, compile(a.kids[0], cur));
                    cur = add(NfaState::of(NfaState::kSplit, {body, next}));
                }
            }
            for (int32_t i = 0; i < a.min; ++i) {
                GANNET_ASSIGN_OR_RETURN(cur, compile(a.kids[0], cur));
            }
            if (nfa_.size() > kMaxNfaStates)
                return make_error(ErrorCode::kResourceExhausted, "regex: more than %zu NFA states", kMaxNfaStates);
            return cur;
        }
        case Ast::kBegin:
        case Ast::kEnd:
            return make_error(ErrorCode::kUnimplemented, "regex: ^ or $ inside the pattern is not a regular construct");
    }
    return next;
}

// Expands `set` (sorted NFA states) through split states; keeps byte and match states.
void DfaBuilder::closure(std::vector<int32_t>& set) {
    // Generation stamps instead of a cleared bitmap: a closure costs its own size, not the NFA's.
    if (seen_.size() != nfa_.size())
        seen_.assign(nfa_.size(), 0);
    ++stamp_;
    std::vector<int32_t>& stack = stack_;
    stack.assign(set.begin(), set.end());
    std::vector<int32_t> out;
    while (!stack.empty()) {
        const int32_t s = stack.back();
        stack.pop_back();
        if (seen_[static_cast<size_t>(s)] == stamp_)
            continue;
        seen_[static_cast<size_t>(s)] = stamp_;
        const NfaState& n = nfa_[static_cast<size_t>(s)];
        if (n.kind == NfaState::kSplit) {
            stack.insert(stack.end(), n.outs.begin(), n.outs.end());
        } else {
            out.push_back(s);
        }
    }
    std::sort(out.begin(), out.end());
    set.swap(out);
}

Result<RegexDfa> DfaBuilder::determinize(int32_t start, int32_t max_states) {
    // Byte classes: bytes no range boundary separates behave alike, so each DFA state computes
    // one successor per class instead of 256.
    std::vector<uint8_t> cut(257, 0);
    for (const NfaState& n : nfa_) {
        if (n.kind == NfaState::kByte) {
            cut[n.lo] = 1;
            cut[n.hi + 1u] = 1;
        }
    }
    std::vector<int32_t> class_of(256);
    std::vector<uint8_t> rep;  // a byte of each class
    for (int b = 0; b < 256; ++b) {
        if (b == 0 || cut[static_cast<size_t>(b)]) {
            rep.push_back(static_cast<uint8_t>(b));
        }
        class_of[static_cast<size_t>(b)] = static_cast<int32_t>(rep.size() - 1);
    }
    std::map<std::vector<int32_t>, int32_t> ids;
    std::vector<std::vector<int32_t>> sets;
    std::vector<std::vector<int32_t>> next;  // [state][class]
    std::vector<int32_t> first = {start};
    closure(first);
    ids.emplace(first, 0);
    sets.push_back(first);
    size_t work = 0;  // NFA states over all subsets built
    for (size_t i = 0; i < sets.size(); ++i) {
        next.emplace_back(rep.size(), RegexDfa::kDead);
        // Each byte state feeds the classes its range spans.
        std::vector<std::vector<int32_t>> by_class(rep.size());
        for (int32_t s : sets[i]) {
            const NfaState& n = nfa_[static_cast<size_t>(s)];
            if (n.kind != NfaState::kByte)
                continue;
            for (int32_t c = class_of[n.lo]; c <= class_of[n.hi]; ++c)
                by_class[static_cast<size_t>(c)].push_back(n.outs[0]);
        }
        for (size_t c = 0; c < rep.size(); ++c) {
            std::vector<int32_t>& to = by_class[c];
            if (to.empty())
                continue;
            closure(to);
            work += to.size();
            if (work > kMaxDeterminizeWork)
                return make_error(ErrorCode::kResourceExhausted, "regex: too costly to determinize");
            auto [it, is_new] = ids.emplace(to, static_cast<int32_t>(sets.size()));
            if (is_new) {
                if (static_cast<int32_t>(sets.size()) >= max_states)
                    return make_error(ErrorCode::kResourceExhausted, "regex: more than %d DFA states", max_states);
                sets.push_back(std::move(to));
            }
            next[i][c] = it->second;
        }
    }
    const size_t n = sets.size();
    std::vector<uint8_t> accepting(n, 0), live(n, 0);
    for (size_t i = 0; i < n; ++i) {
        for (int32_t s : sets[i])
            accepting[i] |= nfa_[static_cast<size_t>(s)].kind == NfaState::kMatch;
    }
    // Live: some path reaches an accepting state (a fixpoint over the reversed edges).
    live = accepting;
    for (bool is_changed = true; is_changed;) {
        is_changed = false;
        for (size_t i = 0; i < n; ++i) {
            if (live[i])
                continue;
            for (int32_t t : next[i]) {
                if (t >= 0 && live[static_cast<size_t>(t)]) {
                    live[i] = 1;
                    is_changed = true;
                    break;
                }
            }
        }
    }
    if (!live[0])
        return make_error(ErrorCode::kInvalidArgument, "regex: no string matches it");
    std::vector<int32_t> renum(n, RegexDfa::kDead);
    int32_t n_live = 0;
    for (size_t i = 0; i < n; ++i) {
        if (live[i])
            renum[i] = n_live++;
    }
    RegexDfa d;
    d.next_.assign(static_cast<size_t>(n_live) * 256, RegexDfa::kDead);
    d.flags_.assign(static_cast<size_t>(n_live), 0);
    for (size_t i = 0; i < n; ++i) {
        if (!live[i])
            continue;
        const auto r = static_cast<size_t>(renum[i]);
        d.flags_[r] = accepting[i] ? RegexDfa::kAccepting : 0;
        for (int b = 0; b < 256; ++b) {
            const int32_t t = next[i][static_cast<size_t>(class_of[static_cast<size_t>(b)])];
            d.next_[r * 256 + static_cast<size_t>(b)] = t >= 0 ? renum[static_cast<size_t>(t)] : RegexDfa::kDead;
        }
    }
    d.start_ = 0;
    mark_universal(d);
    return d;
}

// Universal states: a greatest fixpoint. A state's UTF-8 position (0 at a character boundary, k
// with k continuation bytes due) decides which bytes a plain token may bring next; every NFA path
// consumes whole characters, so all paths into a DFA state agree on it.
void DfaBuilder::mark_universal(RegexDfa& d) {
    const auto n = static_cast<size_t>(d.n_states());
    std::vector<int8_t> pos(n, -1);
    std::vector<int32_t> work = {0};
    pos[0] = 0;
    bool is_consistent = true;
    while (!work.empty()) {
        const int32_t s = work.back();
        work.pop_back();
        for (int b = 0; b < 256; ++b) {
            const int32_t t = d.step(s, static_cast<uint8_t>(b));
            if (t < 0)
                continue;
            const int8_t p = pos[static_cast<size_t>(s)];
            const int8_t q = p > 0 ? static_cast<int8_t>(p - 1) : b < 0x80 ? 0 : b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
            if (pos[static_cast<size_t>(t)] < 0) {
                pos[static_cast<size_t>(t)] = q;
                work.push_back(t);
            } else if (pos[static_cast<size_t>(t)] != q) {
                is_consistent = false;
            }
        }
    }
    if (!is_consistent)
        return;
    std::vector<uint8_t> in(n, 1);
    for (bool is_changed = true; is_changed;) {
        is_changed = false;
        for (size_t s = 0; s < n; ++s) {
            if (!in[s])
                continue;
            auto ok = [&](int b) {
                const int32_t t = d.step(static_cast<int32_t>(s), static_cast<uint8_t>(b));
                return t >= 0 && in[static_cast<size_t>(t)];
            };
            bool is_ok = true;
            if (pos[s] == 0) {
                for (int b = 0x20; b <= 0xF4 && is_ok; ++b) {
                    if (b == '"' || b == '\\' || (b >= 0x80 && b < 0xC2))
                        continue;
                    is_ok = ok(b);
                }
            } else {
                for (int b = 0x80; b <= 0xBF && is_ok; ++b)
                    is_ok = ok(b);
            }
            if (!is_ok) {
                in[s] = 0;
                is_changed = true;
            }
        }
    }
    for (size_t s = 0; s < n; ++s) {
        if (in[s])
            d.flags_[s] |= RegexDfa::kUniversal;
    }
}

namespace {

// The alternatives an anchor may start or end: through alternations and groups that are all of
// their concatenation, so `(^a$)|^b` anchors both.
void top_level_alternatives(const std::vector<Ast>& ast, int32_t node, std::vector<int32_t>& out) {
    const Ast& a = ast[static_cast<size_t>(node)];
    if (a.kind == Ast::kAlt) {
        for (int32_t k : a.kids)
            top_level_alternatives(ast, k, out);
    } else if (a.kind == Ast::kConcat && a.kids.size() == 1
               && (ast[static_cast<size_t>(a.kids[0])].kind == Ast::kConcat
                   || ast[static_cast<size_t>(a.kids[0])].kind == Ast::kAlt)) {
        top_level_alternatives(ast, a.kids[0], out);
    } else {
        out.push_back(node);
    }
}

// Splits off the anchors of a top-level alternative: a leading ^ and a trailing $.
void strip_anchors(std::vector<Ast>& ast, int32_t node, bool& is_start, bool& is_end) {
    Ast& a = ast[static_cast<size_t>(node)];
    if (a.kind != Ast::kConcat)
        return;
    if (!a.kids.empty() && ast[static_cast<size_t>(a.kids.front())].kind == Ast::kBegin) {
        is_start = true;
        a.kids.erase(a.kids.begin());
    }
    if (!a.kids.empty() && ast[static_cast<size_t>(a.kids.back())].kind == Ast::kEnd) {
        is_end = true;
        a.kids.pop_back();
    }
}

}  // namespace

Result<RegexDfa> RegexDfa::compile(std::string_view pattern, Mode mode, int32_t max_states) {
    std::vector<Ast> ast;
    GANNET_ASSIGN_OR_RETURN(int32_t root, regex::parse(pattern, ast));
    std::vector<int32_t> alts;
    top_level_alternatives(ast, root, alts);
    DfaBuilder b(ast);
    const int32_t match = b.add(DfaBuilder::NfaState::of(DfaBuilder::NfaState::kMatch));
    const Ranges any = complement({});
    // Search semantics: an alternative not anchored at an end may have anything on that side.
    const int32_t any_loop = b.add(DfaBuilder::NfaState::of(DfaBuilder::NfaState::kSplit));
    GANNET_ASSIGN_OR_RETURN(int32_t any_body, b.compile_set(any, any_loop));
    b.nfa_[static_cast<size_t>(any_loop)].outs = {any_body, match};
    DfaBuilder::NfaState top = DfaBuilder::NfaState::of(DfaBuilder::NfaState::kSplit);
    for (int32_t alt : alts) {
        bool is_start = mode == Mode::kFullMatch, is_end = mode == Mode::kFullMatch;
        strip_anchors(ast, alt, is_start, is_end);
        GANNET_ASSIGN_OR_RETURN(int32_t s, b.compile(alt, is_end ? match : any_loop));
        if (!is_start) {
            const int32_t lead = b.add(DfaBuilder::NfaState::of(DfaBuilder::NfaState::kSplit));
            GANNET_ASSIGN_OR_RETURN(int32_t body, b.compile_set(any, lead));
            b.nfa_[static_cast<size_t>(lead)].outs = {body, s};
            s = lead;
        }
        top.outs.push_back(s);
    }
    return b.determinize(b.add(std::move(top)), max_states);
}

}  // namespace gannet::constrain