#include "jsonschema/idna.h"

#include <algorithm>

#include "jsonschema/regex.h"

namespace gannet::jsonschema::idna {
namespace {

constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26, kSkew = 38, kDamp = 700, kInitialBias = 72, kInitialN = 128;

uint32_t adapt(uint32_t delta, uint32_t n_points, bool first) {
    delta = first ? delta / kDamp : delta / 2;
    delta += delta / n_points;
    uint32_t k = 0;
    while (delta > ((kBase - kTmin) * kTmax) / 2) {
        delta /= kBase - kTmin;
        k += kBase;
    }
    return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
}

int digit_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0' + 26;
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    return -1;
}

char digit_char(uint32_t d) {
    return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

bool decode_utf8(std::string_view s, std::vector<uint32_t>& out) {
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
        if (n < 0 || i + static_cast<size_t>(n) >= s.size()) {
            return false;
        }
        uint32_t cp = n == 0 ? c : (c & (0x3F >> n));
        for (int k = 1; k <= n; ++k) {
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
        }
        out.push_back(cp);
        i += static_cast<size_t>(n) + 1;
    }
    return true;
}

std::string encode_utf8(uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

// One code point against a compiled property class such as "^\p{Greek}$".
bool has(uint32_t cp, const char* pattern) {
    struct Entry {
        const char* pattern;
        Regex regex;
    };
    // A handful of fixed patterns, compiled on first use; function-local statics are thread-safe.
    static const std::vector<Entry> kTable = [] {
        std::vector<Entry> t;
        for (const char* p :
             {"^[\\p{Ll}\\p{Lo}\\p{Lm}\\p{Mn}\\p{Mc}\\p{Nd}]$", "^\\p{M}$", "^\\p{Greek}$", "^\\p{Hebrew}$",
              "^[\\p{Hiragana}\\p{Katakana}\\p{Han}]$", "^[\\p{Arabic}\\p{Syriac}\\p{Nko}\\p{Mongolian}\\p{Adlam}]$",
              "^\\p{L}$", "^[\\p{Mn}\\p{Me}]$", "^[\\p{Hebrew}\\p{Samaritan}\\p{Mandaic}\\p{Nko}]$",
              "^[\\p{Arabic}\\p{Syriac}\\p{Thaana}]$"}) {
            t.push_back(Entry{p, Regex::compile(p).value()});
        }
        return t;
    }();
    for (const Entry& e : kTable) {
        if (e.pattern == pattern || std::string_view(e.pattern) == pattern) {
            return e.regex.search(encode_utf8(cp)) == Regex::Match::kYes;
        }
    }
    return false;
}

constexpr const char* kPvalidCategories = "^[\\p{Ll}\\p{Lo}\\p{Lm}\\p{Mn}\\p{Mc}\\p{Nd}]$";
constexpr const char* kMark = "^\\p{M}$";
constexpr const char* kGreek = "^\\p{Greek}$";
constexpr const char* kHebrew = "^\\p{Hebrew}$";
constexpr const char* kJapanese = "^[\\p{Hiragana}\\p{Katakana}\\p{Han}]$";
constexpr const char* kJoiningScripts = "^[\\p{Arabic}\\p{Syriac}\\p{Nko}\\p{Mongolian}\\p{Adlam}]$";
constexpr const char* kLetter = "^\\p{L}$";
constexpr const char* kNonSpacing = "^[\\p{Mn}\\p{Me}]$";
constexpr const char* kRtlScripts = "^[\\p{Hebrew}\\p{Samaritan}\\p{Mandaic}\\p{Nko}]$";
constexpr const char* kArabicLetterScripts = "^[\\p{Arabic}\\p{Syriac}\\p{Thaana}]$";

// Code points with canonical combining class 9 (Virama), RFC 5892 appendix A.1/A.2.
constexpr uint32_t kViramas[] = {
    0x094D,  0x09CD,  0x0A4D,  0x0ACD,  0x0B4D,  0x0BCD,  0x0C4D,  0x0CCD,  0x0D3B,  0x0D3C,  0x0D4D,  0x0DCA,
    0x0E3A,  0x0EBA,  0x0F84,  0x1039,  0x103A,  0x1714,  0x1734,  0x17D2,  0x1A60,  0x1B44,  0x1BAA,  0x1BAB,
    0x1BF2,  0x1BF3,  0x2D7F,  0xA806,  0xA8C4,  0xA953,  0xA9C0,  0xAAF6,  0xABED,  0x10A3F, 0x11046, 0x1107F,
    0x110B9, 0x11133, 0x11134, 0x111C0, 0x11235, 0x112EA, 0x1134D, 0x11442, 0x114C2, 0x115BF, 0x1163F, 0x116B6,
    0x1172B, 0x11839, 0x119E0, 0x11A34, 0x11A47, 0x11A99, 0x11C3F, 0x11D44, 0x11D45, 0x11D97};

bool is_virama(uint32_t cp) {
    return std::find(std::begin(kViramas), std::end(kViramas), cp) != std::end(kViramas);
}

enum class Bidi { kL, kR, kAL, kAN, kEN, kES, kCS, kET, kON, kBN, kNSM };

Bidi bidi_class(uint32_t cp) {
    if (cp >= '0' && cp <= '9')
        return Bidi::kEN;
    if (cp == '-' || cp == '+')
        return Bidi::kES;
    if (cp == '.' || cp == ',' || cp == ':' || cp == '/')
        return Bidi::kCS;
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ? Bidi::kL : Bidi::kON;
    if ((cp >= 0x0600 && cp <= 0x0605) || (cp >= 0x0660 && cp <= 0x0669) || cp == 0x066B || cp == 0x066C || cp == 0x06DD
        || cp == 0x08E2 || (cp >= 0x10E60 && cp <= 0x10E7E)) {
        return Bidi::kAN;
    }
    if ((cp >= 0x06F0 && cp <= 0x06F9) || cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xFF10 && cp <= 0xFF19)) {
        return Bidi::kEN;
    }
    if (has(cp, kNonSpacing))
        return Bidi::kNSM;
    if (has(cp, kArabicLetterScripts))
        return Bidi::kAL;
    if (has(cp, kRtlScripts))
        return Bidi::kR;
    return has(cp, kLetter) || has(cp, kPvalidCategories) ? Bidi::kL : Bidi::kON;
}

bool is_rtl_char(uint32_t cp) {
    const Bidi b = bidi_class(cp);
    return b == Bidi::kR || b == Bidi::kAL || b == Bidi::kAN;
}

// RFC 5893 section 2, for one label of a domain that contains right-to-left labels.
bool bidi_ok(const std::vector<uint32_t>& label) {
    if (label.empty()) {
        return false;
    }
    const Bidi first = bidi_class(label[0]);
    size_t last = label.size();
    while (last > 0 && bidi_class(label[last - 1]) == Bidi::kNSM) {
        --last;
    }
    if (last == 0) {
        return false;
    }
    const Bidi end = bidi_class(label[last - 1]);
    if (first == Bidi::kR || first == Bidi::kAL) {
        bool has_en = false, has_an = false;
        for (uint32_t cp : label) {
            const Bidi b = bidi_class(cp);
            if (b == Bidi::kL) {
                return false;
            }
            has_en |= b == Bidi::kEN;
            has_an |= b == Bidi::kAN;
        }
        return !(has_en && has_an) && (end == Bidi::kR || end == Bidi::kAL || end == Bidi::kEN || end == Bidi::kAN);
    }
    if (first == Bidi::kL) {
        for (uint32_t cp : label) {
            const Bidi b = bidi_class(cp);
            if (b == Bidi::kR || b == Bidi::kAL || b == Bidi::kAN) {
                return false;
            }
        }
        return end == Bidi::kL || end == Bidi::kEN;
    }
    return false;
}

bool zwnj_joining_context(const std::vector<uint32_t>& label, size_t i) {
    // (Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D}), approximated:
    // joining letters are the letters of the cursive scripts, transparent ones are marks.
    auto joining = [](uint32_t cp) {
        return has(cp, kJoiningScripts) && has(cp, kLetter);
    };
    size_t before = i;
    while (before > 0 && has(label[before - 1], kNonSpacing)) {
        --before;
    }
    size_t after = i + 1;
    while (after < label.size() && has(label[after], kNonSpacing)) {
        ++after;
    }
    return before > 0 && joining(label[before - 1]) && after < label.size() && joining(label[after]);
}

bool code_point_ok(const std::vector<uint32_t>& label, size_t i) {
    const uint32_t cp = label[i];
    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '-';
    }
    switch (cp) {
        case 0x00DF:
        case 0x03C2:
        case 0x06FD:
        case 0x06FE:
        case 0x0F0B:
        case 0x3007: return true;
        case 0x0640:
        case 0x07FA:
        case 0x302E:
        case 0x302F:
        case 0x3031:
        case 0x3032:
        case 0x3033:
        case 0x3034:
        case 0x3035:
        case 0x303B: return false;
        case 0x00B7: return i > 0 && label[i - 1] == 'l' && i + 1 < label.size() && label[i + 1] == 'l';
        case 0x0375: return i + 1 < label.size() && has(label[i + 1], kGreek);
        case 0x05F3:
        case 0x05F4: return i > 0 && has(label[i - 1], kHebrew);
        case 0x30FB:
            return std::any_of(label.begin(), label.end(), [](uint32_t c) { return c != 0x30FB && has(c, kJapanese); });
        case 0x200D: return i > 0 && is_virama(label[i - 1]);
        case 0x200C: return (i > 0 && is_virama(label[i - 1])) || zwnj_joining_context(label, i);
        default: break;
    }
    if (cp >= 0x0660 && cp <= 0x0669) {
        return std::none_of(label.begin(), label.end(), [](uint32_t c) { return c >= 0x06F0 && c <= 0x06F9; });
    }
    if (cp >= 0x06F0 && cp <= 0x06F9) {
        return std::none_of(label.begin(), label.end(), [](uint32_t c) { return c >= 0x0660 && c <= 0x0669; });
    }
    return has(cp, kPvalidCategories);
}

