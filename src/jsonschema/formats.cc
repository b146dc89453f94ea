// Format checkers. Each follows its RFC's ABNF directly (hand-written scanners, no regex for the
// structural formats) so that edge cases the suite probes — leap seconds, leading zeros in IPv4,
// percent-encoding, non-ASCII digits — are decided by the grammar rather than by a lenient pattern.
#include "jsonschema/formats.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "jsonschema/idna.h"
#include "jsonschema/regex.h"

namespace gannet::jsonschema {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Reads exactly n ASCII digits at s[pos] into out.
bool digits(std::string_view s, size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) {
        return false;
    }
    out = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!is_digit(s[pos + i])) {
            return false;
        }
        out = out * 10 + (s[pos + i] - '0');
    }
    return true;
}

bool is_leap_year(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool check_date(std::string_view s) {
    int y = 0, m = 0, d = 0;
    if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 0, 4, y) || !digits(s, 5, 2, m)
        || !digits(s, 8, 2, d)) {
        return false;
    }
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) {
        return false;
    }
    const int max_day = kDays[m - 1] + (m == 2 && is_leap_year(y) ? 1 : 0);
    return d <= max_day;
}

// RFC 3339 full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM). A leap second (:60) must fall on 23:59 UTC.
bool check_time(std::string_view s) {
    int h = 0, mi = 0, sec = 0;
    if (s.size() < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 0, 2, h) || !digits(s, 3, 2, mi)
        || !digits(s, 6, 2, sec)) {
        return false;
    }
    size_t pos = 8;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        const size_t start = pos;
        while (pos < s.size() && is_digit(s[pos])) {
            ++pos;
        }
        if (pos == start) {
            return false;
        }
    }
    if (pos >= s.size()) {
        return false;  // the offset is required
    }
    int off_h = 0, off_m = 0, sign = 0;
    if (s[pos] == 'Z' || s[pos] == 'z') {
        if (pos + 1 != s.size()) {
            return false;
        }
    } else if (s[pos] == '+' || s[pos] == '-') {
        sign = s[pos] == '+' ? 1 : -1;
        if (s.size() != pos + 6 || s[pos + 3] != ':' || !digits(s, pos + 1, 2, off_h) || !digits(s, pos + 4, 2, off_m)
            || off_h > 23 || off_m > 59) {
            return false;
        }
    } else {
        return false;
    }
    if (h > 23 || mi > 59 || sec > 60) {
        return false;
    }
    if (sec == 60) {
        int utc = h * 60 + mi - sign * (off_h * 60 + off_m);
        utc = ((utc % 1440) + 1440) % 1440;
        return utc == 23 * 60 + 59;
    }
    return true;
}

bool check_date_time(std::string_view s) {
    if (s.size() < 20 || (s[10] != 'T' && s[10] != 't')) {
        return false;
    }
    return check_date(s.substr(0, 10)) && check_time(s.substr(11));
}

bool check_duration(std::string_view s) {
    // RFC 3339 appendix A. Units per part, in order; weeks stand alone.
    if (s.size() < 3 || s[0] != 'P') {
        return false;
    }
    size_t pos = 1;
    auto number = [&]() {
        const size_t start = pos;
        while (pos < s.size() && is_digit(s[pos])) {
            ++pos;
        }
        return pos > start;
    };
    // Weeks: P<n>W only.
    {
        size_t p = pos;
        while (p < s.size() && is_digit(s[p])) {
            ++p;
        }
        if (p > pos && p + 1 == s.size() && s[p] == 'W') {
            return true;
        }
    }
    // Date part: Y[M[D]] | M[D] | D, consecutive units only.
    static const char kDateUnits[] = "YMD";
    int last = -1;
    bool any_date = false;
    while (pos < s.size() && s[pos] != 'T') {
        if (!number() || pos >= s.size()) {
            return false;
        }
        const char* u = std::strchr(kDateUnits, s[pos]);
        if (u == nullptr || s[pos] == '\0') {
            return false;
        }
        const int idx = static_cast<int>(u - kDateUnits);
        if ((last >= 0 && idx != last + 1) || idx <= last) {
            return false;
        }
        last = idx;
        any_date = true;
        ++pos;
    }
    if (pos == s.size()) {
        return any_date;
    }
    ++pos;  // 'T'
    static const char kTimeUnits[] = "HMS";
    last = -1;
    bool any_time = false;
    while (pos < s.size()) {
        if (!number() || pos >= s.size()) {
            return false;
        }
        const char* u = std::strchr(kTimeUnits, s[pos]);
        if (u == nullptr || s[pos] == '\0') {
            return false;
        }
        const int idx = static_cast<int>(u - kTimeUnits);
        if ((last >= 0 && idx != last + 1) || idx <= last) {
            return false;
        }
        last = idx;
        any_time = true;
        ++pos;
    }
    return any_time;
}

