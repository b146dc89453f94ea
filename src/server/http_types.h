// Plain HTTP request/response values and the streaming ResponseWriter that handlers answer through.
// Owned by src/server/. HttpRequest/HttpResponse are values; ResponseWriter is thread-safe (any thread
// may call it; calls are serialised onto the connection's strand).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gannet::server {

// Header names are lowercased on receipt; repeated headers are joined with ", " (RFC 9110 §5.3).
using HeaderMap = std::map<std::string, std::string>;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: "/mcp?x=1"
    std::string path;    // target without the query
    HeaderMap headers;
    std::string body;
    std::string peer;  // "127.0.0.1:53211", for logs

    // Empty string when absent. REQUIRES: `name` is lowercase.
    const std::string& header(const std::string& name) const;
};

struct HttpResponse {
    int status = 200;
    HeaderList headers;  // Content-Length and Connection are added by the server
    std::string body;
};

// How a handler answers: exactly one of send() or begin_stream()...end(). Every method is safe to
// call from any thread and after the client went away (calls then do nothing). Streams use chunked
// transfer encoding so the connection stays reusable.
class ResponseWriter {
public:
    virtual ~ResponseWriter() = default;

    virtual void send(HttpResponse response) = 0;
    // Sends the status line and headers of a streamed response (e.g. Content-Type: text/event-stream).
    virtual void begin_stream(int status, HeaderList headers) = 0;
    virtual void write(std::string chunk) = 0;  // one chunk; empty chunks are skipped
    virtual void end() = 0;

    // True once the peer closed the connection (or it failed): stop work, nothing more is sent.
    virtual bool is_closed() const = 0;
    // Runs `fn` once when the peer disconnects before the response ended (immediately if already
    // closed). Runs on an I/O thread: keep it short and non-blocking.
    virtual void on_close(std::function<void()> fn) = 0;
};

using Handler = std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

// "Not Found", "Bad Request", ... ("Unknown" for codes we never send).
const char* status_reason(int status);

}  // namespace gannet::server
