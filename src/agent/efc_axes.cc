#include "agent/efc_axes.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace gannet::agent {
namespace {

bool contains(std::string_view text, std::string_view needle) {
    return text.find(needle) != std::string_view::npos;
}

bool is_ident_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool is_ident_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// `name.ext:123` (compiler, grep -n, pytest) anywhere in the text: a ':' followed by a digit, preceded
// by a file name with a 1-4 letter extension.
bool has_file_colon_line(std::string_view t) {
    for (size_t i = t.find(':'); i != std::string_view::npos; i = t.find(':', i + 1)) {
        if (i + 1 >= t.size() || !is_digit(t[i + 1])) {
            continue;
        }
        size_t j = i;
        while (j > 0 && std::isalpha(static_cast<unsigned char>(t[j - 1])) != 0 && i - j < 5) {
            --j;
        }
        if (j < i && i - j <= 4 && j > 1 && t[j - 1] == '.' && is_ident_char(t[j - 2])) {
            return true;
        }
    }
    return false;
}

bool has_line_starting_with(std::string_view t, std::string_view prefix) {
    for (size_t pos = 0; pos < t.size();) {
        if (t.substr(pos, prefix.size()) == prefix) {
            return true;
        }
        const size_t nl = t.find('\n', pos);
        if (nl == std::string_view::npos) {
            break;
        }
        pos = nl + 1;
    }
    return false;
}

// A traceback frame, a failing assertion or test, an error with its type, or a diff hunk.
bool localises_failure(std::string_view t) {
    static constexpr std::string_view kMarkers[] = {
        "Traceback (most recent call last)",
        "\", line ",
        "AssertionError",
        "FAILED",
        "FAIL:",
        "Error: ",
        "error: ",
        "Exception: ",
    };
    for (std::string_view m : kMarkers) {
        if (contains(t, m)) {
            return true;
        }
    }
    return has_line_starting_with(t, "@@ -") || has_file_colon_line(t);
}

// Commands whose non-zero exit is an ordinary answer ("no match", "differs"), not a surprise.
bool is_query_command(std::string_view action) {
    size_t start = action.find("```bash");
    std::string_view cmd = start == std::string_view::npos ? action : action.substr(start + 7);
    while (!cmd.empty() && std::isspace(static_cast<unsigned char>(cmd.front())) != 0) {
        cmd.remove_prefix(1);
    }
    static constexpr std::string_view kQueries[] = {"grep", "find", "diff",  "test ",   "[ ",
                                                    "cmp",  "ls",   "which", "git diff"};
    return std::any_of(std::begin(kQueries), std::end(kQueries),
                       [&](std::string_view q) { return cmd.starts_with(q); });
}

std::optional<int> leading_returncode(std::string_view t) {
    constexpr std::string_view kOpen = "<returncode>";
    if (!t.starts_with(kOpen)) {
        return std::nullopt;
    }
    int code = 0;
    const char* first = t.data() + kOpen.size();
    auto [ptr, ec] = std::from_chars(first, t.data() + t.size(), code);
    if (ec != std::errc() || ptr == first) {
        return std::nullopt;
    }
    return code;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view s, uint64_t h = 0xCBF29CE484222325ull) {
    for (char c : s) {
        h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
    }
    return h;
}

// Whitespace-separated words with every digit run replaced by a single '0'.
std::vector<std::string> normalised_words(std::string_view text) {
    std::vector<std::string> words;
    std::string cur;
    for (size_t i = 0; i <= text.size(); ++i) {
        const char c = i < text.size() ? text[i] : ' ';
        if (std::isspace(static_cast<unsigned char>(c)) != 0) {
            if (!cur.empty()) {
                words.push_back(std::move(cur));
                cur.clear();
            }
        } else if (is_digit(c)) {
            cur.push_back('0');
            while (i + 1 < text.size() && is_digit(text[i + 1])) {
                ++i;
            }
        } else {
            cur.push_back(c);
        }
    }
    return words;
}

}  // namespace

