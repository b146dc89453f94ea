// RequestStateCodec: signs and verifies MRTR requestState (SEP-2322) with HMAC-SHA256, so a client
// can carry server state between rounds without being able to forge or replay it elsewhere. The
// token binds the payload to the tenant, the method, the tool/prompt/uri name and an expiry.
// Wire form: base64url(json) "." base64url(hmac). Owned by src/mcp/. Thread-safe (immutable).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "mcp/rpc_error.h"

namespace gannet::mcp {

struct StateBinding {
    std::string tenant;
    std::string method;
    std::string name;
};

class RequestStateCodec {
public:
    // REQUIRES: key is at least 32 bytes (a shared secret for every server of a fleet).
    explicit RequestStateCodec(std::string key, int64_t ttl_ms = 10 * 60 * 1000);

    std::string sign(const Json& payload, const StateBinding& binding, int64_t now_ms) const;
    // kInvalidArgument with a precise reason: malformed, bad signature, expired, or bound to another
    // tenant/method/name. Never echoes the token back.
    Result<Json> verify(const std::string& token, const StateBinding& binding, int64_t now_ms) const;

private:
    std::string key_;
    int64_t ttl_ms_;
};

std::string base64url_encode(const std::string& bytes);
Result<std::string> base64url_decode(const std::string& text);
// Standard base64 (with padding), for the =?base64?...?= header encoding.
Result<std::string> base64_decode(const std::string& text);
// Cryptographically random bytes (OpenSSL RAND_bytes), hex-encoded.
std::string random_hex(size_t n_bytes);
int64_t now_unix_ms();

}  // namespace gannet::mcp