bool check_ipv4(std::string_view s) {
    int parts = 0;
    size_t pos = 0;
    while (true) {
        const size_t start = pos;
        int value = 0;
        while (pos < s.size() && is_digit(s[pos]) && pos - start < 4) {
            value = value * 10 + (s[pos] - '0');
            ++pos;
        }
        const size_t len = pos - start;
        if (len == 0 || len > 3 || value > 255 || (len > 1 && s[start] == '0')) {
            return false;
        }
        ++parts;
        if (pos == s.size()) {
            return parts == 4;
        }
        if (s[pos] != '.' || parts == 4) {
            return false;
        }
        ++pos;
    }
}

bool check_ipv6(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    int groups = 0;
    bool double_colon = false;
    size_t pos = 0;
    if (s.substr(0, 2) == "::") {
        double_colon = true;
        pos = 2;
        if (pos == s.size()) {
            return true;
        }
    } else if (s[0] == ':') {
        return false;
    }
    while (pos < s.size()) {
        // An embedded IPv4 address may end the address.
        const size_t next_colon = s.find(':', pos);
        const std::string_view rest =
            s.substr(pos, next_colon == std::string_view::npos ? s.size() - pos : next_colon - pos);
        if (next_colon == std::string_view::npos && rest.find('.') != std::string_view::npos) {
            if (!check_ipv4(rest)) {
                return false;
            }
            groups += 2;
            pos = s.size();
            break;
        }
        if (rest.empty() || rest.size() > 4) {
            return false;
        }
        for (char c : rest) {
            if (!is_hex(c)) {
                return false;
            }
        }
        ++groups;
        pos += rest.size();
        if (pos == s.size()) {
            break;
        }
        // At a ':'.
        if (pos + 1 < s.size() && s[pos + 1] == ':') {
            if (double_colon) {
                return false;
            }
            double_colon = true;
            pos += 2;
            if (pos == s.size()) {
                break;
            }
            if (s[pos] == ':') {
                return false;
            }
        } else {
            ++pos;
            if (pos == s.size()) {
                return false;  // trailing single colon
            }
        }
    }
    return double_colon ? groups <= 7 : groups == 8;
}

bool check_hostname(std::string_view s) {
    return idna::check_hostname(s, /*allow_unicode=*/false);
}
bool check_idn_hostname(std::string_view s) {
    return idna::check_hostname(s, /*allow_unicode=*/true);
}

// RFC 5321 Mailbox (ASCII) or RFC 6531 (UTF-8 local part and IDN domain).
bool check_mailbox(std::string_view s, bool allow_unicode) {
    const size_t at = s.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == s.size()) {
        return false;
    }
    const std::string_view local = s.substr(0, at);
    const std::string_view domain = s.substr(at + 1);
    if (local.front() == '"') {
        if (local.size() < 2 || local.back() != '"') {
            return false;
        }
        for (size_t i = 1; i + 1 < local.size(); ++i) {
            const unsigned char c = static_cast<unsigned char>(local[i]);
            if (c == '\\') {
                if (i + 2 >= local.size()) {
                    return false;
                }
                ++i;
                continue;
            }
            if (c == '"' || (c < 32 && c != 9) || c == 127 || (c >= 128 && !allow_unicode)) {
                return false;
            }
        }
    } else {
        static const char kAtext[] = "!#$%&'*+-/=?^_`{|}~";
        bool prev_dot = true;
        for (const char ch : local) {
            const unsigned char c = static_cast<unsigned char>(ch);
            if (c == '.') {
                if (prev_dot) {
                    return false;
                }
                prev_dot = true;
                continue;
            }
            prev_dot = false;
            if (is_digit(ch) || is_alpha(ch) || (c < 128 && c != 0 && std::strchr(kAtext, ch) != nullptr)) {
                continue;
            }
            if (c >= 128 && allow_unicode) {
                continue;
            }
            return false;
        }
        if (prev_dot) {
            return false;
        }
    }
    if (domain.front() == '[') {
        if (domain.back() != ']') {
            return false;
        }
        const std::string_view literal = domain.substr(1, domain.size() - 2);
        if (literal.substr(0, 5) == "IPv6:") {
            return check_ipv6(literal.substr(5));
        }
        return check_ipv4(literal);
    }
    return idna::check_hostname(domain, allow_unicode);
}

