#include "mcp/request_state.h"

#include <gtest/gtest.h>

namespace gannet::mcp {
namespace {

const std::string kKey(32, 'k');

TEST(RequestStateTest, SignedStateRoundTrips) {
    RequestStateCodec codec(kKey, /*ttl_ms=*/1000);
    StateBinding b{"alice", "tools/call", "t"};
    std::string token = codec.sign(Json{{"round", 2}}, b, /*now_ms=*/0);
    Result<Json> back = codec.verify(token, b, /*now_ms=*/10);
    ASSERT_TRUE(back.has_value()) << back.error().message();
    EXPECT_EQ(back.value()["round"], 2);
}

TEST(RequestStateTest, TamperedTokenIsRejected) {
    RequestStateCodec codec(kKey);
    StateBinding b{"alice", "tools/call", "t"};
    std::string token = codec.sign(Json{{"admin", false}}, b, 0);
    std::string forged = base64url_encode(Json{{"exp", 1LL << 50}, {"d", {{"admin", true}}}}.dump()) +
                         token.substr(token.find('.'));
    EXPECT_FALSE(codec.verify(forged, b, 0).has_value());
    EXPECT_FALSE(codec.verify(token + "-TAMPERED", b, 0).has_value());
    EXPECT_FALSE(codec.verify("no-dot-at-all", b, 0).has_value());
}

TEST(RequestStateTest, StateIsBoundToTenantMethodAndName) {
    RequestStateCodec codec(kKey);
    std::string token = codec.sign(Json::object(), StateBinding{"alice", "tools/call", "t"}, 0);
    EXPECT_FALSE(codec.verify(token, StateBinding{"bob", "tools/call", "t"}, 0).has_value());
    EXPECT_FALSE(codec.verify(token, StateBinding{"alice", "prompts/get", "t"}, 0).has_value());
    EXPECT_FALSE(codec.verify(token, StateBinding{"alice", "tools/call", "u"}, 0).has_value());
}

TEST(RequestStateTest, ExpiredStateIsRejected) {
    RequestStateCodec codec(kKey, /*ttl_ms=*/100);
    StateBinding b{"a", "tools/call", "t"};
    std::string token = codec.sign(Json::object(), b, 0);
    Result<Json> r = codec.verify(token, b, 101);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("expired"), std::string::npos);
}

TEST(RequestStateTest, Base64DecodesStrictAlphabet) {
    EXPECT_EQ(base64_decode("SGVsbG8=").value(), "Hello");
    EXPECT_FALSE(base64_decode("SGVs!!!bG8=").has_value());
    EXPECT_EQ(base64url_decode(base64url_encode(std::string("\xff\x00\x10", 3))).value(), std::string("\xff\x00\x10", 3));
}

}  // namespace
}  // namespace gannet::mcp
