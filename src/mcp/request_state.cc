#include "mcp/request_state.h"

#include <chrono>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/check.h"

namespace gannet::mcp {

namespace {

constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kB64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string hmac_sha256(const std::string& key, const std::string& data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out, &n);
    return std::string(reinterpret_cast<const char*>(out), n);
}

Result<std::string> decode_with(const std::string& text, const char* alphabet, bool allow_padding) {
    int table[256];
    for (int& t : table) {
        t = -1;
    }
    for (int i = 0; i < 64; ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = i;
    }
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = text.size();
    if (allow_padding) {
        while (n > 0 && text[n - 1] == '=') {
            --n;
        }
    }
    for (size_t i = 0; i < n; ++i) {
        int v = table[static_cast<unsigned char>(text[i])];
        if (v < 0) {
            return make_error(ErrorCode::kInvalidArgument, "base64: bad character at offset %zu", i);
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    return out;
}

std::string binding_prefix(const StateBinding& b) {
    // Length-prefixed so ("ab","c") and ("a","bc") differ.
    return std::to_string(b.tenant.size()) + ":" + b.tenant + std::to_string(b.method.size()) + ":" + b.method +
           std::to_string(b.name.size()) + ":" + b.name;
}

}  // namespace

std::string base64url_encode(const std::string& bytes) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kB64Url[(acc >> bits) & 0x3f]);
        }
    }
    if (bits > 0) {
        out.push_back(kB64Url[(acc << (6 - bits)) & 0x3f]);
    }
    return out;
}

Result<std::string> base64url_decode(const std::string& text) { return decode_with(text, kB64Url, false); }
Result<std::string> base64_decode(const std::string& text) { return decode_with(text, kB64Std, true); }

std::string random_hex(size_t n_bytes) {
    std::string raw(n_bytes, '\0');
    GANNET_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n_bytes)) == 1);
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    return out;
}

int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

RequestStateCodec::RequestStateCodec(std::string key, int64_t ttl_ms) : key_(std::move(key)), ttl_ms_(ttl_ms) {
    GANNET_CHECK(key_.size() >= 32);
}

std::string RequestStateCodec::sign(const Json& payload, const StateBinding& binding, int64_t now_ms) const {
    Json body = {{"exp", now_ms + ttl_ms_}, {"d", payload}};
    std::string encoded = base64url_encode(body.dump());
    return encoded + "." + base64url_encode(hmac_sha256(key_, binding_prefix(binding) + encoded));
}

Result<Json> RequestStateCodec::verify(const std::string& token, const StateBinding& binding, int64_t now_ms) const {
    size_t dot = token.find('.');
    if (dot == std::string::npos || token.find('.', dot + 1) != std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument, "requestState integrity check failed: malformed token");
    }
    std::string encoded = token.substr(0, dot);
    Result<std::string> mac = base64url_decode(token.substr(dot + 1));
    std::string expected = hmac_sha256(key_, binding_prefix(binding) + encoded);
    if (!mac.has_value() || mac.value().size() != expected.size() ||
        CRYPTO_memcmp(mac.value().data(), expected.data(), expected.size()) != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "requestState integrity check failed: signature does not match this request");
    }
    Result<std::string> raw = base64url_decode(encoded);
    if (!raw.has_value()) {
        return make_error(ErrorCode::kInvalidArgument, "requestState integrity check failed: bad encoding");
    }
    Json body = Json::parse(raw.value(), nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("exp") || !body["exp"].is_number_integer()) {
        return make_error(ErrorCode::kInvalidArgument, "requestState integrity check failed: bad payload");
    }
    if (body["exp"].get<int64_t>() < now_ms) {
        return make_error(ErrorCode::kInvalidArgument, "requestState expired");
    }
    return body.value("d", Json());
}

}  // namespace gannet::mcp
