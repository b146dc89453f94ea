#include "jsonschema/uri.h"

#include <cctype>
#include <vector>

namespace gannet::jsonschema {
namespace {

struct Uri {
    std::string scheme;  // without ':'
    bool has_authority = false;
    std::string authority;
    std::string path;
    bool has_query = false;
    std::string query;
    bool has_fragment = false;
    std::string fragment;
};

Uri parse(std::string_view s) {
    Uri u;
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    size_t i = 0;
    if (!s.empty() && std::isalpha(static_cast<unsigned char>(s[0]))) {
        size_t j = 1;
        while (j < s.size()
               && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '+' || s[j] == '-' || s[j] == '.')) {
            ++j;
        }
        if (j < s.size() && s[j] == ':') {
            u.scheme = std::string(s.substr(0, j));
            for (char& c : u.scheme) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            i = j + 1;
        }
    }
    const size_t hash = s.find('#', i);
    std::string_view rest = s.substr(i, hash == std::string_view::npos ? std::string_view::npos : hash - i);
    if (hash != std::string_view::npos) {
        u.has_fragment = true;
        u.fragment = std::string(s.substr(hash + 1));
    }
    const size_t q = rest.find('?');
    if (q != std::string_view::npos) {
        u.has_query = true;
        u.query = std::string(rest.substr(q + 1));
        rest = rest.substr(0, q);
    }
    if (rest.substr(0, 2) == "//") {
        u.has_authority = true;
        const size_t slash = rest.find('/', 2);
        u.authority = std::string(rest.substr(2, slash == std::string_view::npos ? std::string_view::npos : slash - 2));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    u.path = std::string(rest);
    return u;
}

std::string remove_dot_segments(const std::string& path) {
    if (path.find('.') == std::string::npos) {
        return path;
    }
    std::vector<std::string> out;
    const bool absolute = !path.empty() && path[0] == '/';
    size_t i = absolute ? 1 : 0;
    bool trailing_slash = false;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) {
            j = path.size();
        }
        const std::string seg = path.substr(i, j - i);
        trailing_slash = false;
        if (seg == "..") {
            if (!out.empty()) {
                out.pop_back();
            }
            trailing_slash = true;
        } else if (seg == ".") {
            trailing_slash = true;
        } else {
            out.push_back(seg);
        }
        i = j + 1;
    }
    std::string result = absolute ? "/" : "";
    for (size_t k = 0; k < out.size(); ++k) {
        if (k > 0) {
            result += '/';
        }
        result += out[k];
    }
    if (trailing_slash && (result.empty() || result.back() != '/')) {
        result += '/';
    }
    return result;
}

std::string merge_paths(const Uri& base, const std::string& ref_path) {
    if (base.has_authority && base.path.empty()) {
        return "/" + ref_path;
    }
    const size_t slash = base.path.rfind('/');
    if (slash == std::string::npos) {
        return ref_path;
    }
    return base.path.substr(0, slash + 1) + ref_path;
}

std::string recompose(const Uri& u) {
    std::string s;
    if (!u.scheme.empty()) {
        s += u.scheme + ":";
    }
    if (u.has_authority) {
        s += "//" + u.authority;
    }
    s += u.path;
    if (u.has_query) {
        s += "?" + u.query;
    }
    if (u.has_fragment && !u.fragment.empty()) {
        s += "#" + u.fragment;
    }
    return s;
}

}  // namespace

std::string resolve_uri(std::string_view base_text, std::string_view ref_text) {
    const Uri ref = parse(ref_text);
    Uri t;
    if (!ref.scheme.empty()) {
        t = ref;
        t.path = remove_dot_segments(ref.path);
        return recompose(t);
    }
    const Uri base = parse(base_text);
    t.scheme = base.scheme;
    if (ref.has_authority) {
        t.has_authority = true;
        t.authority = ref.authority;
        t.path = remove_dot_segments(ref.path);
        t.has_query = ref.has_query;
        t.query = ref.query;
    } else {
        t.has_authority = base.has_authority;
        t.authority = base.authority;
        if (ref.path.empty()) {
            t.path = base.path;
            t.has_query = ref.has_query || base.has_query;
            t.query = ref.has_query ? ref.query : base.query;
        } else {
            t.path =
                ref.path[0] == '/' ? remove_dot_segments(ref.path) : remove_dot_segments(merge_paths(base, ref.path));
            t.has_query = ref.has_query;
            t.query = ref.query;
        }
    }
    t.has_fragment = ref.has_fragment;
    t.fragment = ref.fragment;
    return recompose(t);
}

UriParts split_fragment(std::string_view uri) {
    UriParts p;
    const size_t hash = uri.find('#');
    if (hash == std::string_view::npos) {
        p.base = std::string(uri);
        return p;
    }
    p.base = std::string(uri.substr(0, hash));
    p.fragment = std::string(uri.substr(hash + 1));
    p.has_fragment = true;
    return p;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1]))
            && std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string fragment_encode(std::string_view text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c)
            || std::string_view("-._~!$&'()*+,;=:@/?").find(static_cast<char>(c)) != std::string_view::npos) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

}  // namespace gannet::jsonschema
