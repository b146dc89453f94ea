#include "constrain/gbnf.h"

#include <algorithm>
#include <map>
#include <string>

#include "base/status.h"

namespace gannet::constrain {
namespace {

constexpr size_t kMaxElements = 100000;
constexpr size_t kMaxStacks = 4096;
constexpr int32_t kMaxRepeat = 1000;

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

struct Sym {
    bool is_ref = false;
    int32_t rule = -1;
    bool is_negated = false;
    Ranges ranges;
};
using Seq = std::vector<Sym>;

struct RuleDef {
    std::string name;
    std::vector<Seq> alts;
    bool is_defined = false;
};

Sym ref(int32_t rule) {
    Sym s;
    s.is_ref = true;
    s.rule = rule;
    return s;
}

Ranges normalize(Ranges r) {
    std::sort(r.begin(), r.end());
    Ranges out;
    for (const auto& [lo, hi] : r) {
        if (!out.empty() && lo <= out.back().second + 1) {
            out.back().second = std::max(out.back().second, hi);
        } else {
            out.emplace_back(lo, hi);
        }
    }
    return out;
}

}  // namespace

// Text → rules of symbol sequences (repetitions and groups become fresh rules) → flat elements.
class GbnfBuilder {
public:
    explicit GbnfBuilder(std::string_view t) : t_(t) {}

