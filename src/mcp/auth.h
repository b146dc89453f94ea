// Bearer-token auth, checked on every request (no sessions to remember a login). The tokens file has
// one "TOKEN TENANT" pair per line ('#' comments); tasks and requestState are bound to the tenant.
// Owned by src/mcp/. Immutable after load: thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "base/result.h"

namespace gannet::mcp {

class Auth {
public:
    Auth() = default;  // auth off: every request is tenant "anonymous"
    // kNotFound / kInvalidArgument (with the line number) for a missing or malformed file.
    static Result<Auth> load(const std::string& path);
    static Auth from_tokens(std::map<std::string, std::string> token_to_tenant);

    bool is_enabled() const { return is_enabled_; }
    // The tenant for an "Authorization" header value, or nullopt (401).
    std::optional<std::string> authenticate(const std::string& authorization_header) const;

private:
    bool is_enabled_ = false;
    std::map<std::string, std::string> tokens_;
};

}  // namespace gannet::mcp
