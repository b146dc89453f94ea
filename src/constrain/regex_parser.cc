#include "constrain/regex_parser.h"

#include <algorithm>
#include <cctype>

#include "base/status.h"

namespace gannet::constrain::regex {
namespace {

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

Ranges complement(const Ranges& r) {
    Ranges out;
    uint32_t next = 0;
    for (const auto& [lo, hi] : r) {
        if (lo > next)
            out.emplace_back(next, lo - 1);
        next = hi + 1;
    }
    if (next <= kMaxCodePoint)
        out.emplace_back(next, kMaxCodePoint);
    Ranges no_surrogates;
    for (const auto& [lo, hi] : out) {
        if (hi < 0xD800 || lo > 0xDFFF) {
            no_surrogates.emplace_back(lo, hi);
            continue;
        }
        if (lo < 0xD800)
            no_surrogates.emplace_back(lo, 0xD7FF);
        if (hi > 0xDFFF)
            no_surrogates.emplace_back(0xE000, hi);
    }
    return no_surrogates;
}

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
// ECMA-262 WhiteSpace and LineTerminator.
extern const Ranges kSpace;
const Ranges kSpace = {{0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
                       {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const Ranges kLineTerminators = {{0x0A, 0x0A}, {0x0D, 0x0D}, {0x2028, 0x2029}};

namespace {

class Parser {
public:
    explicit Parser(std::string_view p) : p_(p) {}
    Result<int32_t> parse() {
        GANNET_ASSIGN_OR_RETURN(int32_t root, parse_alt(0));
        if (pos_ < p_.size())
            return error("unbalanced ')'");
        return root;
    }
    std::vector<Ast> nodes;

private:
    Status error(const char* what) const {
        return make_error(ErrorCode::kInvalidArgument, "regex: %s at offset %zu", what, pos_);
    }
    Status unsupported(const char* what) const {
        return make_error(ErrorCode::kUnimplemented, "regex: %s (offset %zu) is not a regular construct", what, pos_);
    }
    int32_t add(Ast a) {
        nodes.push_back(std::move(a));
        return static_cast<int32_t>(nodes.size() - 1);
    }
    bool at_end() const { return pos_ >= p_.size(); }
    char peek() const { return p_[pos_]; }
    // One UTF-8 code point of the pattern text.
    uint32_t next_code_point() {
        const auto c = static_cast<uint8_t>(p_[pos_++]);
        if (c < 0x80)
            return c;
        const int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
        uint32_t cp = c & (0x3F >> n);
        for (int i = 0; i < n && pos_ < p_.size(); ++i)
            cp = (cp << 6) | (static_cast<uint8_t>(p_[pos_++]) & 0x3F);
        return cp;
    }
    Result<uint32_t> hex(size_t n) {
        uint32_t v = 0;
        for (size_t i = 0; i < n; ++i) {
            if (at_end() || !std::isxdigit(static_cast<unsigned char>(peek())))
                return error("bad hex escape");
            const char c = p_[pos_++];
            v = v * 16
                + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        return v;
    }

    Result<int32_t> parse_alt(int depth) {
        if (depth > 200)
            return error("nesting too deep");
        Ast alt = Ast::of(Ast::kAlt);
        while (true) {
            GANNET_ASSIGN_OR_RETURN(int32_t c, parse_concat(depth));
            alt.kids.push_back(c);
            if (at_end() || peek() != '|')
                break;
            ++pos_;
        }
        return alt.kids.size() == 1 ? alt.kids[0] : add(std::move(alt));
    }
    Result<int32_t> parse_concat(int depth) {
        Ast cat = Ast::of(Ast::kConcat);
        while (!at_end() && peek() != '|' && peek() != ')') {
            GANNET_ASSIGN_OR_RETURN(int32_t a, parse_atom(depth));
            GANNET_ASSIGN_OR_RETURN(a, parse_quantifiers(a));
            cat.kids.push_back(a);
        }
        return add(std::move(cat));
    }
    Result<int32_t> parse_quantifiers(int32_t atom) {
        while (!at_end()) {
            int32_t lo = 0, hi = -1;
            const char c = peek();
            if (c == '*' || c == '+' || c == '?') {
                ++pos_;
                lo = c == '+' ? 1 : 0;
                hi = c == '?' ? 1 : -1;
            } else if (c == '{' && is_quantifier_brace()) {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(lo, number());
                hi = lo;
                if (!at_end() && peek() == ',') {
                    ++pos_;
                    hi = -1;
                    if (!at_end() && peek() != '}') {
                        GANNET_ASSIGN_OR_RETURN(hi, number());
                    }
                }
                if (at_end() || peek() != '}')
                    return error("bad {n,m} quantifier");
                ++pos_;
                if (hi >= 0 && hi < lo)
                    return error("{n,m} with m < n");
            } else {
                break;
            }
            const Ast::Kind k = nodes[static_cast<size_t>(atom)].kind;
            if (k == Ast::kBegin || k == Ast::kEnd)
                return error("nothing to repeat");
            if (!at_end() && peek() == '?')
                ++pos_;  // lazy: the same language
            Ast rep = Ast::of(Ast::kRepeat);
            rep.kids = {atom};
            rep.min = lo;
            rep.max = hi;
            atom = add(std::move(rep));
        }
        return atom;
    }
    // '{' starts a quantifier only as {n}, {n,} or {n,m}; otherwise it is a literal brace (Annex
    // B, which the validator's translation accepts too).
    bool is_quantifier_brace() const {
        size_t i = pos_ + 1;
        const size_t digits = i;
        while (i < p_.size() && std::isdigit(static_cast<unsigned char>(p_[i])))
            ++i;
        if (i == digits)
            return false;
        if (i < p_.size() && p_[i] == ',') {
            ++i;
            while (i < p_.size() && std::isdigit(static_cast<unsigned char>(p_[i])))
                ++i;
        }
        return i < p_.size() && p_[i] == '}';
    }
    Result<int32_t> number() {
        int64_t v = 0;
        const size_t start = pos_;
        while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
            v = v * 10 + (p_[pos_++] - '0');
            if (v > 1000)
                return make_error(ErrorCode::kResourceExhausted, "regex: repeat count above 1000 at offset %zu", start);
        }
        if (pos_ == start)
            return error("bad {n,m} quantifier");
        return static_cast<int32_t>(v);
    }
    Result<int32_t> parse_atom(int depth) {
        const char c = peek();
        switch (c) {
            case '(': {
                ++pos_;
                if (!at_end() && peek() == '?') {
                    ++pos_;
                    if (at_end())
                        return error("bad group");
                    if (peek() == ':') {
                        ++pos_;
                    } else if (peek() == '<' && pos_ + 1 < p_.size() && p_[pos_ + 1] != '=' && p_[pos_ + 1] != '!') {
                        const size_t close = p_.find('>', pos_);
                        if (close == std::string_view::npos)
                            return error("bad group name");
                        pos_ = close + 1;
                    } else {
                        return unsupported("a lookaround");
                    }
                }
                GANNET_ASSIGN_OR_RETURN(int32_t inner, parse_alt(depth + 1));
                if (at_end() || peek() != ')')
                    return error("missing ')'");
                ++pos_;
                return inner;
            }
            case ')': return error("unbalanced ')'");
            case '*':
            case '+':
            case '?': return error("nothing to repeat");
            case '{':
                if (is_quantifier_brace())
                    return error("nothing to repeat");
                ++pos_;
                return add(Ast::of_set({{'{', '{'}}));
            case '}':
            case ']': ++pos_; return add(Ast::of_set({{static_cast<uint32_t>(c), static_cast<uint32_t>(c)}}));
            case '[': return parse_class();
            case '.': ++pos_; return add(Ast::of_set(complement(kLineTerminators)));
            case '^': ++pos_; return add(Ast::of(Ast::kBegin));
            case '$': ++pos_; return add(Ast::of(Ast::kEnd));
            case '\\': {
                Ranges set;
                GANNET_RETURN_IF_ERROR(parse_escape(/*in_class=*/false, set));
                return add(Ast::of_set(normalize(std::move(set))));
            }
            default: {
                const uint32_t cp = next_code_point();
                return add(Ast::of_set({{cp, cp}}));
            }
        }
    }
    // After '\': appends the escape's code points to `set`.
    Status parse_escape(bool in_class, Ranges& set) {
        ++pos_;
        if (at_end())
            return error("'\\' at the end");
        const char c = p_[pos_++];
        auto one = [&](uint32_t cp) {
            set.emplace_back(cp, cp);
            return Status();
        };
        auto many = [&](const Ranges& r) {
            set.insert(set.end(), r.begin(), r.end());
            return Status();
        };
        switch (c) {
            case 'd': return many(kDigit);
            case 'D': return many(complement(kDigit));
            case 'w': return many(kWord);
            case 'W': return many(complement(kWord));
            case 's': return many(kSpace);
            case 'S': return many(complement(kSpace));
            case 't': return one('\t');
            case 'n': return one('\n');
            case 'r': return one('\r');
            case 'v': return one('\v');
            case 'f': return one('\f');
            case '0':
                if (!at_end() && std::isdigit(static_cast<unsigned char>(peek())))
                    return error("octal escape");
                return one(0);
            case 'b':
                if (in_class)
                    return one('\b');
                return unsupported("\\b");
            case 'B': return unsupported("\\B");
            case 'c':
                if (at_end() || !std::isalpha(static_cast<unsigned char>(peek())))
                    return error("bad \\c escape");
                return one(static_cast<uint32_t>(p_[pos_++]) % 32);
            case 'x': {
                GANNET_ASSIGN_OR_RETURN(uint32_t v, hex(2));
                return one(v);
            }
            case 'u': return parse_unicode_escape(set);
            case 'p':
            case 'P': return unsupported("a \\p property");
            case 'k': return unsupported("a named backreference");
            case '-':
                if (in_class)
                    return one('-');
                return error("bad escape \\-");
            default:
                if (c >= '1' && c <= '9')
                    return unsupported("a backreference");
                if (std::string_view("^$\\.*+?()[]{}|/").find(c) != std::string_view::npos)
                    return one(static_cast<uint8_t>(c));
                return error("bad identity escape");
        }
    }
    Status parse_unicode_escape(Ranges& set) {
        uint32_t cp = 0;
        if (!at_end() && peek() == '{') {
            ++pos_;
            const size_t close = p_.find('}', pos_);
            if (close == std::string_view::npos || close == pos_ || close - pos_ > 6)
                return error("bad \\u{...} escape");
            GANNET_ASSIGN_OR_RETURN(cp, hex(close - pos_));
            ++pos_;
        } else {
            GANNET_ASSIGN_OR_RETURN(cp, hex(4));
            // A surrogate pair written as two escapes is one code point.
            if (cp >= 0xD800 && cp <= 0xDBFF && p_.substr(pos_, 2) == "\\u") {
                const size_t save = pos_;
                pos_ += 2;
                auto lo = hex(4);
                if (lo.has_value() && *lo >= 0xDC00 && *lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (*lo - 0xDC00);
                } else {
                    pos_ = save;
                }
            }
        }
        if (cp > kMaxCodePoint)
            return error("code point above U+10FFFF");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return unsupported("a lone surrogate");
        set.emplace_back(cp, cp);
        return Status();
    }
    // One class atom: a code point (returned) or a set escape (appended, returns -1).
    Result<int64_t> class_atom(Ranges& set) {
        if (peek() != '\\')
            return static_cast<int64_t>(next_code_point());
        Ranges one;
        GANNET_RETURN_IF_ERROR(parse_escape(/*in_class=*/true, one));
        if (one.size() == 1 && one[0].first == one[0].second)
            return static_cast<int64_t>(one[0].first);
        set.insert(set.end(), one.begin(), one.end());
        return int64_t{-1};
    }
    Result<int32_t> parse_class() {
        ++pos_;
        bool is_negated = false;
        if (!at_end() && peek() == '^') {
            is_negated = true;
            ++pos_;
        }
        Ranges set;
        while (true) {
            if (at_end())
                return error("missing ']'");
            if (peek() == ']') {
                ++pos_;
                break;
            }
            GANNET_ASSIGN_OR_RETURN(int64_t lo, class_atom(set));
            if (pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
                ++pos_;
                GANNET_ASSIGN_OR_RETURN(int64_t hi, class_atom(set));
                if (lo < 0 || hi < 0)
                    return error("class escape in a range");
                if (hi < lo)
                    return error("range out of order");
                set.emplace_back(static_cast<uint32_t>(lo), static_cast<uint32_t>(hi));
            } else if (lo >= 0) {
                set.emplace_back(static_cast<uint32_t>(lo), static_cast<uint32_t>(lo));
            }
        }
        set = normalize(std::move(set));
        return add(Ast::of_set(is_negated ? complement(set) : set));
    }

    std::string_view p_;
    size_t pos_ = 0;
};

}  // namespace

Result<int32_t> parse(std::string_view pattern, std::vector<Ast>& nodes) {
    Parser p(pattern);
    GANNET_ASSIGN_OR_RETURN(int32_t root, p.parse());
    nodes = std::move(p.nodes);
    return root;
}

}  // namespace gannet::constrain::regex