    Result<Gbnf> build() {
        GANNET_RETURN_IF_ERROR(parse_all());
        return finish();
    }

private:
    Status error(const char* what) const {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < pos_ && i < t_.size(); ++i) {
            col = t_[i] == '\n' ? 1 : col + 1;
            line += t_[i] == '\n';
        }
        return make_error(ErrorCode::kInvalidArgument, "gbnf: %s at line %zu column %zu", what, line, col);
    }
    bool at_end() const { return pos_ >= t_.size(); }
    char peek() const { return at_end() ? '\0' : t_[pos_]; }
    static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }
    void skip_space(bool is_newline_ok) {
        while (!at_end()) {
            const char c = peek();
            if (c == ' ' || c == '\t' || c == '\r') {
                ++pos_;
            } else if (c == '#') {
                while (!at_end() && peek() != '\n')
                    ++pos_;
            } else if (c == '\n' && is_newline_ok) {
                ++pos_;
            } else {
                break;
            }
        }
    }
    int32_t rule_id(const std::string& name) {
        auto [it, is_new] = by_name_.emplace(name, static_cast<int32_t>(rules_.size()));
        if (is_new)
            rules_.push_back({.name = name, .alts = {}, .is_defined = false});
        return it->second;
    }
    int32_t fresh_rule(std::vector<Seq> alts) {
        rules_.push_back({.name = "", .alts = std::move(alts), .is_defined = true});
        return static_cast<int32_t>(rules_.size() - 1);
    }

    Status parse_all() {
        skip_space(/*is_newline_ok=*/true);
        while (!at_end()) {
            const size_t start = pos_;
            while (!at_end() && is_name_char(peek()))
                ++pos_;
            if (pos_ == start)
                return error("expected a rule name");
            const std::string name(t_.substr(start, pos_ - start));
            skip_space(/*is_newline_ok=*/false);
            if (t_.substr(pos_, 3) != "::=")
                return error("expected '::='");
            pos_ += 3;
            skip_space(/*is_newline_ok=*/true);
            std::vector<Seq> alts;
            GANNET_RETURN_IF_ERROR(parse_alternates(alts, /*is_nested=*/false));
            const int32_t id = rule_id(name);
            if (rules_[static_cast<size_t>(id)].is_defined) {
                return make_error(ErrorCode::kInvalidArgument, "gbnf: rule '%s' is defined twice", name.c_str());
            }
            rules_[static_cast<size_t>(id)].alts = std::move(alts);
            rules_[static_cast<size_t>(id)].is_defined = true;
            skip_space(/*is_newline_ok=*/true);
        }
        return Status();
    }
    Status parse_alternates(std::vector<Seq>& alts, bool is_nested) {
        alts.emplace_back();
        GANNET_RETURN_IF_ERROR(parse_sequence(alts.back(), is_nested));
        while (peek() == '|') {
            ++pos_;
            skip_space(/*is_newline_ok=*/true);
            alts.emplace_back();
            GANNET_RETURN_IF_ERROR(parse_sequence(alts.back(), is_nested));
        }
        return Status();
    }
    Status parse_sequence(Seq& seq, bool is_nested) {
        while (true) {
            skip_space(is_nested);
            const char c = peek();
            if (at_end() || c == '|' || c == ')' || c == '\n')
                return Status();
            const size_t item_start = seq.size();
            GANNET_RETURN_IF_ERROR(parse_item(seq));
            GANNET_RETURN_IF_ERROR(parse_postfix(seq, item_start));
        }
    }
    Status parse_item(Seq& seq) {
        const char c = peek();
        if (c == '"') {
            ++pos_;
            while (peek() != '"') {
                if (at_end())
                    return error("unterminated literal");
                GANNET_ASSIGN_OR_RETURN(uint32_t cp, parse_char());
                Sym s;
                s.ranges = {{cp, cp}};
                seq.push_back(std::move(s));
            }
            ++pos_;
            return Status();
        }
        if (c == '[')
            return parse_class(seq);
        if (c == '.') {
            ++pos_;
            Sym any;
            any.is_negated = true;  // outside no range: any code point
            seq.push_back(std::move(any));
            return Status();
        }
        if (c == '(') {
            ++pos_;
            skip_space(/*is_newline_ok=*/true);
            std::vector<Seq> alts;
            GANNET_RETURN_IF_ERROR(parse_alternates(alts, /*is_nested=*/true));
            if (peek() != ')')
                return error("expected ')'");
            ++pos_;
            seq.push_back(ref(fresh_rule(std::move(alts))));
            return Status();
        }
        if (is_name_char(c)) {
            const size_t start = pos_;
            while (!at_end() && is_name_char(peek()))
                ++pos_;
            seq.push_back(ref(rule_id(std::string(t_.substr(start, pos_ - start)))));
            return Status();
        }
        return error("unexpected character");
    }
    Result<uint32_t> hex(size_t n) {
        uint32_t v = 0;
        for (size_t i = 0; i < n; ++i) {
            const char c = peek();
            const int d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
            if (d < 0)
                return error("bad hex escape");
            v = v * 16 + static_cast<uint32_t>(d);
            ++pos_;
        }
        if (v > 0x10FFFF)
            return error("code point above U+10FFFF");
        return v;
    }
    // One character of a literal or class: an escape or a UTF-8 code point.
    Result<uint32_t> parse_char() {
        const auto c = static_cast<uint8_t>(t_[pos_++]);
        if (c == '\\') {
            if (at_end())
                return error("'\\' at the end");
            const char e = t_[pos_++];
            switch (e) {
                case 'n': return uint32_t{'\n'};
                case 'r': return uint32_t{'\r'};
                case 't': return uint32_t{'\t'};
                case 'x': return hex(2);
                case 'u': return hex(4);
                case 'U': return hex(8);
                case '\\':
                case '"':
                case '[':
                case ']':
                case '-':
                case '/': return static_cast<uint32_t>(e);
                default: return error("unknown escape");
            }
        }
        if (c < 0x80)
            return uint32_t{c};
        const int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
        uint32_t cp = c & (0x3F >> n);
        for (int i = 0; i < n; ++i) {
            if (at_end() || (static_cast<uint8_t>(peek()) & 0xC0) != 0x80)
                return error("bad UTF-8");
            cp = (cp << 6) | (static_cast<uint8_t>(t_[pos_++]) & 0x3F);
        }
        return cp;
    }
    Status parse_class(Seq& seq) {
        ++pos_;
        Sym s;
        if (peek() == '^') {
            s.is_negated = true;
            ++pos_;
        }
        while (peek() != ']') {
            if (at_end())
                return error("unterminated character class");
            GANNET_ASSIGN_OR_RETURN(uint32_t lo, parse_char());
            uint32_t hi = lo;
            if (peek() == '-' && pos_ + 1 < t_.size() && t_[pos_ + 1] != ']') {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(hi, parse_char());
                if (hi < lo)
                    return error("range out of order");
            }
            s.ranges.emplace_back(lo, hi);
        }
        ++pos_;
        s.ranges = normalize(std::move(s.ranges));
        seq.push_back(std::move(s));
        return Status();
    }
    Result<int32_t> count() {
        int32_t v = 0;
        const size_t start = pos_;
        while (peek() >= '0' && peek() <= '9') {
            v = v * 10 + (t_[pos_++] - '0');
            if (v > kMaxRepeat)
                return error("repeat count above 1000");
        }
        if (pos_ == start)
            return error("expected a count");
        return v;
    }
    // x* -> R ::= x R | ""; x+ -> x x*; x? -> R ::= x | ""; x{m,n} -> m copies, then nested optionals.
    Status parse_postfix(Seq& seq, size_t item_start) {
        const char c = peek();
        if (c != '*' && c != '+' && c != '?' && c != '{')
            return Status();
        ++pos_;
        int32_t lo = c == '+' ? 1 : 0, hi = c == '?' ? 1 : -1;
        if (c == '{') {
            skip_space(/*is_newline_ok=*/false);
            GANNET_ASSIGN_OR_RETURN(lo, count());
            hi = lo;
            skip_space(/*is_newline_ok=*/false);
            if (peek() == ',') {
                ++pos_;
                skip_space(/*is_newline_ok=*/false);
                hi = -1;
                if (peek() != '}') {
                    GANNET_ASSIGN_OR_RETURN(hi, count());
                }
            }
            skip_space(/*is_newline_ok=*/false);
            if (peek() != '}')
                return error("expected '}'");
            ++pos_;
            if (hi >= 0 && hi < lo)
                return error("{m,n} with n < m");
        }
        const Seq x(seq.begin() + static_cast<std::ptrdiff_t>(item_start), seq.end());
        seq.resize(item_start);
        for (int32_t i = 0; i < lo; ++i) {
            seq.insert(seq.end(), x.begin(), x.end());
            if (seq.size() > kMaxElements)
                return make_error(ErrorCode::kResourceExhausted, "gbnf: more than %zu elements", kMaxElements);
        }
        if (hi < 0) {
            const int32_t star = fresh_rule({});
            Seq loop = x;
            loop.push_back(ref(star));
            rules_[static_cast<size_t>(star)].alts = {loop, Seq{}};
            seq.push_back(ref(star));
        } else if (hi > lo) {
            int32_t inner = -1;
            for (int32_t i = lo; i < hi; ++i) {
                Seq more = x;
                if (inner >= 0)
                    more.push_back(ref(inner));
                inner = fresh_rule({more, Seq{}});
            }
            seq.push_back(ref(inner));
        }
        return Status();
    }

    Result<Gbnf> finish();
    Status check_left_recursion() const;

    std::string_view t_;
    size_t pos_ = 0;
    std::vector<RuleDef> rules_;
    std::map<std::string, int32_t> by_name_;
};

