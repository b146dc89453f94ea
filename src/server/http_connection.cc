// Connection and Exchange of HttpServer. Beast parses requests (limits, chunked bodies, keep-alive)
// and responses go out as preformatted bytes, one write path for plain and streamed answers.
// While a request is in flight the socket is watched for readability: readable with zero bytes
// available means the peer closed, which is how a client cancels (MCP: "closing the SSE stream IS
// the cancellation"). Everything below runs on the connection's strand except the Exchange's
// public methods, which only post onto it (see http_connection.h for who owns what).
#include "server/http_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <functional>
#include <utility>

#include "base/log.h"
#include "base/status.h"
#include "server/openai_json.h"

namespace gannet::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Errors the HTTP layer answers itself, in OpenAI's shape: every route of this server speaks it
// (MCP clients read the status; the JSON-RPC errors of /mcp come from the MCP server).
HttpResponse error_response(int status, const std::string& message, const std::string& code,
                            HeaderList extra_headers = {}) {
    const OpenAiError e{.http_status = status,
                        .message = message,
                        .type = status >= 500 ? "server_error" : "invalid_request_error",
                        .param = "",
                        .code = code};
    HeaderList headers = {{"Content-Type", "application/json"}};
    headers.insert(headers.end(), extra_headers.begin(), extra_headers.end());
    return HttpResponse{status, std::move(headers), error_body(e)};
}

}  // namespace

const RouteTable::Methods* RouteTable::find(const std::string& path) const {
    if (auto it = exact.find(path); it != exact.end()) {
        return &it->second;
    }
    const Methods* best = nullptr;
    size_t best_size = 0;
    for (const auto& [prefix, methods] : prefixes) {
        if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 && prefix.size() > best_size) {
            best = &methods;
            best_size = prefix.size();
        }
    }
    return best;
}

// One request/response exchange: the ResponseWriter a handler gets. Its state is touched only on
// the connection's strand; it holds the connection weakly, so dropping it on any thread is safe.
class Exchange final : public ResponseWriter, public std::enable_shared_from_this<Exchange> {
public:
    Exchange(std::weak_ptr<Connection> conn, std::shared_ptr<IoLife> life)
        : conn_(std::move(conn)), life_(std::move(life)) {}

    void send(HttpResponse response) override;
    void begin_stream(int status, HeaderList headers) override;
    void write(std::string chunk) override;
    void end() override;
    bool is_closed() const override { return is_closed_.load(std::memory_order_acquire); }
    void on_close(std::function<void()> fn) override;

    // Strand-only: the connection is gone or going; runs the close callbacks once.
    void fire_close();

private:
    enum class State { kIdle, kStreaming, kDone };

    // Runs fn(self, conn) on the strand while the connection still exists. The posted handler owns
    // the connection reference taken here, so if it turns out to be the last one it is released on
    // the strand (or by the io_context's destruction), never on the calling thread. Nothing here
    // keeps an executor: one copied into the Exchange would outlive the io_context when a handler
    // keeps its writer past the server (AddressSanitizer found that).
    // The post happens under life_, so a writer answering after shutdown (an MCP ticker, a task
    // thread) never posts into an io_context being destroyed.
    template <typename Fn>
    void on_strand(Fn&& fn) {
        life_->run_if_alive([&] {
            std::shared_ptr<Connection> conn = conn_.lock();
            if (conn == nullptr) {
                return;
            }
            const asio::any_io_executor strand = conn->strand();
            asio::post(strand, [self = shared_from_this(), conn = std::move(conn),
                                fn = std::forward<Fn>(fn)]() mutable { fn(*self, *conn); });
        });
    }

    std::weak_ptr<Connection> conn_;
    std::shared_ptr<IoLife> life_;
    State state_ = State::kIdle;  // strand-only
    std::atomic<bool> is_closed_{false};
    std::mutex mutex_;
    std::vector<std::function<void()>> close_callbacks_;  // guarded by mutex_
};

void Exchange::send(HttpResponse response) {
    on_strand([r = std::move(response)](Exchange& ex, Connection& conn) {
        if (ex.state_ != State::kIdle) {
            return;
        }
        ex.state_ = State::kDone;
        std::string bytes = conn.response_head(r.status, r.headers);
        bytes += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
        bytes += r.body;
        conn.send_bytes(std::move(bytes), IsLast::kYes);
    });
}

void Exchange::begin_stream(int status, HeaderList headers) {
    on_strand([status, h = std::move(headers)](Exchange& ex, Connection& conn) {
        if (ex.state_ != State::kIdle) {
            return;
        }
        ex.state_ = State::kStreaming;
        std::string bytes = conn.response_head(status, h);
        bytes += "Transfer-Encoding: chunked\r\n\r\n";
        conn.send_bytes(std::move(bytes), IsLast::kNo);
    });
}

