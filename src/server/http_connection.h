// One accepted HTTP/1.1 connection of HttpServer and the ResponseWriter of its current exchange.
// Internal to src/server/ (http_server.cc is the only user).
// Lifetime, in one place: a Connection is owned by the completion handlers of its own pending
// operations and, while a request is being answered, by its own `self_` reference; both are
// touched only on the connection's strand, so it is always destroyed on that strand and never
// while one of its operations is in flight. The ResponseWriter a handler holds refers to the
// connection weakly and only posts onto the strand: a handler or engine thread that drops the
// last writer destroys nothing the I/O threads use.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

// clang-format off
#include <utility>  // before Asio: boost 1.74's awaitable.hpp uses std::exchange without including it
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include "server/admission.h"
#include "server/http_server.h"

namespace gannet::server {

class Connection;
class Exchange;

// Exact paths, then prefixes ending in '/' ("/v1/models/" serves "/v1/models/{id}"); the longest
// matching prefix wins. Each maps method -> handler.
struct RouteTable {
    using Methods = std::map<std::string, Handler>;
    std::map<std::string, Methods> exact;
    std::map<std::string, Methods> prefixes;
    // nullptr when no route matches the path.
    const Methods* find(const std::string& path) const;
};

// Whether the server's io_context still exists. A ResponseWriter may outlive the server (an engine
// callback, an MCP ticker or task thread answering at shutdown); it posts onto its strand only under
// this lock while the io_context lives, since posting to a destroyed one touches freed memory.
class IoLife {
public:
    template <typename Fn>
    void run_if_alive(Fn&& fn) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (is_alive_) {
            fn();
        }
    }
    void end() {
        std::lock_guard<std::mutex> lock(mutex_);
        is_alive_ = false;
    }

private:
    std::mutex mutex_;
    bool is_alive_ = true;  // guarded by mutex_
};

// The server's live connections, so stop() can release the ones its I/O threads left behind.
// Thread-safe (connections come and go on every I/O thread).
class ConnectionSet {
public:
    // Shared with every exchange; HttpServer ends it before destroying its io_context.
    const std::shared_ptr<IoLife>& life() const { return life_; }
    void add(Connection* c);
    void remove(Connection* c);
    // Strong references to every connection still alive (skips ones being destroyed).
    std::vector<std::shared_ptr<Connection>> snapshot();
    size_t size();

private:
    std::shared_ptr<IoLife> life_ = std::make_shared<IoLife>();
    std::mutex mutex_;
    std::unordered_set<Connection*> set_;
};

// Whether a piece of bytes ends the response (then the connection reads the next request or closes).
enum class IsLast { kNo, kYes };

class Connection : public std::enable_shared_from_this<Connection> {
public:
    using Socket = boost::asio::ip::tcp::socket;

    // `config`, `routes`, `set` and `admission` belong to the server and outlive every connection.
    Connection(Socket socket, const HttpServerConfig& config, const RouteTable& routes, ConnectionSet& set,
               Admission& admission);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();  // REQUIRES: called once, on the strand (or before any operation is started)
    const boost::asio::any_io_executor& strand() const { return strand_; }

    // Strand-only below.
    // Queues bytes for writing. A client more than max_pending_write_bytes behind is disconnected.
    void send_bytes(std::string bytes, IsLast is_last);
    std::string response_head(int status, const HeaderList& headers) const;
    // The peer went away (or is dropped): fires the exchange's close callbacks, closes the socket
    // and releases the exchange's hold on the connection. Idempotent. Buffers of a write in flight
    // stay alive until its completion handler runs.
    void disconnect(const char* why);
    // After the I/O threads are joined (HttpServer::stop): the same as disconnect, from the
    // controlling thread, so that no connection outlives the server through its own references.
    void abandon() { disconnect("server stopped"); }

private:
    void read_request(bool is_first);
    void on_read(boost::beast::error_code ec);
    void dispatch(HttpRequest req);
    // The admission and gate checks: a refusal answers the exchange and returns it.
    std::optional<HttpResponse> admit(const HttpRequest& req);
    void watch_disconnect();
    // An OpenAI-shaped error ({"error": {"message", "type", "param", "code"}}) that ends the connection.
    void reject(int status, const std::string& message, const std::string& code);
    void do_write();
    void on_write(boost::beast::error_code ec);
    void finish_exchange();
    void drain_and_close();
    void close_socket();

    boost::beast::tcp_stream stream_;
    boost::asio::any_io_executor strand_;  // the socket's executor: a strand made by the acceptor
    const HttpServerConfig& config_;
    const RouteTable& routes_;
    ConnectionSet& set_;
    Admission& admission_;
    Admission::Ticket ticket_;  // held while an admitted exchange is in flight
    std::string peer_;
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    std::deque<std::string> out_;  // out_.front() is the buffer of the write in flight, if any
    size_t pending_bytes_ = 0;
    bool is_writing_ = false;
    bool is_response_done_ = false;
    bool is_keep_alive_ = true;
    bool is_closed_ = false;
    std::shared_ptr<Exchange> exchange_;                // the request being answered, if any
    std::shared_ptr<Connection> self_;                  // set while exchange_ is: the handler may answer much later
    static constexpr size_t kMaxDrainBytes = 64 << 20;  // past this, a client just gets the RST
    std::vector<char> drain_buffer_;
    size_t n_drained_ = 0;
};

}  // namespace gannet::server