// Left recursion would make expansion loop forever: a rule reachable from itself through the
// first symbols of alternatives (past symbols that can match nothing) is refused.
Status GbnfBuilder::check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<uint8_t> nullable(n, 0);
    for (bool is_changed = true; is_changed;) {
        is_changed = false;
        for (size_t r = 0; r < n; ++r) {
            if (nullable[r])
                continue;
            for (const Seq& alt : rules_[r].alts) {
                if (std::all_of(alt.begin(), alt.end(),
                                [&](const Sym& s) { return s.is_ref && nullable[static_cast<size_t>(s.rule)]; })) {
                    nullable[r] = 1;
                    is_changed = true;
                    break;
                }
            }
        }
    }
    std::vector<std::vector<int32_t>> left(n);
    for (size_t r = 0; r < n; ++r) {
        for (const Seq& alt : rules_[r].alts) {
            for (const Sym& s : alt) {
                if (!s.is_ref)
                    break;
                left[r].push_back(s.rule);
                if (!nullable[static_cast<size_t>(s.rule)])
                    break;
            }
        }
    }
    std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
    for (size_t start = 0; start < n; ++start) {
        std::vector<std::pair<int32_t, size_t>> path = {{static_cast<int32_t>(start), 0}};
        if (color[start])
            continue;
        color[start] = 1;
        while (!path.empty()) {
            auto& [r, i] = path.back();
            if (i == left[static_cast<size_t>(r)].size()) {
                color[static_cast<size_t>(r)] = 2;
                path.pop_back();
                continue;
            }
            const int32_t next = left[static_cast<size_t>(r)][i++];
            if (color[static_cast<size_t>(next)] == 1) {
                // Name the first named rule on the cycle (groups and repeats are anonymous).
                std::string name;
                for (const auto& [p, unused] : path) {
                    if (name.empty())
                        name = rules_[static_cast<size_t>(p)].name;
                }
                return make_error(ErrorCode::kInvalidArgument, "gbnf: rule '%s' is left-recursive",
                                  name.empty() ? rules_[static_cast<size_t>(next)].name.c_str() : name.c_str());
            }
            if (color[static_cast<size_t>(next)] == 0) {
                color[static_cast<size_t>(next)] = 1;
                path.emplace_back(next, 0);
            }
        }
    }
    return Status();
}

