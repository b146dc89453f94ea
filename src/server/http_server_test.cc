#include "server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

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
    std::string ok = roundtrip(
        s.port(), "POST /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    EXPECT_NE(ok.find("200 OK"), std::string::npos);
    EXPECT_NE(ok.find("1:hi"), std::string::npos);
    // Every error the HTTP layer writes is OpenAI-shaped: {"error": {"message", "type", "param", "code"}}.
    std::string missing = roundtrip(s.port(), "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(missing.find("404 Not Found"), std::string::npos);
    EXPECT_NE(missing.find(R"j({"error":{"code":null,"message":"Invalid URL (GET /nope)","param":null,)j"
                           R"("type":"invalid_request_error"}})"),
              std::string::npos)
        << missing;
    std::string wrong = roundtrip(s.port(), "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(wrong.find("405"), std::string::npos);
    EXPECT_NE(wrong.find("Allow: POST"), std::string::npos);
    const std::string not_allowed =
        R"j("code":"method_not_allowed","message":"Method GET is not allowed for /echo (allowed: POST)")j";
    EXPECT_NE(wrong.find(not_allowed), std::string::npos) << wrong;
    std::string big =
        roundtrip(s.port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    EXPECT_NE(big.find("413"), std::string::npos);
    EXPECT_NE(
        big.find(R"({"error":{"code":"request_too_large","message":"request body exceeds the limit of 16 bytes")"),
        std::string::npos)
        << big;
    std::string bad = roundtrip(s.port(), "BLAH\r\n\r\n");
    EXPECT_NE(bad.find("400"), std::string::npos);
    EXPECT_NE(bad.find(R"("type":"invalid_request_error"}})"), std::string::npos) << bad;
    s.stop();
}

TEST(HttpServerTest, HeadersOverTheLimitGet431) {
    HttpServerConfig c;
    c.max_header_bytes = 1024;
    HttpServer s(c);
    s.add_route("GET", "/x", [](HttpRequest, std::shared_ptr<ResponseWriter> w) { w->send(HttpResponse{}); });
    ASSERT_TRUE(s.start().ok());
    std::string out =
        roundtrip(s.port(), "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
    EXPECT_NE(out.find("431 Request Header Fields Too Large"), std::string::npos) << out;
    EXPECT_NE(out.find(R"({"error":{"code":"request_header_fields_too_large",)"
                       R"("message":"request headers exceed the limit of 1024 bytes")"),
              std::string::npos)
        << out;
    s.stop();
}

TEST(HttpServerTest, PrefixRoutesServeLongerPathsAndExactRoutesWin) {
    HttpServer s(HttpServerConfig{});
    s.add_route("GET", "/v1/models", [](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {}, "list"});
    });
    s.add_prefix_route("GET", "/v1/models/", [](HttpRequest r, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {}, "one:" + r.path.substr(11)});
    });
    ASSERT_TRUE(s.start().ok());
    auto get = [&](const std::string& path) {
        return roundtrip(s.port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    };
    EXPECT_NE(get("/v1/models").find("\r\n\r\nlist"), std::string::npos);
    EXPECT_NE(get("/v1/models/gannet-default").find("\r\n\r\none:gannet-default"), std::string::npos);
    EXPECT_NE(get("/v1/models/").find("404"), std::string::npos);  // the prefix alone names nothing
    EXPECT_NE(get("/v1/modelsX").find("404"), std::string::npos);
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

// Connects, sends `request`, reads `n_read` bytes and hangs up (RST when `is_reset`).
void hang_up_after(int port, const std::string& request, size_t n_read, bool is_reset) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)!write(fd, request.data(), request.size());
    char buf[256];
    for (size_t got = 0; got < n_read;) {
        ssize_t n = read(fd, buf, std::min(sizeof(buf), n_read - got));
        ASSERT_GT(n, 0);
        got += static_cast<size_t>(n);
    }
    if (is_reset) {
        linger lg{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(fd);
}

// Issue #13: a write that completed just before the disconnect was noticed used to pop an empty
// queue (double free). A producer thread streams as fast as it can while clients hang up after
// 1..300 bytes; the server must survive and every stream must see its close.
TEST(HttpServerTest, ClientsHangingUpMidStreamLeaveTheServerServing) {
    HttpServer s(HttpServerConfig{});
    std::atomic<int> n_closed{0};
    std::atomic<int> n_streams{0};
    std::vector<std::thread> producers;
    std::mutex producers_mutex;
    s.add_route("GET", "/sse", [&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        ++n_streams;
        w->on_close([&] { ++n_closed; });
        w->begin_stream(200, {{"Content-Type", "text/event-stream"}});
        std::lock_guard<std::mutex> lock(producers_mutex);
        // Streams bursts until the client is gone (or, far past any client, 5 s), so every stream
        // is cut with writes in flight. Bursts, not a spin: 2 cores serve 200 of these.
        producers.emplace_back([w] {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            for (int i = 0; !w->is_closed() && std::chrono::steady_clock::now() < deadline; ++i) {
                w->write("data: " + std::to_string(i) + "\n\n");
                if (i % 32 == 31) {
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                }
            }
            w->end();
        });
    });
    s.add_route("GET", "/ok", [](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {{"Content-Type", "text/plain"}}, "ok"});
    });
    ASSERT_TRUE(s.start().ok());
    constexpr int kClients = 200;
    for (int i = 0; i < kClients; ++i) {
        hang_up_after(s.port(), "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n", 1 + (i * 37) % 300, /*is_reset=*/i % 3 == 0);
    }
    std::string ok = roundtrip(s.port(), "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(ok.find("200 OK"), std::string::npos);
    for (int i = 0; i < 200 && n_closed < kClients; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(n_streams, kClients);
    EXPECT_EQ(n_closed, kClients);
    s.stop();
    std::lock_guard<std::mutex> lock(producers_mutex);
    for (std::thread& t : producers) {
        t.join();
    }
}

TEST(HttpServerTest, ThrowingHandlerGets500AndTheServerKeepsServing) {
    HttpServer s(HttpServerConfig{});
    s.add_route("GET", "/throw",
                [](HttpRequest, std::shared_ptr<ResponseWriter>) { throw std::runtime_error("handler bug"); });
    ASSERT_TRUE(s.start().ok());
    for (int i = 0; i < 3; ++i) {
        std::string out = roundtrip(s.port(), "GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        EXPECT_NE(out.find("500 Internal Server Error"), std::string::npos) << out;
        EXPECT_NE(out.find(R"("type":"server_error"}})"), std::string::npos) << out;
    }
    s.stop();
}

// A handler that never answers holds its connection; stop() must still release it (and tell the
// handler the client is gone) instead of leaking it.
TEST(HttpServerTest, StopReleasesConnectionsWithAnUnansweredRequest) {
    std::atomic<bool> closed{false};
    std::shared_ptr<ResponseWriter> held;
    std::atomic<bool> started{false};
    {
        HttpServer s(HttpServerConfig{});
        s.add_route("GET", "/hang", [&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
            w->on_close([&] { closed = true; });
            held = w;
            started = true;
        });
        ASSERT_TRUE(s.start().ok());
        std::thread client([&] { roundtrip(s.port(), "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n", 3000); });
        for (int i = 0; i < 300 && !started; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ASSERT_TRUE(started);
        EXPECT_FALSE(closed);
        s.stop();
        EXPECT_TRUE(closed);
        client.join();  // the server closed the socket, so the client's read ends at once
    }
    EXPECT_TRUE(held->is_closed());
    held->write("late");  // the server is gone: harmless
}

}  // namespace
}  // namespace gannet::server
