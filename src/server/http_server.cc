// HttpServer: the listener, the I/O threads and the route table. Connections and their exchanges
// live in http_connection.cc.
#include "server/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "server/http_connection.h"

namespace gannet::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
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
    explicit Impl(HttpServerConfig c)
        : config(std::move(c)),
          admission(config.max_requests_in_flight, config.max_requests_per_client),
          acceptor(ioc) {}
    // Writers that outlive the server stop posting before ioc (declared below) is destroyed.
    ~Impl() { connections.life()->end(); }

    HttpServerConfig config;
    Admission admission;  // before connections: their tickets release into it
    // Declared before ioc: connections still queued in ioc unregister themselves when it is destroyed.
    ConnectionSet connections;
    asio::io_context ioc;
    tcp::acceptor acceptor;
    RouteTable routes;
    std::vector<std::thread> threads;
    int port = 0;
    std::mutex mutex;
    std::condition_variable stopped_cv;
    bool is_stopped = false;
    bool is_started = false;

    void do_accept();
    void run_io_thread();
};

void HttpServer::Impl::do_accept() {
    // Each connection gets its own strand: its handlers never run concurrently with each other.
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
            std::make_shared<Connection>(std::move(socket), config, routes, connections, admission)->start();
        }
        do_accept();
    });
}

// Thread entry of an I/O thread: a throwing completion handler must not take the server down.
void HttpServer::Impl::run_io_thread() {
    for (;;) {
        try {
            ioc.run();
            return;
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("http", "I/O thread caught: %s", e.what());
        } catch (...) {
            GANNET_LOG_ERROR("http", "I/O thread caught a non-exception");
        }
    }
}

HttpServer::HttpServer(HttpServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::add_route(const std::string& method, const std::string& path, Handler handler) {
    impl_->routes.exact[path][method] = std::move(handler);
}

void HttpServer::add_prefix_route(const std::string& method, const std::string& prefix, Handler handler) {
    impl_->routes.prefixes[prefix][method] = std::move(handler);
}

const HttpServerConfig& HttpServer::config() const {
    return impl_->config;
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
        impl_->threads.emplace_back([this] { impl_->run_io_thread(); });
    }
    impl_->is_started = true;
    return Status();
}

int HttpServer::port() const {
    return impl_->port;
}

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
    // No I/O thread runs now: release what connections still hold of themselves (an exchange the
    // handler never answered) and tell their handlers the client is gone.
    for (const std::shared_ptr<Connection>& c : impl_->connections.snapshot()) {
        c->abandon();
    }
    impl_->stopped_cv.notify_all();
}

void HttpServer::wait() {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->stopped_cv.wait(lock, [this] { return impl_->is_stopped; });
}

}  // namespace gannet::server
