// Bearer-token auth, checked on every request (no sessions to remember a login). The tokens file has
// one "TOKEN TENANT" pair per line ('#' comments); tasks and requestState are bound to the tenant.
// Owned by src/mcp/. Immutable after load: thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

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

// True for a Host header (or an origin's host[:port]) naming loopback: localhost, 127.0.0.1, [::1].
bool is_local_host(const std::string& host);

// True when a browser's Origin header ("scheme://host[:port]") names the authority in the Host
// header the request was sent to (case-insensitive): a page of this very server. Joined repeated
// headers (a ',') and anything but a bare authority after the scheme are never same-origin.
bool is_same_origin(const std::string& origin, const std::string& host);

// The DNS-rebinding and cross-site guard of a server, shared by /mcp and /v1 (no cross-site posts
// from a browser page). An Origin header, when present, must be listed in allowed_origins, be the
// request's own origin (is_same_origin), or, when is_local_only, be a loopback origin; a request
// without Origin (not from a browser page) passes. When is_local_only the Host header must also name
// loopback (DNS rebinding). Returns the reason for a 403 ("Origin not allowed" / "Host not
// allowed"), or nullopt when the request may proceed.
std::optional<std::string> check_host_origin(bool is_local_only, const std::vector<std::string>& allowed_origins,
                                             const std::string& host, const std::string& origin);

}  // namespace gannet::mcp
