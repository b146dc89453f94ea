#include "bench/http_client.h"

#include <gtest/gtest.h>

#include <chrono>

#include "bench/loopback_server_for_test.h"

namespace gannet::bench {
namespace {

TEST(UrlTest, ParsesHostPortAndPrefix) {
    Result<Url> u = parse_url("http://127.0.0.1:8080/v1/");
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, 8080);
    EXPECT_EQ(u->path_prefix, "/v1");
    Result<Url> v6 = parse_url("http://[::1]:9000");
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 9000);
    EXPECT_EQ(v6->path_prefix, "");
    EXPECT_EQ(parse_url("http://example.org/v1")->port, 80);
}

TEST(UrlTest, RejectsWhatItCannotUse) {
    EXPECT_EQ(parse_url("https://api.example.org/v1").error().code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(parse_url("127.0.0.1:8080").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_url("http://h:0/v1").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_url("http://h:80x").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_url("http:///v1").error().code(), ErrorCode::kInvalidArgument);
}

// Binds a port, then closes it: nothing listens there afterwards.
int closed_port() {
    int port = 0;
    {
        LoopbackServer s({}, /*n_connections=*/0);
        port = s.port();
    }
    return port;
}

TEST(HttpClientTest, ClosedPortFailsFastWithAClearMessage) {
    const int port = closed_port();
    const auto t0 = std::chrono::steady_clock::now();
    Result<HttpResponse> r = http_fetch(parse_url("http://127.0.0.1:" + std::to_string(port) + "/v1").value(),
                                        HttpRequest{"GET", "/v1/models", {}, ""}, HttpOptions{});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(r.error().message(),
              "bench: cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    EXPECT_LT(ms, 1000);
}

TEST(HttpClientTest, ReadsChunkedBodySplitAcrossWrites) {
    LoopbackServer server({"HTTP/1.1 200 OK\r\nTransfer-", "Encoding: chunked\r\nContent-Type: text/plain\r\n\r",
                           "\n3\r\nabc\r", "\n4\r\ndefg\r\n0\r\n\r\n"});
    Result<HttpResponse> r =
        http_fetch(parse_url(server.url()).value(), HttpRequest{"GET", "/v1/models", {}, ""}, HttpOptions{});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "abcdefg");
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_TRUE(server.requests()[0].starts_with("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:"));
}

TEST(HttpClientTest, ContentLengthAndCloseDelimitedBodies) {
    LoopbackServer with_length({"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!ignored"});
    Result<HttpResponse> r = http_fetch(parse_url(with_length.url()).value(), HttpRequest{"GET", "/x", {}, ""}, {});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "nope!");

    LoopbackServer until_close({"HTTP/1.0 200 OK\r\n\r\nall ", "of it"});
    r = http_fetch(parse_url(until_close.url()).value(), HttpRequest{"GET", "/x", {}, ""}, {});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->body, "all of it");
}

TEST(HttpClientTest, TruncatedChunkedBodyIsDataLoss) {
    LoopbackServer server({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"});
    Result<HttpResponse> r = http_fetch(parse_url(server.url()).value(), HttpRequest{"GET", "/x", {}, ""}, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kDataLoss);
}

TEST(HttpClientTest, NonHttpAnswerIsDataLoss) {
    LoopbackServer server({"SSH-2.0-OpenSSH_9.2\r\n\r\n"});
    Result<HttpResponse> r = http_fetch(parse_url(server.url()).value(), HttpRequest{"GET", "/x", {}, ""}, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kDataLoss);
}

TEST(HttpClientTest, ServerClosingWithoutAnswerIsUnavailable) {
    LoopbackServer server({});
    Result<HttpResponse> r = http_fetch(parse_url(server.url()).value(), HttpRequest{"GET", "/x", {}, ""}, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(r.error().message().find("closed the connection before responding"), std::string::npos);
}

TEST(HttpClientTest, SilentServerTimesOut) {
    LoopbackServer server({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"}, 1, /*hold_ms=*/600);
    HttpOptions quick;
    quick.read_timeout_ms = 150;
    Result<HttpResponse> r = http_fetch(parse_url(server.url()).value(), HttpRequest{"GET", "/x", {}, ""}, quick);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kDeadlineExceeded);
    EXPECT_NE(r.error().message().find("timed out after 150 ms"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace gannet::bench