bool ulabel_ok(const std::vector<uint32_t>& label) {
    if (label.empty() || label.front() == '-' || label.back() == '-') {
        return false;
    }
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-') {
        return false;
    }
    if (has(label[0], kMark)) {
        return false;
    }
    for (size_t i = 0; i < label.size(); ++i) {
        if (!code_point_ok(label, i)) {
            return false;
        }
    }
    return true;
}

// Splits on '.', and for IDN also on U+3002, U+FF0E, U+FF61 (RFC 3490 label separators).
std::vector<std::string_view> split_labels(std::string_view host, bool allow_unicode) {
    std::vector<std::string_view> labels;
    size_t start = 0;
    for (size_t i = 0; i <= host.size();) {
        size_t sep = 0;
        if (i == host.size() || host[i] == '.') {
            sep = 1;
        } else if (allow_unicode
                   && (host.substr(i, 3) == "\xE3\x80\x82" || host.substr(i, 3) == "\xEF\xBC\x8E"
                       || host.substr(i, 3) == "\xEF\xBD\xA1")) {
            sep = 3;
        }
        if (sep == 0) {
            ++i;
            continue;
        }
        labels.push_back(host.substr(start, i - start));
        i += sep;
        start = i;
        if (i > host.size()) {
            break;
        }
    }
    return labels;
}

}  // namespace

