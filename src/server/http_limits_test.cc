// The limits of HttpServer against real sockets on 127.0.0.1: body and header sizes, the read and
// idle timeouts, admission (per-client 429 and server-wide 503, both with Retry-After, under a 10x
// overload whose accepted requests still complete), the slow-reader bound, and the gate.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/http_server.h"

namespace gannet::server {
namespace {

using Clock = std::chrono::steady_clock;

int connect_to(int port, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

// Reads until the peer closes or the receive timeout passes.
std::string read_all(int fd) {
    std::string out;
    char buf[64 << 10];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

std::string roundtrip(int port, const std::string& request, int timeout_ms = 5000) {
    int fd = connect_to(port, timeout_ms);
    (void)!write(fd, request.data(), request.size());
    std::string out = read_all(fd);
    close(fd);
    return out;
}

const std::string kGetClose = "GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

// Requests to /hold wait until release(): the accepted work of an overload test.
struct Holder {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::shared_ptr<ResponseWriter>> held;

    void add_to(HttpServer& s) {
        s.add_route("GET", "/hold", [this](HttpRequest, std::shared_ptr<ResponseWriter> w) {
            std::lock_guard<std::mutex> lock(mutex);
            held.push_back(std::move(w));
            cv.notify_all();
        });
    }
    void wait_for(size_t n) {
        std::unique_lock<std::mutex> lock(mutex);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return held.size() >= n; }));
    }
    void release() {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& w : held) {
            w->send(HttpResponse{200, {{"Content-Type", "text/plain"}}, "done"});
        }
        held.clear();
    }
};

TEST(HttpLimitsTest, BodyAndHeaderSizes) {
    HttpServerConfig c;
    c.max_body_bytes = 1000;
    c.max_header_bytes = 2048;
    HttpServer s(c);
    s.add_route("POST", "/r", [](HttpRequest r, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {}, std::to_string(r.body.size())});
    });
    ASSERT_TRUE(s.start().ok());
    auto post = [&](size_t n_body, size_t n_header) {
        return roundtrip(s.port(), "POST /r HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(n_header, 'h')
                                       + "\r\nConnection: close\r\nContent-Length: " + std::to_string(n_body)
                                       + "\r\n\r\n" + std::string(n_body, 'b'));
    };
    std::string at_limit = post(1000, 10);
    EXPECT_NE(at_limit.find("200 OK"), std::string::npos) << at_limit;
    EXPECT_NE(at_limit.find("\r\n\r\n1000"), std::string::npos) << at_limit;
    std::string over = post(1001, 10);
    EXPECT_NE(over.find("413"), std::string::npos) << over;
    EXPECT_NE(over.find("1000 bytes"), std::string::npos) << over;
    EXPECT_NE(post(10, 1500).find("200 OK"), std::string::npos);
    EXPECT_NE(post(10, 4000).find("431"), std::string::npos);
}

TEST(HttpLimitsTest, ReadAndIdleTimeoutsCloseTheConnection) {
    HttpServerConfig c;
    c.read_timeout_ms = 300;
    c.idle_timeout_ms = 600;
    HttpServer s(c);
    s.add_route("GET", "/r", [](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {}, "ok"});
    });
    ASSERT_TRUE(s.start().ok());

    // Slowloris: half a request head, then silence. Closed after the read timeout, not before.
    int fd = connect_to(s.port(), 10000);
    const std::string partial = "GET /r HTTP/1.1\r\nHost: x\r\n";
    ASSERT_EQ(write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
    Clock::time_point t0 = Clock::now();
    EXPECT_EQ(read_all(fd), "");
    double waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    EXPECT_GE(waited_ms, 250);
    EXPECT_LT(waited_ms, 5000);
    close(fd);

    // Keep-alive: one answered request, then idle. Closed after the idle timeout.
    fd = connect_to(s.port(), 10000);
    const std::string req = "GET /r HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    t0 = Clock::now();
    std::string out = read_all(fd);
    waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    EXPECT_NE(out.find("200 OK"), std::string::npos) << out;
    EXPECT_GE(waited_ms, 500);
    EXPECT_LT(waited_ms, 5000);
    close(fd);
}

TEST(HttpLimitsTest, PerClientLimitGets429WithRetryAfter) {
    HttpServerConfig c;
    c.max_requests_per_client = 2;
    c.retry_after_s = 3;
    HttpServer s(c);
    Holder holder;
    holder.add_to(s);
    ASSERT_TRUE(s.start().ok());
    const std::string hold = "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::vector<std::thread> held;
    std::vector<std::string> answers(2);
    for (int i = 0; i < 2; ++i) {
        held.emplace_back([&, i] { answers[i] = roundtrip(s.port(), hold, 30000); });
    }
    holder.wait_for(2);
    std::string third = roundtrip(s.port(), hold);
    EXPECT_NE(third.find("429 Too Many Requests"), std::string::npos) << third;
    EXPECT_NE(third.find("Retry-After: 3"), std::string::npos) << third;
    holder.release();
    for (auto& t : held) {
        t.join();
    }
    for (const std::string& a : answers) {
        EXPECT_NE(a.find("200 OK"), std::string::npos) << a;
    }
    // The slots came back: the client may send again.
    std::thread again([&] { answers[0] = roundtrip(s.port(), hold, 30000); });
    holder.wait_for(1);
    holder.release();
    again.join();
    EXPECT_NE(answers[0].find("200 OK"), std::string::npos);
}

