#include "mcp/auth.h"

#include <openssl/crypto.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace gannet::mcp {

Result<Auth> Auth::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return make_error(ErrorCode::kNotFound, "auth: cannot read tokens file '%s'", path.c_str());
    }
    std::map<std::string, std::string> tokens;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        std::istringstream fields(line);
        std::string token;
        std::string tenant;
        std::string extra;
        if (!(fields >> token) || token[0] == '#') {
            continue;
        }
        if (!(fields >> tenant) || (fields >> extra)) {
            return make_error(ErrorCode::kInvalidArgument, "auth: %s:%d: expected 'TOKEN TENANT'", path.c_str(),
                              line_no);
        }
        tokens[token] = tenant;
    }
    if (tokens.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "auth: %s: no tokens", path.c_str());
    }
    return from_tokens(std::move(tokens));
}

Auth Auth::from_tokens(std::map<std::string, std::string> token_to_tenant) {
    Auth a;
    a.is_enabled_ = true;
    a.tokens_ = std::move(token_to_tenant);
    return a;
}

std::optional<std::string> Auth::authenticate(const std::string& header) const {
    if (!is_enabled_) {
        return std::string("anonymous");
    }
    const std::string prefix = "Bearer ";
    if (header.size() <= prefix.size() || strncasecmp(header.c_str(), prefix.c_str(), prefix.size()) != 0) {
        return std::nullopt;
    }
    std::string token = header.substr(prefix.size());
    // Constant-time compare against every token so timing does not reveal a prefix match.
    std::optional<std::string> tenant;
    for (const auto& [t, who] : tokens_) {
        if (t.size() == token.size() && CRYPTO_memcmp(t.data(), token.data(), t.size()) == 0) {
            tenant = who;
        }
    }
    return tenant;
}

namespace {

// "localhost:3000" / "[::1]:80" / "127.0.0.1" -> host without port, lowercased.
std::string host_only(std::string host) {
    std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!host.empty() && host[0] == '[') {
        size_t close = host.find(']');
        return close == std::string::npos ? host : host.substr(0, close + 1);
    }
    size_t colon = host.find(':');
    return colon == std::string::npos ? host : host.substr(0, colon);
}

}  // namespace

bool is_local_host(const std::string& host) {
    if (host.find(',') != std::string::npos) {
        return false;  // repeated headers arrive joined: "127.0.0.1, evil.example" is not loopback
    }
    std::string h = host_only(host);
    return h == "localhost" || h == "127.0.0.1" || h == "[::1]";
}

bool is_same_origin(const std::string& origin, const std::string& host) {
    size_t scheme = origin.find("://");
    if (scheme == std::string::npos || host.empty() || host.find(',') != std::string::npos) {
        return false;
    }
    std::string authority = origin.substr(scheme + 3);
    if (authority.empty() || authority.find_first_of("/,@ ") != std::string::npos) {
        return false;  // a serialized origin is scheme://host[:port], nothing more
    }
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
        return s;
    };
    return lower(authority) == lower(host);
}

std::optional<std::string> check_host_origin(bool is_local_only, const std::vector<std::string>& allowed_origins,
                                             const std::string& host, const std::string& origin) {
    if (!origin.empty()) {
        bool allowed = std::find(allowed_origins.begin(), allowed_origins.end(), origin) != allowed_origins.end();
        if (!allowed && is_local_only) {
            size_t scheme = origin.find("://");
            allowed = scheme != std::string::npos && is_local_host(origin.substr(scheme + 3));
        }
        // A page this server itself served (same scheme-less authority as the Host it was sent to)
        // may call it; on loopback the Host check below still stops a DNS-rebound name.
        allowed = allowed || is_same_origin(origin, host);
        if (!allowed) {
            return "Origin not allowed";
        }
    }
    if (is_local_only && !host.empty() && !is_local_host(host)) {
        return "Host not allowed";
    }
    return std::nullopt;
}

}  // namespace gannet::mcp
