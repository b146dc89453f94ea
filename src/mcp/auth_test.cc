// The Host/Origin guard of /mcp and /v1 (check_host_origin): loopback servers refuse foreign hosts
// and origins (DNS rebinding, cross-site posts); servers bound to other addresses refuse cross-site
// origins but let a page of their own origin, and clients that send no Origin, through.
#include "mcp/auth.h"

#include <gtest/gtest.h>

namespace gannet::mcp {
namespace {

TEST(HostOriginTest, LoopbackServerRefusesForeignHostAndOrigin) {
    EXPECT_EQ(check_host_origin(true, {}, "127.0.0.1:8080", ""), std::nullopt);
    EXPECT_EQ(check_host_origin(true, {}, "localhost:8080", "http://localhost:3000"), std::nullopt);
    EXPECT_EQ(check_host_origin(true, {}, "127.0.0.1:8080", "http://evil.example"), "Origin not allowed");
    // A DNS-rebound name: the page and the Host agree, but they are not loopback.
    EXPECT_EQ(check_host_origin(true, {}, "evil.example:8080", "http://evil.example:8080"), "Host not allowed");
    EXPECT_EQ(check_host_origin(true, {}, "evil.example:8080", ""), "Host not allowed");
}

TEST(HostOriginTest, NonLoopbackServerTakesSameOriginAndNoOrigin) {
    EXPECT_EQ(check_host_origin(false, {}, "10.1.2.3:8080", ""), std::nullopt);
    EXPECT_EQ(check_host_origin(false, {}, "10.1.2.3:8080", "http://10.1.2.3:8080"), std::nullopt);
    EXPECT_EQ(check_host_origin(false, {}, "Gannet.Example", "https://gannet.example"), std::nullopt);
    EXPECT_EQ(check_host_origin(false, {}, "10.1.2.3:8080", "http://evil.example"), "Origin not allowed");
    // Loopback origins are not trusted on a server others can reach: any local page could post.
    EXPECT_EQ(check_host_origin(false, {}, "10.1.2.3:8080", "http://localhost:3000"), "Origin not allowed");
    EXPECT_EQ(check_host_origin(false, {}, "10.1.2.3:8080", "http://10.1.2.3:8081"), "Origin not allowed");
    EXPECT_EQ(check_host_origin(false, {"https://app.example"}, "10.1.2.3:8080", "https://app.example"), std::nullopt);
}

TEST(HostOriginTest, SameOriginNeedsABareAuthorityAndOneHost) {
    EXPECT_TRUE(is_same_origin("http://h:1", "h:1"));
    EXPECT_FALSE(is_same_origin("http://h:1", ""));
    EXPECT_FALSE(is_same_origin("h:1", "h:1"));                             // no scheme
    EXPECT_FALSE(is_same_origin("http://h:1/", "h:1/"));                    // a path is no origin
    EXPECT_FALSE(is_same_origin("http://user@h:1", "user@h:1"));            // nor userinfo
    EXPECT_FALSE(is_same_origin("http://h:1, http://e", "h:1, http://e"));  // joined repeated headers
    EXPECT_FALSE(is_same_origin("null", "h:1"));                            // sandboxed iframes, file: pages
}

}  // namespace
}  // namespace gannet::mcp
