// Test helper: a one-thread TCP server on 127.0.0.1:0 that answers each connection with canned
// bytes written in the given pieces (so the client sees awkward splits over a real socket) and
// records what the client sent. Test-only; not part of gannet_bench.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gannet::bench {

class LoopbackServer {
public:
    // Every connection gets `pieces`, each sent with its own write and a short pause in between.
    // After the pieces, the connection stays open for hold_ms (to test client timeouts).
    explicit LoopbackServer(std::vector<std::string> pieces, int n_connections = 1, int hold_ms = 0)
        : pieces_(std::move(pieces)), hold_ms_(hold_ms) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        ::listen(fd_, 16);
        socklen_t len = sizeof(a);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this, n_connections] { serve(n_connections); });
    }
    ~LoopbackServer() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    std::vector<std::string> requests() {
        std::lock_guard<std::mutex> lock(mu_);
        return requests_;
    }

private:
    void serve(int n_connections) {
        for (int i = 0; i < n_connections; ++i) {
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) {
                return;
            }
            std::string req = read_request(c);
            {
                std::lock_guard<std::mutex> lock(mu_);
                requests_.push_back(req);
            }
            for (const std::string& p : pieces_) {
                ::send(c, p.data(), p.size(), MSG_NOSIGNAL);
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms_));
            ::close(c);
        }
    }
    static std::string read_request(int c) {
        std::string req;
        char buf[4096];
        size_t need = std::string::npos;
        while (need == std::string::npos || req.size() < need) {
            const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            req.append(buf, static_cast<size_t>(n));
            const size_t end = req.find("\r\n\r\n");
            if (need == std::string::npos && end != std::string::npos) {
                const size_t cl = req.find("Content-Length: ");
                need = end + 4 + (cl != std::string::npos && cl < end ? std::stoul(req.substr(cl + 16)) : 0);
            }
        }
        return req;
    }

    int fd_ = -1;
    int port_ = 0;
    std::vector<std::string> pieces_;
    int hold_ms_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> requests_;
};

}  // namespace gannet::bench
