// Minimal blocking HTTP/1.1 client over POSIX sockets + poll, enough for an OpenAI-compatible
// server: one request per connection ("Connection: close"), streamed response bodies (chunked,
// Content-Length or until close), connect and read timeouts. http:// only; TLS is out of scope
// (benchmarks talk to a server on the same host or network). Owner: bench helper.
// Thread-safety: free functions; each call owns its socket, so any number of threads may call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace gannet::bench {

struct Url {
    std::string host;  // name or IPv4/IPv6 literal (without brackets)
    int port = 80;
    std::string path_prefix;  // "/v1" for "http://h:8080/v1"; never ends in '/'
    std::string str() const;  // "http://host:port/prefix"
};

// Parses "http://host[:port][/prefix]". Errors: kInvalidArgument (names the URL), kUnimplemented for https.
Result<Url> parse_url(std::string_view text);

struct HttpOptions {
    int connect_timeout_ms = 3000;  // an unreachable endpoint must fail fast, not after the OS's ~2 min
    int read_timeout_ms = 600000;   // longest silence allowed while waiting for bytes (a long prefill)
};

struct HttpRequest {
    std::string method = "GET";
    std::string path;  // absolute, e.g. "/v1/chat/completions"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct HttpResponseHead {
    int status = 0;
    std::string content_type;
    bool is_chunked = false;
    int64_t content_length = -1;  // -1 when absent
};

// Sends `request` to `url`'s host and streams the response: on_head once, then on_body for each
// piece of decoded body as it arrives (pieces split anywhere). A non-OK Status from a callback
// aborts and is returned. Errors: kUnavailable (connect refused/unreachable, name not resolved,
// connection reset; message names host:port and the OS error), kDeadlineExceeded (timeouts),
// kDataLoss (malformed HTTP).
Status http_stream(const Url& url, const HttpRequest& request, const HttpOptions& options,
                   const std::function<Status(const HttpResponseHead&)>& on_head,
                   const std::function<Status(std::string_view)>& on_body);

struct HttpResponse {
    int status = 0;
    std::string body;
};

// http_stream collecting the whole body, at most max_body_bytes (kResourceExhausted beyond).
Result<HttpResponse> http_fetch(const Url& url, const HttpRequest& request, const HttpOptions& options,
                                size_t max_body_bytes = size_t{64} << 20);

}  // namespace gannet::bench
