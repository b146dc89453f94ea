#include "jsonschema/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace gannet::jsonschema {
namespace {

// Bounds on one match: PCRE2's defaults (10M backtracking steps) let a nested quantifier burn
// seconds; 1M steps is about 10 ms, far above what a sane pattern on a tool argument needs.
constexpr uint32_t kMatchLimit = 1000000;
constexpr uint32_t kDepthLimit = 10000;

// ECMA-262 WhiteSpace + LineTerminator, the set \s matches (ASCII-only in PCRE2 without UCP).
constexpr const char* kEcmaSpace =
    "\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";
// Its complement over all code points, for \S inside a character class.
constexpr const char* kEcmaNonSpace =
    "\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}"
    "\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}";

// Unicode general-category long names and aliases that ECMA accepts and PCRE2 10.42 does not.
struct PropertyAlias {
    const char* ecma;
    const char* pcre;
};
constexpr PropertyAlias kCategoryAliases[] = {
    {"Letter", "L"},
    {"Cased_Letter", "L&"},
    {"LC", "L&"},
    {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"},
    {"Other_Letter", "Lo"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"},
    {"Enclosing_Mark", "Me"},
    {"Number", "N"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Letter_Number", "Nl"},
    {"Other_Number", "No"},
    {"Punctuation", "P"},
    {"punct", "P"},
    {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"},
    {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"},
    {"Other_Punctuation", "Po"},
    {"Symbol", "S"},
    {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"},
    {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"},
    {"Paragraph_Separator", "Zp"},
    {"Other", "C"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Format", "Cf"},
    {"Surrogate", "Cs"},
    {"Private_Use", "Co"},
    {"Unassigned", "Cn"},
};

std::string translate_property(std::string_view name) {
    std::string_view value = name;
    const size_t eq = name.find('=');
    std::string prefix;
    if (eq != std::string_view::npos) {
        const std::string_view key = name.substr(0, eq);
        value = name.substr(eq + 1);
        if (key == "Script" || key == "sc") {
            prefix = "sc:";
        } else if (key == "Script_Extensions" || key == "scx") {
            prefix = "scx:";
        }
    }
    for (const PropertyAlias& a : kCategoryAliases) {
        if (value == a.ecma) {
            return prefix + a.pcre;
        }
    }
    return prefix + std::string(value);
}

void append_code_point(std::string& out, uint32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\x{%x}", cp);
    out += buf;
}

bool is_hex(std::string_view s) {
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return !s.empty();
}

// Parses \uXXXX (with a following low surrogate when XXXX is a high one) or \u{X...} at p[i] == 'u'.
// Returns the code point and advances i to the last consumed character.
bool parse_unicode_escape(std::string_view p, size_t& i, uint32_t& cp) {
    if (i + 1 < p.size() && p[i + 1] == '{') {
        const size_t close = p.find('}', i + 2);
        if (close == std::string_view::npos || !is_hex(p.substr(i + 2, close - i - 2)) || close - i - 2 > 6) {
            return false;
        }
        cp = static_cast<uint32_t>(std::stoul(std::string(p.substr(i + 2, close - i - 2)), nullptr, 16));
        i = close;
        return cp <= 0x10FFFF;
    }
    if (i + 4 >= p.size()) {
        return false;
    }
    if (!is_hex(p.substr(i + 1, 4))) {
        return false;
    }
    cp = static_cast<uint32_t>(std::stoul(std::string(p.substr(i + 1, 4)), nullptr, 16));
    i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < p.size() && p.substr(i + 1, 2) == "\\u" && is_hex(p.substr(i + 3, 4))) {
        const uint32_t lo = static_cast<uint32_t>(std::stoul(std::string(p.substr(i + 3, 4)), nullptr, 16));
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
    }
    return true;
}

Status bad(std::string_view pattern, const char* what) {
    return make_error(ErrorCode::kInvalidArgument, "regex: '%.*s' is not ECMA-262: %s",
                      static_cast<int>(pattern.size()), pattern.data(), what);
}

}  // namespace

Result<std::string> ecma_to_pcre2(std::string_view p) {
    std::string out;
    out.reserve(p.size() + 16);
    bool in_class = false;
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\') {
            if (i + 1 >= p.size()) {
                return bad(p, "trailing backslash");
            }
            const char e = p[++i];
            switch (e) {
                case 'd':
                case 'D':
                case 'w':
                case 'W':
                case 'b':
                case 'B':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                    // Without PCRE2_UCP these are ASCII-only, exactly as in ECMA-262.
                    out += '\\';
                    out += e;
                    break;
                case 'v': out += "\\x{0b}"; break;
                case 's': out += in_class ? kEcmaSpace : std::string("[") + kEcmaSpace + "]"; break;
                case 'S': out += in_class ? kEcmaNonSpace : std::string("[^") + kEcmaSpace + "]"; break;
                case '0':
                    if (i + 1 < p.size() && std::isdigit(static_cast<unsigned char>(p[i + 1]))) {
                        return bad(p, "octal escape");
                    }
                    out += "\\x{0}";
                    break;
                case 'c':
                    if (i + 1 >= p.size() || !std::isalpha(static_cast<unsigned char>(p[i + 1]))) {
                        return bad(p, "\\c must be followed by a letter");
                    }
                    append_code_point(out, static_cast<uint32_t>(p[++i]) % 32);
                    break;
                case 'x':
                    if (i + 2 >= p.size() || !is_hex(p.substr(i + 1, 2))) {
                        return bad(p, "\\x needs two hex digits");
                    }
                    out += "\\x{";
                    out += p.substr(i + 1, 2);
                    out += '}';
                    i += 2;
                    break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!parse_unicode_escape(p, i, cp)) {
                        return bad(p, "malformed \\u escape");
                    }
                    append_code_point(out, cp);
                    break;
                }
                case 'p':
                case 'P': {
                    if (i + 1 >= p.size() || p[i + 1] != '{') {
                        return bad(p, "\\p needs {Property}");
                    }
                    const size_t close = p.find('}', i + 2);
                    if (close == std::string_view::npos) {
                        return bad(p, "unterminated \\p{");
                    }
                    out += '\\';
                    out += e;
                    out += '{';
                    out += translate_property(p.substr(i + 2, close - i - 2));
                    out += '}';
                    i = close;
                    break;
                }
                case 'k':
                    if (i + 1 >= p.size() || p[i + 1] != '<') {
                        return bad(p, "\\k needs <name>");
                    }
                    out += "\\k";
                    break;
                case '-':
                    if (!in_class) {
                        return bad(p, "\\- outside a character class");
                    }
                    out += "\\-";
                    break;
                default:
                    if (e >= '1' && e <= '9') {
                        out += '\\';
                        out += e;
                    } else if (std::strchr("^$\\.*+?()[]{}|/", e) != nullptr) {
                        out += '\\';
                        out += e;
                    } else {
                        return bad(p, "unknown escape");
                    }
            }
            continue;
        }
        if (in_class) {
            if (c == ']') {
                in_class = false;
            }
            out += c == '[' ? std::string("\\[") : std::string(1, c);
            continue;
        }
        switch (c) {
            case '[':
                if (p.substr(i, 3) == "[^]") {
                    out += "[\\s\\S]";
                    i += 2;
                } else if (p.substr(i, 2) == "[]") {
                    out += "(?!)";
                    i += 1;
                } else {
                    in_class = true;
                    out += '[';
                    if (i + 1 < p.size() && p[i + 1] == '^') {
                        out += '^';
                        ++i;
                    }
                    if (i + 1 < p.size() && p[i + 1] == ']') {
                        return bad(p, "empty class");
                    }
                }
                break;
            case '.': out += "[^\\n\\r\\x{2028}\\x{2029}]"; break;
            case '(':
                if (i + 1 < p.size() && p[i + 1] == '?') {
                    const std::string_view rest = p.substr(i + 2);
                    const bool ok =
                        rest.starts_with(":") || rest.starts_with("=") || rest.starts_with("!")
                        || rest.starts_with("<=") || rest.starts_with("<!")
                        || (rest.starts_with("<") && rest.size() > 1
                            && (std::isalpha(static_cast<unsigned char>(rest[1])) || rest[1] == '_' || rest[1] == '$'));
                    if (!ok) {
                        return bad(p, "unsupported group syntax");
                    }
                }
                out += c;
                break;
            default: out += c;
        }
    }
    if (in_class) {
        return bad(p, "unterminated character class");
    }
    return out;
}

void Regex::CodeDeleter::operator()(pcre2_real_code_8* code) const {
    pcre2_code_free(code);
}

Result<Regex> Regex::compile(std::string_view ecma_pattern) {
    GANNET_ASSIGN_OR_RETURN(std::string translated, ecma_to_pcre2(ecma_pattern));
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                     PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error_code, message, sizeof message);
        return make_error(ErrorCode::kInvalidArgument, "regex: '%.*s' does not compile: %s at offset %zu",
                          static_cast<int>(ecma_pattern.size()), ecma_pattern.data(),
                          reinterpret_cast<const char*>(message), static_cast<size_t>(error_offset));
    }
    // JIT is an optimisation only: when it is unavailable the interpreter runs the same pattern.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    Regex r;
    r.code_ = std::shared_ptr<pcre2_real_code_8>(code, CodeDeleter());
    r.pattern_ = std::string(ecma_pattern);
    return r;
}

bool Regex::is_valid_syntax(std::string_view ecma_pattern) {
    Result<std::string> translated = ecma_to_pcre2(ecma_pattern);
    if (!translated.has_value()) {
        return false;
    }
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated->data()), translated->size(),
                                     PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &error_code, &error_offset, nullptr);
    pcre2_code_free(code);
    return code != nullptr || error_code == PCRE2_ERROR_LOOKBEHIND_NOT_FIXED_LENGTH;
}

