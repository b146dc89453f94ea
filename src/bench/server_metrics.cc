#include "bench/server_metrics.h"

#include <cstdlib>

namespace gannet::bench {
namespace {

constexpr const char* kHitTokens = "gannet_prefix_cache_hit_tokens_total";
constexpr const char* kQueryTokens = "gannet_prefix_cache_query_tokens_total";
constexpr const char* kHitRate = "gannet_prefix_cache_hit_rate";

double value_or(const std::map<std::string, double>& m, const char* key, double fallback) {
    auto it = m.find(key);
    return it == m.end() ? fallback : it->second;
}

}  // namespace

std::map<std::string, double> parse_gannet_metrics(std::string_view page) {
    std::map<std::string, double> out;
    size_t pos = 0;
    while (pos < page.size()) {
        size_t end = page.find('\n', pos);
        if (end == std::string_view::npos) {
            end = page.size();
        }
        std::string_view line = page.substr(pos, end - pos);
        pos = end + 1;
        if (!line.starts_with("gannet_")) {
            continue;  // comments (# HELP/# TYPE) and other servers' series
        }
        const size_t name_end = line.find_first_of("{ ");
        if (name_end == std::string_view::npos) {
            continue;
        }
        const std::string name(line.substr(0, name_end));
        size_t value_start = line.find(' ', line[name_end] == '{' ? line.find('}', name_end) : name_end);
        if (value_start == std::string_view::npos) {
            continue;
        }
        const std::string value(line.substr(value_start + 1));
        char* parse_end = nullptr;
        const double v = std::strtod(value.c_str(), &parse_end);
        if (parse_end != value.c_str()) {
            out[name] += v;
        }
    }
    return out;
}

std::map<std::string, double> scrape_gannet_metrics(const Url& base, const HttpOptions& options) {
    std::string root = base.path_prefix;
    if (root.ends_with("/v1")) {
        root.resize(root.size() - 3);
    }
    HttpRequest req;
    req.path = root + "/metrics";
    HttpOptions quick = options;
    quick.read_timeout_ms = 5000;
    Result<HttpResponse> r = http_fetch(base, req, quick, size_t{8} << 20);
    if (!r.has_value() || r->status != 200) {
        return {};
    }
    return parse_gannet_metrics(r->body);
}

double prefix_cache_hit_rate(const std::map<std::string, double>& before, const std::map<std::string, double>& after) {
    const double d_query = value_or(after, kQueryTokens, 0) - value_or(before, kQueryTokens, 0);
    if (after.count(kQueryTokens) != 0 && d_query > 0) {
        return (value_or(after, kHitTokens, 0) - value_or(before, kHitTokens, 0)) / d_query;
    }
    return value_or(after, kHitRate, -1);
}

}  // namespace gannet::bench