void Exchange::write(std::string chunk) {
    if (chunk.empty() || is_closed()) {
        return;
    }
    on_strand([c = std::move(chunk)](Exchange& ex, Connection& conn) {
        if (ex.state_ != State::kStreaming) {
            return;
        }
        std::string bytes = str_printf("%zx\r\n", c.size());
        bytes += c;
        bytes += "\r\n";
        conn.send_bytes(std::move(bytes), IsLast::kNo);
    });
}

void Exchange::end() {
    on_strand([](Exchange& ex, Connection& conn) {
        if (ex.state_ == State::kStreaming) {
            ex.state_ = State::kDone;
            conn.send_bytes("0\r\n\r\n", IsLast::kYes);
        } else if (ex.state_ == State::kIdle) {
            // A handler that ends without answering is a bug; the client still gets an answer.
            ex.state_ = State::kDone;
            const HttpResponse r = error_response(500, "the handler ended without a response", "");
            std::string bytes = conn.response_head(r.status, r.headers);
            bytes += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
            conn.send_bytes(std::move(bytes), IsLast::kYes);
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
    state_ = State::kDone;
    std::vector<std::function<void()>> callbacks;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        is_closed_.store(true, std::memory_order_release);
        callbacks.swap(close_callbacks_);
    }
    for (auto& fn : callbacks) {
        try {
            fn();
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("http", "close callback threw: %s", e.what());
        }
    }
}

void ConnectionSet::add(Connection* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    set_.insert(c);
}

void ConnectionSet::remove(Connection* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    set_.erase(c);
}

std::vector<std::shared_ptr<Connection>> ConnectionSet::snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<Connection>> out;
    for (Connection* c : set_) {
        if (std::shared_ptr<Connection> p = c->weak_from_this().lock()) {
            out.push_back(std::move(p));
        }
    }
    return out;
}

size_t ConnectionSet::size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return set_.size();
}

Connection::Connection(Socket socket, const HttpServerConfig& config, const RouteTable& routes, ConnectionSet& set,
                       Admission& admission)
    : stream_(std::move(socket)),
      strand_(stream_.get_executor()),
      config_(config),
      routes_(routes),
      set_(set),
      admission_(admission) {
    beast::error_code ec;
    tcp::endpoint ep = stream_.socket().remote_endpoint(ec);
    peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    set_.add(this);
}

Connection::~Connection() {
    set_.remove(this);
}

void Connection::start() {
    read_request(/*is_first=*/true);
}

void Connection::send_bytes(std::string bytes, IsLast is_last) {
    if (is_closed_) {
        return;
    }
    if (is_last == IsLast::kYes) {
        is_response_done_ = true;
        // The handler is done: free its admission slot now, not when the last write completes,
        // or a client that read the answer and sent its next request at once could race the
        // completion handler into a 429. What is still unsent is bounded by max_pending_write_bytes.
        ticket_.release();
    }
    pending_bytes_ += bytes.size();
    if (pending_bytes_ > config_.max_pending_write_bytes) {
        GANNET_LOG_WARN("http", "peer=%s slow client: %zu bytes unsent, closing", peer_.c_str(), pending_bytes_);
        disconnect("slow client");
        return;
    }
    out_.push_back(std::move(bytes));
    if (!is_writing_) {
        do_write();
    }
}