bool check_email(std::string_view s) {
    return check_mailbox(s, /*allow_unicode=*/false);
}
bool check_idn_email(std::string_view s) {
    return check_mailbox(s, /*allow_unicode=*/true);
}

bool check_uuid(std::string_view s) {
    if (s.size() != 36) {
        return false;
    }
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

bool check_json_pointer(std::string_view s) {
    if (!s.empty() && s[0] != '/') {
        return false;
    }
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '~' && (i + 1 >= s.size() || (s[i + 1] != '0' && s[i + 1] != '1'))) {
            return false;
        }
    }
    return true;
}

bool check_relative_json_pointer(std::string_view s) {
    size_t pos = 0;
    while (pos < s.size() && is_digit(s[pos])) {
        ++pos;
    }
    if (pos == 0 || (pos > 1 && s[0] == '0')) {
        return false;
    }
    const std::string_view rest = s.substr(pos);
    return rest == "#" || check_json_pointer(rest);
}

bool check_regex(std::string_view s) {
    return Regex::is_valid_syntax(s);
}

// RFC 6570 level 4.
bool check_uri_template(std::string_view s) {
    size_t pos = 0;
    while (pos < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[pos]);
        if (c == '{') {
            const size_t close = s.find('}', pos);
            if (close == std::string_view::npos) {
                return false;
            }
            std::string_view expr = s.substr(pos + 1, close - pos - 1);
            pos = close + 1;
            if (!expr.empty() && std::strchr("+#./;?&=,!@|", expr[0]) != nullptr) {
                expr.remove_prefix(1);
            }
            // variable-list = varspec *( "," varspec ); varspec = varname [ ":" max-length / "*" ]
            size_t i = 0;
            while (true) {
                // varname = varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct-encoded
                size_t n_chars = 0;
                bool prev_dot = false;
                while (i < expr.size()) {
                    const char v = expr[i];
                    if (is_alpha(v) || is_digit(v) || v == '_') {
                        ++i;
                    } else if (v == '%' && i + 2 < expr.size() && is_hex(expr[i + 1]) && is_hex(expr[i + 2])) {
                        i += 3;
                    } else if (v == '.' && n_chars > 0 && !prev_dot) {
                        prev_dot = true;
                        ++i;
                        continue;
                    } else {
                        break;
                    }
                    ++n_chars;
                    prev_dot = false;
                }
                if (n_chars == 0 || prev_dot) {
                    return false;
                }
                if (i < expr.size() && expr[i] == ':') {
                    ++i;
                    const size_t start = i;
                    while (i < expr.size() && is_digit(expr[i])) {
                        ++i;
                    }
                    if (i == start || i - start > 4 || expr[start] == '0') {
                        return false;
                    }
                } else if (i < expr.size() && expr[i] == '*') {
                    ++i;
                }
                if (i == expr.size()) {
                    break;
                }
                if (expr[i] != ',') {
                    return false;
                }
                ++i;
            }
            continue;
        }
        if (c == '%') {
            if (pos + 2 >= s.size() || !is_hex(s[pos + 1]) || !is_hex(s[pos + 2])) {
                return false;
            }
            pos += 3;
            continue;
        }
        if (c <= 0x20 || c == 0x7F || std::strchr("\"<>\\^`|}", static_cast<char>(c)) != nullptr) {
            return false;
        }
        ++pos;
    }
    return true;
}

// --- RFC 3986 URI / RFC 3987 IRI ---------------------------------------------------------------

bool is_unreserved(char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(char c) {
    return c != '\0' && std::strchr("!$&'()*+,;=", c) != nullptr;
}

// Checks that every character of `part` is allowed: unreserved, sub-delims, pct-encoded, the
// characters in `extra`, and (for IRIs) any non-ASCII character.
bool check_chars(std::string_view part, const char* extra, bool iri) {
    for (size_t i = 0; i < part.size(); ++i) {
        const char c = part[i];
        const unsigned char u = static_cast<unsigned char>(c);
        if (is_unreserved(c) || is_sub_delim(c) || (c != '\0' && std::strchr(extra, c) != nullptr)) {
            continue;
        }
        if (c == '%') {
            if (i + 2 >= part.size() || !is_hex(part[i + 1]) || !is_hex(part[i + 2])) {
                return false;
            }
            i += 2;
            continue;
        }
        if (iri && u >= 0x80) {
            continue;  // ucschar / iprivate; UTF-8 validity is guaranteed by the JSON parser
        }
        return false;
    }
    return true;
}

bool check_host(std::string_view host, bool iri) {
    if (!host.empty() && host.front() == '[') {
        if (host.back() != ']') {
            return false;
        }
        const std::string_view lit = host.substr(1, host.size() - 2);
        if (!lit.empty() && (lit[0] == 'v' || lit[0] == 'V')) {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            const size_t dot = lit.find('.');
            if (dot == std::string_view::npos || dot < 2 || dot + 1 == lit.size()) {
                return false;
            }
            for (size_t i = 1; i < dot; ++i) {
                if (!is_hex(lit[i])) {
                    return false;
                }
            }
            return check_chars(lit.substr(dot + 1), ":", /*iri=*/false);
        }
        return check_ipv6(lit);
    }
    return check_chars(host, "", iri);  // reg-name (IPv4 text is a valid reg-name too)
}

bool check_authority(std::string_view auth, bool iri) {
    const size_t at = auth.find('@');
    if (at != std::string_view::npos) {
        if (!check_chars(auth.substr(0, at), ":", iri)) {
            return false;
        }
        auth = auth.substr(at + 1);
    }
    // The port follows the last ':' outside an IP literal.
    const size_t bracket = auth.rfind(']');
    const size_t colon = auth.rfind(':');
    std::string_view host = auth;
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        for (char c : auth.substr(colon + 1)) {
            if (!is_digit(c)) {
                return false;
            }
        }
        host = auth.substr(0, colon);
    }
    return check_host(host, iri);
}