bool punycode_decode(std::string_view input, std::vector<uint32_t>& out) {
    out.clear();
    const size_t delim = input.rfind('-');
    size_t pos = 0;
    if (delim != std::string_view::npos) {
        for (size_t i = 0; i < delim; ++i) {
            if (static_cast<unsigned char>(input[i]) >= 0x80) {
                return false;
            }
            out.push_back(static_cast<unsigned char>(input[i]));
        }
        pos = delim + 1;
    }
    uint32_t n = kInitialN, bias = kInitialBias;
    uint64_t i = 0;
    while (pos < input.size()) {
        const uint64_t old_i = i;
        uint64_t w = 1;
        for (uint32_t k = kBase;; k += kBase) {
            if (pos >= input.size()) {
                return false;
            }
            const int digit = digit_value(input[pos++]);
            if (digit < 0) {
                return false;
            }
            i += static_cast<uint64_t>(digit) * w;
            const uint32_t t = k <= bias ? kTmin : (k >= bias + kTmax ? kTmax : k - bias);
            if (static_cast<uint32_t>(digit) < t) {
                break;
            }
            w *= kBase - t;
            if (i > 0x10FFFF * 64ull || w > 0x10FFFF * 64ull) {
                return false;
            }
        }
        const uint32_t n_points = static_cast<uint32_t>(out.size()) + 1;
        bias = adapt(static_cast<uint32_t>(i - old_i), n_points, old_i == 0);
        n += static_cast<uint32_t>(i / n_points);
        i %= n_points;
        if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF)) {
            return false;
        }
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), n);
        ++i;
    }
    return true;
}