Result<Gbnf> GbnfBuilder::finish() {
    for (const RuleDef& r : rules_) {
        if (!r.is_defined)
            return make_error(ErrorCode::kInvalidArgument, "gbnf: rule '%s' is not defined", r.name.c_str());
    }
    auto root = by_name_.find("root");
    if (root == by_name_.end())
        return make_error(ErrorCode::kInvalidArgument, "gbnf: no rule 'root'");
    GANNET_RETURN_IF_ERROR(check_left_recursion());
    Gbnf g;
    g.root_ = root->second;
    g.rule_alts_.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
        for (const Seq& alt : rules_[r].alts) {
            g.rule_alts_[r].push_back(static_cast<int32_t>(g.elems_.size()));
            for (const Sym& s : alt) {
                Gbnf::Element e;
                e.kind = s.is_ref ? Gbnf::Element::kRef : Gbnf::Element::kChars;
                e.rule = s.rule;
                e.is_negated = s.is_negated;
                e.first_range = static_cast<int32_t>(g.ranges_.size());
                e.n_ranges = static_cast<int32_t>(s.ranges.size());
                g.ranges_.insert(g.ranges_.end(), s.ranges.begin(), s.ranges.end());
                g.elems_.push_back(e);
            }
            g.elems_.push_back(Gbnf::Element{});
            if (g.elems_.size() > kMaxElements)
                return make_error(ErrorCode::kResourceExhausted, "gbnf: more than %zu elements", kMaxElements);
        }
    }
    return g;
}

Result<Gbnf> Gbnf::parse(std::string_view text) {
    return GbnfBuilder(text).build();
}

// Pushes alternatives until every stack has a character class on top (or is empty: done).
void Gbnf::expand(std::vector<int32_t>& stack, std::vector<std::vector<int32_t>>& out, int depth) const {
    if (depth > 512 || out.size() > kMaxStacks)
        return;
    while (!stack.empty()) {
        const Element& e = elems_[static_cast<size_t>(stack.back())];
        if (e.kind == Element::kEnd) {
            stack.pop_back();
            continue;
        }
        if (e.kind == Element::kChars) {
            out.push_back(stack);
            return;
        }
        // The continuation replaces the reference; it is dropped when it ends its alternative, so
        // right recursion (every repetition) does not grow the stack.
        ++stack.back();
        if (elems_[static_cast<size_t>(stack.back())].kind == Element::kEnd)
            stack.pop_back();
        for (int32_t alt : rule_alts_[static_cast<size_t>(e.rule)]) {
            std::vector<int32_t> s = stack;
            s.push_back(alt);
            expand(s, out, depth + 1);
        }
        return;
    }
    out.push_back(stack);
}