// URI-reference when `require_scheme` is false, else absolute URI (with optional fragment).
bool check_uri_like(std::string_view s, bool require_scheme, bool iri) {
    std::string_view rest = s;
    // scheme
    size_t i = 0;
    bool has_scheme = false;
    if (!rest.empty() && is_alpha(rest[0])) {
        i = 1;
        while (i < rest.size()
               && (is_alpha(rest[i]) || is_digit(rest[i]) || rest[i] == '+' || rest[i] == '-' || rest[i] == '.')) {
            ++i;
        }
        if (i < rest.size() && rest[i] == ':') {
            has_scheme = true;
            rest = rest.substr(i + 1);
        }
    }
    if (require_scheme && !has_scheme) {
        return false;
    }
    // fragment and query
    const size_t hash = rest.find('#');
    if (hash != std::string_view::npos) {
        if (!check_chars(rest.substr(hash + 1), ":@/?", iri)) {
            return false;
        }
        rest = rest.substr(0, hash);
    }
    const size_t q = rest.find('?');
    if (q != std::string_view::npos) {
        if (!check_chars(rest.substr(q + 1), ":@/?", iri)) {
            return false;
        }
        rest = rest.substr(0, q);
    }
    // hier-part / relative-part
    if (rest.substr(0, 2) == "//") {
        rest = rest.substr(2);
        const size_t slash = rest.find('/');
        const std::string_view auth = rest.substr(0, slash);
        if (!check_authority(auth, iri)) {
            return false;
        }
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    } else if (!has_scheme) {
        // path-noscheme: no ':' in the first segment of a relative path.
        const size_t slash = rest.find('/');
        if (rest.substr(0, slash).find(':') != std::string_view::npos) {
            return false;
        }
    }
    return check_chars(rest, ":@/", iri);
}

bool check_uri(std::string_view s) {
    return check_uri_like(s, /*require_scheme=*/true, /*iri=*/false);
}
bool check_uri_reference(std::string_view s) {
    return check_uri_like(s, /*require_scheme=*/false, /*iri=*/false);
}
bool check_iri(std::string_view s) {
    return check_uri_like(s, /*require_scheme=*/true, /*iri=*/true);
}
bool check_iri_reference(std::string_view s) {
    return check_uri_like(s, /*require_scheme=*/false, /*iri=*/true);
}

struct FormatEntry {
    const char* name;
    FormatCheck check;
};

constexpr FormatEntry kFormats[] = {
    {"date-time", check_date_time},
    {"date", check_date},
    {"time", check_time},
    {"duration", check_duration},
    {"email", check_email},
    {"idn-email", check_idn_email},
    {"hostname", check_hostname},
    {"idn-hostname", check_idn_hostname},
    {"ipv4", check_ipv4},
    {"ipv6", check_ipv6},
    {"uri", check_uri},
    {"uri-reference", check_uri_reference},
    {"iri", check_iri},
    {"iri-reference", check_iri_reference},
    {"uri-template", check_uri_template},
    {"uuid", check_uuid},
    {"json-pointer", check_json_pointer},
    {"relative-json-pointer", check_relative_json_pointer},
    {"regex", check_regex},
};

}  // namespace

FormatCheck find_format(std::string_view name) {
    for (const FormatEntry& f : kFormats) {
        if (name == f.name) {
            return f.check;
        }
    }
    return nullptr;
}

}  // namespace gannet::jsonschema
