// HttpServer on Boost.Beast: Beast parses requests (limits, chunked bodies, keep-alive) and we write
// responses as preformatted bytes, which keeps one write path for plain and streamed answers.
// Each connection lives on its own strand; a handler's ResponseWriter posts onto that strand, so the
// handler may answer from any thread. While a request is in flight the socket is watched for
// readability: readable with zero bytes available means the peer closed, which is how a client
// cancels (MCP: "closing the SSE stream IS the cancellation").
#include "server/http_server.h"

#include <sys/socket.h>

#include <cerrno>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/log.h"

namespace gannet::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const std::string& HttpRequest::header(const std::string& name) const {
    static const std::string kEmpty;
    auto it = headers.find(name);
    return it == headers.end() ? kEmpty : it->second;
}

const char* status_reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        default: return "Unknown";
    }
}

struct HttpServer::Impl {
    explicit Impl(HttpServerConfig c) : config(std::move(c)), acceptor(ioc) {}

    HttpServerConfig config;
    asio::io_context ioc;
    tcp::acceptor acceptor;
    std::map<std::string, std::map<std::string, Handler>> routes;  // path -> method -> handler
    std::vector<std::thread> threads;
    int port = 0;
    std::mutex mutex;
    std::condition_variable stopped_cv;
    bool is_stopped = false;
    bool is_started = false;

    void do_accept();
};

namespace {

class Connection;

// One request/response exchange. State is touched only on the connection's strand.
class Exchange final : public ResponseWriter, public std::enable_shared_from_this<Exchange> {
public:
    explicit Exchange(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}

    void send(HttpResponse response) override;
    void begin_stream(int status, HeaderList headers) override;
    void write(std::string chunk) override;
    void end() override;
    bool is_closed() const override { return is_closed_.load(std::memory_order_acquire); }
    void on_close(std::function<void()> fn) override;

    // Called on the strand by the connection when the peer went away mid-exchange.
    void fire_close();

    enum class State { kIdle, kStreaming, kDone };
    State state = State::kIdle;  // strand-only

private:
    std::shared_ptr<Connection> conn_;
    std::atomic<bool> is_closed_{false};
    std::mutex mutex_;
    std::vector<std::function<void()>> close_callbacks_;  // guarded by mutex_
};

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {}

    void start() { read_request(/*is_first=*/true); }

    template <typename Fn>
    void post(Fn&& fn) {
        asio::post(stream_.get_executor(), std::forward<Fn>(fn));
    }

    // Strand-only below.
    void send_bytes(std::string bytes, bool is_last) {
        if (is_closed_) {
            return;
        }
        if (is_last) {
            is_response_done_ = true;
        }
        pending_bytes_ += bytes.size();
        if (pending_bytes_ > server_.config.max_pending_write_bytes) {
            GANNET_LOG_WARN("http", "peer=%s slow client: %zu bytes unsent, closing", peer_.c_str(), pending_bytes_);
            on_disconnect();
            return;
        }
        out_.push_back(std::move(bytes));
        if (!is_writing_) {
            do_write();
        }
    }

    std::string response_head(int status, const HeaderList& headers) const {
        std::string s = str_printf("HTTP/1.1 %d %s\r\n", status, status_reason(status));
        for (const auto& [k, v] : headers) {
            s += k;
            s += ": ";
            s += v;
            s += "\r\n";
        }
        if (!is_keep_alive_) {
            s += "Connection: close\r\n";
        }
        return s;
    }