bool Gbnf::matches(const Element& e, uint32_t lo, uint32_t hi) const {
    const auto* r = ranges_.data() + e.first_range;
    if (!e.is_negated) {
        for (int32_t i = 0; i < e.n_ranges; ++i) {
            if (r[i].first <= hi && r[i].second >= lo)
                return true;
        }
        return false;
    }
    uint32_t cur = lo;  // the lowest code point of [lo, hi] not yet known to be excluded
    for (int32_t i = 0; i < e.n_ranges && cur <= hi; ++i) {
        if (r[i].first > cur)
            return true;
        if (r[i].second >= cur)
            cur = r[i].second + 1;
    }
    return cur <= hi;
}

Gbnf::State Gbnf::initial() const {
    State s;
    for (int32_t alt : rule_alts_[static_cast<size_t>(root_)]) {
        std::vector<int32_t> st = {alt};
        expand(st, s.stacks, 0);
    }
    std::sort(s.stacks.begin(), s.stacks.end());
    s.stacks.erase(std::unique(s.stacks.begin(), s.stacks.end()), s.stacks.end());
    return s;
}

bool Gbnf::is_accepting(const State& s) {
    return s.cp_left == 0 && !s.stacks.empty() && s.stacks.front().empty();  // sorted: empty first
}

bool Gbnf::step(const State& in, uint8_t b, State& out) const {
    out.stacks.clear();
    out.cp = 0;
    out.cp_left = 0;
    out.cp_len = 0;
    uint32_t cp = 0;
    uint8_t left = 0, len = 1;
    if (in.cp_left == 0) {
        if (b < 0x80) {
            cp = b;
        } else if (b >= 0xC2 && b <= 0xDF) {
            cp = b & 0x1Fu, left = 1, len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            cp = b & 0x0Fu, left = 2, len = 3;
        } else if (b >= 0xF0 && b <= 0xF4) {
            cp = b & 0x07u, left = 3, len = 4;
        } else {
            return false;
        }
    } else {
        if ((b & 0xC0) != 0x80)
            return false;
        cp = (in.cp << 6) | (b & 0x3Fu);
        left = static_cast<uint8_t>(in.cp_left - 1);
        len = in.cp_len;
    }
    // Overlong forms are refused: a 3-byte character is at least U+0800.
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0;
    if (left > 0) {
        // The code points this prefix can still become: keep the parses whose class meets one.
        const uint32_t lo = std::max(cp << (6 * left), min_cp);
        const uint32_t hi = std::min(((cp + 1) << (6 * left)) - 1, uint32_t{0x10FFFF});
        for (const auto& st : in.stacks) {
            if (lo <= hi && !st.empty() && matches(elems_[static_cast<size_t>(st.back())], lo, hi))
                out.stacks.push_back(st);
        }
        out.cp = cp;
        out.cp_left = left;
        out.cp_len = len;
        return !out.stacks.empty();
    }
    if (cp < min_cp || (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    for (const auto& st : in.stacks) {
        if (st.empty() || !matches(elems_[static_cast<size_t>(st.back())], cp, cp))
            continue;
        std::vector<int32_t> next = st;
        ++next.back();
        expand(next, out.stacks, 0);
        if (out.stacks.size() > kMaxStacks)
            return false;
    }
    std::sort(out.stacks.begin(), out.stacks.end());
    out.stacks.erase(std::unique(out.stacks.begin(), out.stacks.end()), out.stacks.end());
    return !out.stacks.empty();
}

}  // namespace gannet::constrain