std::string Connection::response_head(int status, const HeaderList& headers) const {
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

void Connection::read_request(bool is_first) {
    parser_.emplace();
    parser_->body_limit(config_.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(config_.max_header_bytes));
    stream_.expires_after(std::chrono::milliseconds(is_first ? config_.read_timeout_ms : config_.idle_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
}

void Connection::on_read(beast::error_code ec) {
    if (is_closed_) {
        return;
    }
    if (ec == http::error::body_limit) {
        reject(413, "request body exceeds the limit of " + std::to_string(config_.max_body_bytes) + " bytes",
               "request_too_large");
        return;
    }
    if (ec == http::error::header_limit) {
        reject(431, "request headers exceed the limit of " + std::to_string(config_.max_header_bytes) + " bytes",
               "request_header_fields_too_large");
        return;
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof
        || ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
        close_socket();
        return;
    }
    if (ec) {
        if (buffer_.size() == 0 && !parser_->got_some()) {
            close_socket();
            return;
        }
        reject(400, "malformed HTTP request: " + ec.message(), "");
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
    exchange_ = std::make_shared<Exchange>(weak_from_this(), set_.life());
    self_ = shared_from_this();
    watch_disconnect();
    dispatch(std::move(req));
}

void Connection::dispatch(HttpRequest req) {
    std::shared_ptr<Exchange> ex = exchange_;
    const RouteTable::Methods* methods = routes_.find(req.path);
    if (methods == nullptr) {
        ex->send(error_response(404, "Invalid URL (" + req.method + " " + req.path + ")", ""));
        return;
    }
    auto handler = methods->find(req.method);
    if (handler == methods->end()) {
        std::string allow;
        for (const auto& [m, h] : *methods) {
            allow += allow.empty() ? m : ", " + m;
        }
        ex->send(error_response(
            405, "Method " + req.method + " is not allowed for " + req.path + " (allowed: " + allow + ")",
            "method_not_allowed", {{"Allow", allow}}));
        return;
    }
    if (std::optional<HttpResponse> refusal = admit(req)) {
        ex->send(std::move(*refusal));
        return;
    }
    // Thread entry for the handler: whatever escapes it becomes a 500, never an abort.
    try {
        handler->second(std::move(req), ex);
    } catch (const std::exception& e) {
        GANNET_LOG_ERROR("http", "peer=%s handler threw: %s", peer_.c_str(), e.what());
        ex->send(error_response(500, "internal error", ""));
    } catch (...) {
        GANNET_LOG_ERROR("http", "peer=%s handler threw a non-exception", peer_.c_str());
        ex->send(error_response(500, "internal error", ""));
    }
}

std::optional<HttpResponse> Connection::admit(const HttpRequest& req) {
    const int refusal = admission_.try_admit(client_of_peer(peer_), ticket_);
    if (refusal != 0) {
        GANNET_LOG_WARN("http", "peer=%s %s: %d", peer_.c_str(), req.path.c_str(), refusal);
        const std::string what =
            refusal == 429
                ? "too many requests in flight from this client (limit "
                      + std::to_string(config_.max_requests_per_client) + ")"
                : "server at capacity (" + std::to_string(config_.max_requests_in_flight) + " requests in flight)";
        return HttpResponse{
            refusal,
            {{"Content-Type", "application/json"}, {"Retry-After", std::to_string(config_.retry_after_s)}},
            R"({"error":{"message":"http: )" + what + R"(","type":"rate_limit_error"}})"};
    }
    if (config_.gate) {
        return config_.gate(req);
    }
    return std::nullopt;
}

// Peeks when the socket turns readable: 0 bytes = the peer closed (cancel the exchange); data =
// a pipelined request (stop watching); EAGAIN = a spurious wake-up of the edge-triggered
// reactor (watch again). Reading nothing keeps pipelined bytes for the next parse.
void Connection::watch_disconnect() {
    stream_.socket().async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), ex = exchange_](beast::error_code ec) {
            if (ec || self->is_closed_ || ex != self->exchange_ || self->is_response_done_) {
                return;
            }
            char byte;
            ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                self->disconnect("peer closed");
            } else if (n < 0) {
                self->watch_disconnect();
            }
        });
}

void Connection::reject(int status, const std::string& message, const std::string& code) {
    is_keep_alive_ = false;
    stream_.expires_never();
    const HttpResponse r = error_response(status, message, code);
    std::string bytes =
        response_head(r.status, r.headers) + "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    send_bytes(std::move(bytes), IsLast::kYes);
}

void Connection::do_write() {
    is_writing_ = true;
    asio::async_write(stream_, asio::buffer(out_.front()),
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
}

// The only place that pops out_: a disconnect while the write was in flight leaves its buffer
// in place (the write may have completed successfully just before), so it is freed here.
void Connection::on_write(beast::error_code ec) {
    is_writing_ = false;
    if (is_closed_) {
        out_.clear();
        pending_bytes_ = 0;
        return;
    }
    if (ec) {
        disconnect("write failed");
        out_.clear();
        pending_bytes_ = 0;
        return;
    }
    pending_bytes_ -= std::min(pending_bytes_, out_.front().size());
    out_.pop_front();
    if (!out_.empty()) {
        do_write();
        return;
    }
    if (is_response_done_) {
        finish_exchange();
    }
}

void Connection::finish_exchange() {
    exchange_.reset();
    ticket_.release();
    // `self` keeps this alive until the end of the call; the read or drain below holds it after.
    std::shared_ptr<Connection> self = std::move(self_);
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
void Connection::drain_and_close() {
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

void Connection::disconnect(const char* why) {
    if (is_closed_) {
        return;
    }
    GANNET_LOG_DEBUG("http", "peer=%s disconnect: %s", peer_.c_str(), why);
    // `self` keeps this alive until the end of the call even when self_ was the last reference.
    std::shared_ptr<Connection> self = std::move(self_);
    close_socket();
    ticket_.release();
    if (std::shared_ptr<Exchange> ex = std::move(exchange_)) {
        ex->fire_close();
    }
    if (!is_writing_) {
        out_.clear();
        pending_bytes_ = 0;
    }
}

void Connection::close_socket() {
    is_closed_ = true;
    beast::error_code ignored;
    stream_.socket().close(ignored);
}

}  // namespace gannet::server