ToolEvent tool_event_from_observation(std::string_view action, std::string_view observation) {
    ToolEvent e;
    e.action = std::string(action);
    e.output = std::string(observation);
    e.exit_code = leading_returncode(observation);
    if (e.exit_code.has_value()) {
        e.is_truncated = contains(observation, "<output_head>") || contains(observation, "<output_tail>")
                         || contains(observation, "elided_chars");
        return e;
    }
    e.is_timed_out = observation.starts_with("The last command") && contains(observation.substr(0, 400), "timed out");
    e.is_rejected = observation.starts_with("Please always provide EXACTLY ONE action");
    return e;
}

double informative_level(const ToolEvent& e, bool has_new_identifier) {
    if (localises_failure(e.output)) {
        return 1.0;
    }
    if (e.exit_code.has_value() && *e.exit_code != 0 && !is_query_command(e.action)) {
        return 0.5;
    }
    return has_new_identifier ? 0.25 : 0.0;
}

bool is_valid(const ToolEvent& e) {
    return e.exit_code.has_value() && !e.is_truncated && !e.is_timed_out && !e.is_rejected;
}

std::unordered_set<std::string> identifiers(std::string_view text) {
    std::unordered_set<std::string> out;
    for (size_t i = 0; i < text.size();) {
        if (is_ident_start(text[i]) && (i == 0 || !is_ident_char(text[i - 1]))) {
            // A dotted name: kept whole and as its parts.
            size_t end = i;
            size_t part = i;
            for (;;) {
                while (end < text.size() && is_ident_char(text[end])) {
                    ++end;
                }
                if (end - part >= 4) {
                    out.emplace(text.substr(part, end - part));
                }
                if (end + 1 < text.size() && text[end] == '.' && is_ident_start(text[end + 1])) {
                    part = ++end;
                    continue;
                }
                break;
            }
            if (end - i >= 4 && text.substr(i, end - i).find('.') != std::string_view::npos) {
                out.emplace(text.substr(i, end - i));
            }
            i = end;
        } else if (is_digit(text[i]) && (i == 0 || !is_ident_char(text[i - 1]))) {
            size_t end = i;
            while (end < text.size() && (is_digit(text[end]) || text[end] == '.')) {
                ++end;
            }
            if (end - i >= 3) {
                out.emplace(text.substr(i, end - i));
            }
            i = end;
        } else {
            ++i;
        }
    }
    return out;
}

MinHash minhash(std::string_view text) {
    MinHash m;
    m.mins.fill(UINT64_MAX);
    const std::vector<std::string> words = normalised_words(text);
    if (words.empty()) {
        return m;
    }
    m.is_empty = false;
    const size_t n_shingles = words.size() >= 3 ? words.size() - 2 : 1;
    for (size_t s = 0; s < n_shingles; ++s) {
        uint64_t h = 0xCBF29CE484222325ull;
        for (size_t w = s; w < std::min(s + 3, words.size()); ++w) {
            h = fnv1a(words[w], h);
            h = fnv1a(" ", h);
        }
        // One base hash, kMinHashSize independent-enough permutations from a mixing function.
        for (int k = 0; k < kMinHashSize; ++k) {
            m.mins[k] = std::min(m.mins[k], splitmix64(h + static_cast<uint64_t>(k) * 0x632BE59BD9B4E019ull));
        }
    }
    return m;
}

double jaccard(const MinHash& a, const MinHash& b) {
    if (a.is_empty || b.is_empty) {
        return a.is_empty && b.is_empty ? 1.0 : 0.0;
    }
    int same = 0;
    for (int k = 0; k < kMinHashSize; ++k) {
        same += a.mins[k] == b.mins[k] ? 1 : 0;
    }
    return static_cast<double>(same) / kMinHashSize;
}

}  // namespace gannet::agent
