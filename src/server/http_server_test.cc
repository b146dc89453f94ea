#include "server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace gannet::server {
namespace {

// Sends raw bytes and reads until the peer closes or `timeout_ms` passes.
std::string roundtrip(int port, const std::string& request, int timeout_ms = 2000) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)!write(fd, request.data(), request.size());
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

TEST(HttpServerTest, RoutesAndRejects) {
    HttpServerConfig c;
    c.max_body_bytes = 16;
    HttpServer s(c);
    s.add_route("POST", "/echo", [](HttpRequest r, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {{"Content-Type", "text/plain"}}, r.header("x-a") + ":" + r.body});
    });
    ASSERT_TRUE(s.start().ok());
    std::string ok = roundtrip(s.port(), "POST /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    EXPECT_NE(ok.find("200 OK"), std::string::npos);
    EXPECT_NE(ok.find("1:hi"), std::string::npos);
    EXPECT_NE(roundtrip(s.port(), "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find("404"), std::string::npos);
    std::string wrong = roundtrip(s.port(), "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(wrong.find("405"), std::string::npos);
    EXPECT_NE(wrong.find("Allow: POST"), std::string::npos);
    std::string big = roundtrip(s.port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    EXPECT_NE(big.find("413"), std::string::npos);
    EXPECT_NE(roundtrip(s.port(), "BLAH\r\n\r\n").find("400"), std::string::npos);
    s.stop();
}

TEST(HttpServerTest, StreamsChunksFromAnotherThread) {
    HttpServer s(HttpServerConfig{});
    s.add_route("GET", "/sse", [](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        std::thread([w] {
            w->begin_stream(200, {{"Content-Type", "text/event-stream"}});
            w->write("data: 1\n\n");
            w->write("data: 2\n\n");
            w->end();
        }).detach();
    });
    ASSERT_TRUE(s.start().ok());
    std::string out = roundtrip(s.port(), "GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos);
    EXPECT_NE(out.find("data: 1\n\n\r\n"), std::string::npos);
    EXPECT_NE(out.find("0\r\n\r\n"), std::string::npos);
    s.stop();
}

TEST(HttpServerTest, ClientDisconnectFiresOnClose) {
    HttpServer s(HttpServerConfig{});
    std::atomic<bool> closed{false};
    std::shared_ptr<ResponseWriter> held;
    std::atomic<bool> started{false};
    s.add_route("GET", "/hang", [&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->on_close([&] { closed = true; });
        held = w;  // never answers: the client gives up
        started = true;
    });
    ASSERT_TRUE(s.start().ok());
    roundtrip(s.port(), "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n", /*timeout_ms=*/200);
    for (int i = 0; i < 100 && !closed; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(started);
    EXPECT_TRUE(closed);
    EXPECT_TRUE(held->is_closed());
    held->send(HttpResponse{});  // harmless after the peer left
    s.stop();
}

}  // namespace
}  // namespace gannet::server