    bool is_closed() const { return is_closed_; }

private:
    void read_request(bool is_first) {
        parser_.emplace();
        parser_->body_limit(server_.config.max_body_bytes);
        parser_->header_limit(static_cast<uint32_t>(server_.config.max_header_bytes));
        stream_.expires_after(std::chrono::milliseconds(is_first ? server_.config.read_timeout_ms
                                                                 : server_.config.idle_timeout_ms));
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            reject(413, "request body exceeds the limit of " + std::to_string(server_.config.max_body_bytes) + " bytes");
            return;
        }
        if (ec == http::error::header_limit) {
            reject(431, "request headers too large");
            return;
        }
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
            close_socket();
            return;
        }
        if (ec) {
            if (buffer_.size() == 0 && !parser_->got_some()) {
                close_socket();
                return;
            }
            reject(400, "malformed HTTP request: " + ec.message());
            return;
        }
        stream_.expires_never();
        http::request<http::string_body> msg = parser_->release();
        is_keep_alive_ = msg.keep_alive();
        HttpRequest req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        req.path = req.target.substr(0, req.target.find('?'));
        for (const auto& field : msg) {
            std::string name(field.name_string());
            for (char& c : name) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            auto [it, inserted] = req.headers.emplace(name, std::string(field.value()));
            if (!inserted) {
                it->second += ", ";
                it->second += std::string(field.value());
            }
        }
        req.body = std::move(msg.body());
        req.peer = peer_;
        is_response_done_ = false;
        exchange_ = std::make_shared<Exchange>(shared_from_this());
        watch_disconnect();
        dispatch(std::move(req));
    }

    void dispatch(HttpRequest req) {
        std::shared_ptr<Exchange> ex = exchange_;
        auto route = server_.routes.find(req.path);
        if (route == server_.routes.end()) {
            ex->send(HttpResponse{404, {{"Content-Type", "application/json"}}, R"({"error":"not found"})"});
            return;
        }
        auto handler = route->second.find(req.method);
        if (handler == route->second.end()) {
            std::string allow;
            for (const auto& [m, h] : route->second) {
                allow += allow.empty() ? m : ", " + m;
            }
            ex->send(HttpResponse{405,
                                  {{"Content-Type", "application/json"}, {"Allow", allow}},
                                  R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Method not allowed."}})"});
            return;
        }
        try {
            handler->second(std::move(req), ex);
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("http", "peer=%s handler threw: %s", peer_.c_str(), e.what());
            ex->send(HttpResponse{500, {{"Content-Type", "application/json"}}, R"({"error":"internal error"})"});
        }
    }

    // Peeks when the socket turns readable: 0 bytes = the peer closed (cancel the exchange); data =
    // a pipelined request (stop watching); EAGAIN = a spurious wake-up of the edge-triggered
    // reactor (watch again). Reading nothing keeps pipelined bytes for the next parse.
    void watch_disconnect() {
        stream_.socket().async_wait(tcp::socket::wait_read,
                                    [self = shared_from_this(), ex = exchange_](beast::error_code ec) {
                                        if (ec || ex != self->exchange_ || self->is_response_done_) {
                                            return;
                                        }
                                        char byte;
                                        ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1,
                                                           MSG_PEEK | MSG_DONTWAIT);
                                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                                                       errno != EINTR)) {
                                            self->on_disconnect();
                                        } else if (n < 0) {
                                            self->watch_disconnect();
                                        }
                                    });
    }

    void reject(int status, const std::string& message) {
        is_keep_alive_ = false;
        stream_.expires_never();
        std::string body = R"({"error":")" + message + R"("})";
        std::string bytes = response_head(status, {{"Content-Type", "application/json"}}) +
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        is_response_done_ = true;
        out_.push_back(std::move(bytes));
        if (!is_writing_) {
            do_write();
        }
    }

    void do_write() {
        is_writing_ = true;
        asio::async_write(stream_, asio::buffer(out_.front()),
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
    }

    void on_write(beast::error_code ec) {
        if (ec) {
            on_disconnect();
            return;
        }
        pending_bytes_ -= std::min(pending_bytes_, out_.front().size());
        out_.pop_front();
        if (!out_.empty()) {
            do_write();
            return;
        }
        is_writing_ = false;
        if (is_response_done_) {
            finish_exchange();
        }
    }

    void finish_exchange() {
        exchange_.reset();
        if (is_keep_alive_ && !is_closed_) {
            read_request(/*is_first=*/false);
            return;
        }
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        drain_and_close();
    }

    // Closing with unread bytes (a rejected oversized body) makes the kernel send RST, and the
    // client may lose our 413 before reading it. So read and discard for a short while first.
    void drain_and_close() {
        if (is_closed_ || n_drained_ > kMaxDrainBytes) {
            close_socket();
            return;
        }
        drain_buffer_.resize(64 * 1024);
        stream_.expires_after(std::chrono::seconds(2));
        stream_.async_read_some(asio::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
            if (ec) {
                self->close_socket();
                return;
            }
            self->n_drained_ += n;
            self->drain_and_close();
        });
    }

public:
    void on_disconnect() {
        if (is_closed_) {
            return;
        }
        is_closed_ = true;
        if (exchange_) {
            std::shared_ptr<Exchange> ex = std::move(exchange_);
            ex->fire_close();
        }
        out_.clear();
        close_socket();
    }

    const std::string& peer() const { return peer_; }
    void set_peer(std::string p) { peer_ = std::move(p); }

private:
    void close_socket() {
        is_closed_ = true;
        beast::error_code ignored;
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    HttpServer::Impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::deque<std::string> out_;
    size_t pending_bytes_ = 0;
    bool is_writing_ = false;
    bool is_response_done_ = false;
    bool is_keep_alive_ = true;
    bool is_closed_ = false;
    std::shared_ptr<Exchange> exchange_;
    std::string peer_;
    static constexpr size_t kMaxDrainBytes = 64 << 20;  // past this, a client just gets the RST
    std::vector<char> drain_buffer_;
    size_t n_drained_ = 0;
};