bool punycode_encode(const std::vector<uint32_t>& input, std::string& out) {
    out.clear();
    for (uint32_t cp : input) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        }
    }
    const size_t n_basic = out.size();
    size_t h = n_basic;
    if (n_basic > 0) {
        out += '-';
    }
    uint32_t n = kInitialN, bias = kInitialBias;
    uint64_t delta = 0;
    while (h < input.size()) {
        uint32_t m = UINT32_MAX;
        for (uint32_t cp : input) {
            if (cp >= n && cp < m) {
                m = cp;
            }
        }
        delta += static_cast<uint64_t>(m - n) * (h + 1);
        n = m;
        for (uint32_t cp : input) {
            if (cp < n) {
                ++delta;
            }
            if (cp == n) {
                uint64_t q = delta;
                for (uint32_t k = kBase;; k += kBase) {
                    const uint32_t t = k <= bias ? kTmin : (k >= bias + kTmax ? kTmax : k - bias);
                    if (q < t) {
                        break;
                    }
                    out += digit_char(static_cast<uint32_t>(t + (q - t) % (kBase - t)));
                    q = (q - t) / (kBase - t);
                }
                out += digit_char(static_cast<uint32_t>(q));
                bias = adapt(static_cast<uint32_t>(delta), static_cast<uint32_t>(h + 1), h == n_basic);
                delta = 0;
                ++h;
            }
        }
        ++delta;
        ++n;
    }
    return true;
}

bool check_hostname(std::string_view host, bool allow_unicode) {
    if (host.empty()) {
        return false;
    }
    std::vector<std::vector<uint32_t>> ulabels;
    size_t total_length = 0;
    for (std::string_view label : split_labels(host, allow_unicode)) {
        if (label.empty()) {
            return false;
        }
        const bool ascii =
            std::all_of(label.begin(), label.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
        std::vector<uint32_t> cps;
        size_t alabel_length = label.size();
        if (ascii) {
            const bool a_label = label.size() >= 4 && (label[0] == 'x' || label[0] == 'X')
                                 && (label[1] == 'n' || label[1] == 'N') && label[2] == '-' && label[3] == '-';
            if (a_label) {
                std::string reencoded;
                if (!punycode_decode(label.substr(4), cps)
                    || std::all_of(cps.begin(), cps.end(), [](uint32_t c) { return c < 0x80; })
                    || !punycode_encode(cps, reencoded)) {
                    return false;
                }
                std::string lower(label.substr(4));
                std::transform(lower.begin(), lower.end(), lower.begin(),
                               [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
                if (reencoded != lower || !ulabel_ok(cps)) {
                    return false;
                }
            } else {
                for (char c : label) {
                    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) {
                        return false;
                    }
                }
                if (label.front() == '-' || label.back() == '-'
                    || (label.size() >= 4 && label[2] == '-' && label[3] == '-')) {
                    return false;
                }
                for (char c : label) {
                    cps.push_back(static_cast<unsigned char>(c));
                }
            }
        } else {
            if (!allow_unicode || !decode_utf8(label, cps) || !ulabel_ok(cps)) {
                return false;
            }
            std::string encoded;
            punycode_encode(cps, encoded);
            alabel_length = 4 + encoded.size();
        }
        if (alabel_length > 63) {
            return false;
        }
        total_length += alabel_length + 1;
        ulabels.push_back(std::move(cps));
    }
    if (total_length - 1 > 253) {
        return false;
    }
    const bool bidi_domain = std::any_of(ulabels.begin(), ulabels.end(), [](const std::vector<uint32_t>& l) {
        return std::any_of(l.begin(), l.end(), [](uint32_t c) { return c >= 0x80 && is_rtl_char(c); });
    });
    if (bidi_domain) {
        for (const std::vector<uint32_t>& l : ulabels) {
            if (!bidi_ok(l)) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace gannet::jsonschema::idna
