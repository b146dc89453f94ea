// HttpServer: an asynchronous HTTP/1.1 server on Boost.Asio/Beast. A few I/O threads multiplex every
// connection (no thread per connection), so thousands of idle or streaming clients cost only their
// buffers. Handlers run on an I/O thread and must not block: long work goes to another thread and
// answers through the thread-safe ResponseWriter. Owned by src/server/.
// Thread-safety: add_route() before start(); start()/stop()/port() from one controlling thread.
// Why Beast/Asio: Debian ships it header-only in libboost-dev (no new package); Asio's epoll reactor
// is the standard way to hold thousands of sockets on a couple of threads; Beast's parser gives body
// and header limits, chunked decoding and keep-alive semantics we would otherwise hand-write. The
// alternatives in Debian were weaker fits: cpp-httplib is thread-per-connection, libmicrohttpd's
// SSE/suspend model is awkward, and Drogon/Pistache bring their own frameworks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "server/http_types.h"

namespace gannet::server {

struct HttpServerConfig {
    std::string host = "127.0.0.1";
    int port = 0;                              // 0: the kernel picks; read it back with port()
    int n_io_threads = 2;                      // one per core is enough: handlers never block
    size_t max_body_bytes = 4 * 1024 * 1024;   // larger bodies get 413 and the connection closes
    size_t max_header_bytes = 64 * 1024;       // 431 beyond this
    int read_timeout_ms = 30000;               // slowloris guard: a request must arrive in this time
    int idle_timeout_ms = 120000;              // keep-alive connections idle longer are closed
    size_t max_pending_write_bytes = 8 << 20;  // a client this far behind on a stream is dropped
    // Admission: a request is in flight from its dispatch until its handler has queued the end of
    // its response (plain or streamed) or its client is gone. Beyond the server-wide bound a request gets 503,
    // beyond the per-client bound (keyed by peer address) 429, both with Retry-After and before
    // any handler runs, so an overload costs a parse and a short answer. 0: unbounded.
    int max_requests_in_flight = 1024;
    int max_requests_per_client = 0;  // off by default: behind a proxy all clients share its address
    int retry_after_s = 1;            // the Retry-After of those 429/503 answers
    // Runs before every routed request (after admission): a response refuses it (401 from auth),
    // nullopt lets it through. Called on an I/O thread: must not block.
    std::function<std::optional<HttpResponse>(const HttpRequest&)> gate;
};

class HttpServer {
public:
    explicit HttpServer(HttpServerConfig config);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Exact-path routes. Unknown paths get 404; a known path with another method gets 405 + Allow
    // (both OpenAI-shaped JSON errors, as are 400, 413, 431 and a handler's escaped exception's 500).
    void add_route(const std::string& method, const std::string& path, Handler handler);
    // Every path that starts with `prefix` (which ends in '/') and is longer; exact routes win, then
    // the longest prefix. The handler reads the rest from HttpRequest::path.
    void add_prefix_route(const std::string& method, const std::string& prefix, Handler handler);
    const HttpServerConfig& config() const;

    // Binds and starts the I/O threads. kUnavailable when the address cannot be bound,
    // kInvalidArgument for a malformed host.
    Status start();
    // The bound port (after start()).
    int port() const;
    // Stops accepting, closes connections and joins the I/O threads. Idempotent.
    void stop();
    // Blocks until stop() is called from another thread or a signal handler path.
    void wait();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace gannet::server