// 10x overload: 80 concurrent requests against a bound of 8. The 8 accepted ones complete once
// released, the 72 others get a prompt 503 + Retry-After (no hang), and the server recovers.
TEST(HttpLimitsTest, OverloadQueuesToTheBoundThenRefusesWith503) {
    constexpr int kBound = 8;
    constexpr int kClients = 10 * kBound;
    HttpServerConfig c;
    c.max_requests_in_flight = kBound;
    HttpServer s(c);
    Holder holder;
    holder.add_to(s);
    ASSERT_TRUE(s.start().ok());
    const std::string hold = "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::vector<std::string> answers(kClients);
    std::vector<std::thread> clients;
    for (int i = 0; i < kBound; ++i) {
        clients.emplace_back([&, i] { answers[i] = roundtrip(s.port(), hold, 30000); });
    }
    holder.wait_for(kBound);
    Clock::time_point t0 = Clock::now();
    for (int i = kBound; i < kClients; ++i) {
        clients.emplace_back([&, i] { answers[i] = roundtrip(s.port(), hold, 30000); });
    }
    for (int i = kBound; i < kClients; ++i) {
        clients[i].join();
    }
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 15.0) << "refusals must not wait";
    holder.release();
    for (int i = 0; i < kBound; ++i) {
        clients[i].join();
    }
    int n_ok = 0;
    int n_refused = 0;
    for (const std::string& a : answers) {
        n_ok += a.find("200 OK") != std::string::npos;
        n_refused +=
            a.find("503 Service Unavailable") != std::string::npos && a.find("Retry-After: 1") != std::string::npos;
    }
    EXPECT_EQ(n_ok, kBound);
    EXPECT_EQ(n_refused, kClients - kBound);
    std::thread after([&] { answers[0] = roundtrip(s.port(), hold, 30000); });
    holder.wait_for(1);
    holder.release();
    after.join();
    EXPECT_NE(answers[0].find("200 OK"), std::string::npos);
}

// A client that stops reading a stream is dropped once max_pending_write_bytes are queued for
// it; a client reading normally at the same time gets its whole stream.
TEST(HttpLimitsTest, SlowReaderIsDroppedOthersUnaffected) {
    HttpServerConfig c;
    c.max_pending_write_bytes = 256 << 10;
    HttpServer s(c);
    // 6 MiB per stream, more than a non-reading client's socket buffers take in, paced at about
    // 16 MB/s like a producer that has work to do, which a reading client keeps up with.
    constexpr int kChunks = 384;
    const std::string chunk(16 << 10, 'z');
    std::mutex mutex;
    std::vector<std::thread> producers;
    std::vector<int> n_chunks_written;  // per stream, guarded by mutex
    std::atomic<int> n_closed{0};
    s.add_route("GET", "/stream", [&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        std::lock_guard<std::mutex> lock(mutex);
        w->on_close([&] { n_closed.fetch_add(1); });
        const size_t slot = n_chunks_written.size();
        n_chunks_written.push_back(0);
        producers.emplace_back([w, &chunk, &mutex, &n_chunks_written, slot] {
            w->begin_stream(200, {{"Content-Type", "application/octet-stream"}});
            int n = 0;
            for (; n < kChunks && !w->is_closed(); ++n) {
                w->write(chunk);
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            w->end();
            std::lock_guard<std::mutex> l(mutex);
            n_chunks_written[slot] = n;
        });
    });
    ASSERT_TRUE(s.start().ok());
    const std::string req = "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int slow = connect_to(s.port(), 30000);
    int small_buf = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof(small_buf));
    ASSERT_EQ(write(slow, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    std::string fast = roundtrip(s.port(), req, 30000);
    EXPECT_GT(fast.size(), static_cast<size_t>(kChunks) * chunk.size());
    EXPECT_NE(fast.find("\r\n0\r\n\r\n"), std::string::npos) << "the reading client got the end of its stream";
    // Not read: draining a 4 KiB window from the kernel's buffers would take minutes of
    // zero-window probes. The close callback and the producer's early stop show it was dropped.
    for (int i = 0; i < 200 && n_closed.load() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(n_closed.load(), 1);
    close(slow);
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& t : producers) {
        t.join();
    }
    ASSERT_EQ(n_chunks_written.size(), 2u);
    EXPECT_EQ(std::max(n_chunks_written[0], n_chunks_written[1]), kChunks);
    EXPECT_LT(std::min(n_chunks_written[0], n_chunks_written[1]), kChunks);
}

TEST(HttpLimitsTest, GateRefusesBeforeTheHandler) {
    HttpServerConfig c;
    c.gate = [](const HttpRequest& r) -> std::optional<HttpResponse> {
        if (r.header("authorization") == "Bearer good") {
            return std::nullopt;
        }
        return HttpResponse{401, {{"WWW-Authenticate", "Bearer"}}, "no"};
    };
    HttpServer s(c);
    std::atomic<int> n_handled{0};
    s.add_route("GET", "/r", [&](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        n_handled.fetch_add(1);
        w->send(HttpResponse{200, {}, "ok"});
    });
    ASSERT_TRUE(s.start().ok());
    EXPECT_NE(roundtrip(s.port(), kGetClose).find("401"), std::string::npos);
    std::string ok =
        roundtrip(s.port(), "GET /r HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nConnection: close\r\n\r\n");
    EXPECT_NE(ok.find("200 OK"), std::string::npos) << ok;
    EXPECT_EQ(n_handled.load(), 1);
}

}  // namespace
}  // namespace gannet::server