namespace {

// Per-thread scratch for matches: match data and a match context holding the limits. Thread-local
// so that search() allocates nothing after a thread's first call and needs no lock.
struct MatchScratch {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    pcre2_match_context* context = [] {
        pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
        pcre2_set_match_limit(ctx, kMatchLimit);
        pcre2_set_depth_limit(ctx, kDepthLimit);
        return ctx;
    }();
    MatchScratch() = default;
    MatchScratch(const MatchScratch&) = delete;
    MatchScratch& operator=(const MatchScratch&) = delete;
    ~MatchScratch() {
        pcre2_match_data_free(data);
        pcre2_match_context_free(context);
    }
};

}  // namespace

Regex::Match Regex::search(std::string_view subject) const {
    thread_local MatchScratch scratch;
    const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0,
                               scratch.data, scratch.context);
    if (rc >= 0) {
        return Match::kYes;
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        return Match::kNo;
    }
    return Match::kLimit;  // match/depth limit, JIT stack, or invalid UTF-8: never a hang or a crash
}

bool Regex::is_anchored() const {
    uint32_t options = 0;
    if (pcre2_pattern_info(code_.get(), PCRE2_INFO_ALLOPTIONS, &options) != 0)
        return false;
    return (options & PCRE2_ANCHORED) != 0;
}

Regex::Prefix Regex::prefix_match(std::string_view prefix) const {
    thread_local MatchScratch scratch;
    // PARTIAL_SOFT: a complete match wins; otherwise a match that ran into the end of the subject
    // is reported as partial (the interpreter runs it when the JIT code has no partial mode).
    const int rc = pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(prefix.data()), prefix.size(), 0,
                               PCRE2_PARTIAL_SOFT, scratch.data, scratch.context);
    if (rc >= 0)
        return Prefix::kMatch;
    if (rc == PCRE2_ERROR_NOMATCH)
        return Prefix::kNo;
    return Prefix::kPartial;
}

}  // namespace gannet::jsonschema
