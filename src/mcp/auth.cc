#include "mcp/auth.h"

#include <strings.h>

#include <fstream>
#include <sstream>

#include <openssl/crypto.h>

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

}  // namespace gannet::mcp