void Exchange::send(HttpResponse response) {
    conn_->post([self = shared_from_this(), r = std::move(response)]() mutable {
        if (self->state != State::kIdle) {
            return;
        }
        self->state = State::kDone;
        std::string bytes = self->conn_->response_head(r.status, r.headers);
        bytes += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
        bytes += r.body;
        self->conn_->send_bytes(std::move(bytes), /*is_last=*/true);
    });
}

void Exchange::begin_stream(int status, HeaderList headers) {
    conn_->post([self = shared_from_this(), status, h = std::move(headers)]() mutable {
        if (self->state != State::kIdle) {
            return;
        }
        self->state = State::kStreaming;
        std::string bytes = self->conn_->response_head(status, h);
        bytes += "Transfer-Encoding: chunked\r\n\r\n";
        self->conn_->send_bytes(std::move(bytes), /*is_last=*/false);
    });
}

void Exchange::write(std::string chunk) {
    if (chunk.empty()) {
        return;
    }
    conn_->post([self = shared_from_this(), c = std::move(chunk)]() mutable {
        if (self->state != State::kStreaming) {
            return;
        }
        std::string bytes = str_printf("%zx\r\n", c.size());
        bytes += c;
        bytes += "\r\n";
        self->conn_->send_bytes(std::move(bytes), /*is_last=*/false);
    });
}

void Exchange::end() {
    conn_->post([self = shared_from_this()]() {
        if (self->state == State::kStreaming) {
            self->state = State::kDone;
            self->conn_->send_bytes("0\r\n\r\n", /*is_last=*/true);
        } else if (self->state == State::kIdle) {
            // A handler that ends without answering is a bug; the client still gets an answer.
            self->state = State::kDone;
            std::string body = R"({"error":"handler ended without a response"})";
            std::string bytes = self->conn_->response_head(500, {{"Content-Type", "application/json"}});
            bytes += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
            self->conn_->send_bytes(std::move(bytes), /*is_last=*/true);
        }
    });
}

void Exchange::on_close(std::function<void()> fn) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!is_closed_.load(std::memory_order_acquire)) {
            close_callbacks_.push_back(std::move(fn));
            return;
        }
    }
    fn();
}

void Exchange::fire_close() {
    std::vector<std::function<void()>> callbacks;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        is_closed_.store(true, std::memory_order_release);
        callbacks.swap(close_callbacks_);
    }
    for (auto& fn : callbacks) {
        fn();
    }
}

}  // namespace

void HttpServer::Impl::do_accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
                return;
            }
            // EMFILE and friends: keep accepting; the listener must outlive a burst.
            GANNET_LOG_WARN("http", "accept failed: %s", ec.message().c_str());
        } else {
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            tcp::endpoint ep = socket.remote_endpoint(ignored);
            auto conn = std::make_shared<Connection>(std::move(socket), *this);
            conn->set_peer(ep.address().to_string() + ":" + std::to_string(ep.port()));
            conn->start();
        }
        do_accept();
    });
}

HttpServer::HttpServer(HttpServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::add_route(const std::string& method, const std::string& path, Handler handler) {
    impl_->routes[path][method] = std::move(handler);
}

Status HttpServer::start() {
    beast::error_code ec;
    asio::ip::address address = asio::ip::make_address(impl_->config.host, ec);
    if (ec) {
        if (impl_->config.host == "localhost") {
            address = asio::ip::make_address("127.0.0.1");
        } else {
            return make_error(ErrorCode::kInvalidArgument, "http: bad host '%s': %s", impl_->config.host.c_str(),
                              ec.message().c_str());
        }
    }
    tcp::endpoint endpoint(address, static_cast<uint16_t>(impl_->config.port));
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        impl_->acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return make_error(ErrorCode::kUnavailable, "http: cannot listen on %s:%d: %s", impl_->config.host.c_str(),
                          impl_->config.port, ec.message().c_str());
    }
    impl_->port = impl_->acceptor.local_endpoint().port();
    impl_->do_accept();
    int n = std::max(1, impl_->config.n_io_threads);
    for (int i = 0; i < n; ++i) {
        impl_->threads.emplace_back([this] {
            for (;;) {
                try {
                    impl_->ioc.run();
                    return;
                } catch (const std::exception& e) {
                    // A throwing completion handler must not take the whole server down.
                    GANNET_LOG_ERROR("http", "I/O thread caught: %s", e.what());
                }
            }
        });
    }
    impl_->is_started = true;
    return Status();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::stop() {
    {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        if (impl_->is_stopped) {
            return;
        }
        impl_->is_stopped = true;
    }
    asio::post(impl_->ioc, [this] {
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
    });
    impl_->ioc.stop();
    for (auto& t : impl_->threads) {
        if (t.joinable()) {
            t.join();
        }
    }
    impl_->stopped_cv.notify_all();
}

void HttpServer::wait() {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->stopped_cv.wait(lock, [this] { return impl_->is_stopped; });
}

}  // namespace gannet::server
