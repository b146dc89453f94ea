#include "mcp/store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace gannet::mcp {
namespace {

std::unique_ptr<Store> memory_store() {
    Result<std::unique_ptr<Store>> s = open_store("sqlite::memory:");
    EXPECT_TRUE(s.has_value()) << s.error().message();
    return std::move(s.value());
}

TEST(StoreTest, PutGetEraseRoundTrip) {
    auto s = memory_store();
    EXPECT_FALSE(s->get("k").value().has_value());
    ASSERT_TRUE(s->put("k", std::string("v\0w", 3), 0).ok());
    EXPECT_EQ(s->get("k").value().value(), std::string("v\0w", 3));
    ASSERT_TRUE(s->erase("k").ok());
    EXPECT_FALSE(s->get("k").value().has_value());
}

TEST(StoreTest, CompareAndSetSwapsOnlyOnExpectedValue) {
    auto s = memory_store();
    EXPECT_TRUE(s->compare_and_set("k", std::nullopt, "1", 0).value());
    EXPECT_FALSE(s->compare_and_set("k", std::nullopt, "2", 0).value());
    EXPECT_FALSE(s->compare_and_set("k", std::string("0"), "2", 0).value());
    EXPECT_TRUE(s->compare_and_set("k", std::string("1"), "2", 0).value());
    EXPECT_EQ(s->get("k").value().value(), "2");
}

TEST(StoreTest, EntriesExpire) {
    auto s = memory_store();
    ASSERT_TRUE(s->put("k", "v", /*ttl_ms=*/30).ok());
    EXPECT_TRUE(s->get("k").value().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    EXPECT_FALSE(s->get("k").value().has_value());
    EXPECT_TRUE(s->compare_and_set("k", std::nullopt, "again", 0).value());
}

TEST(StoreTest, BadSpecsGivePreciseErrors) {
    EXPECT_EQ(open_store("mysql://x").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(open_store("sqlite:").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(open_store("redis://host:notaport").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(open_store("redis://127.0.0.1:1").error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(open_store("sqlite:/proc/nope/x.db").error().code(), ErrorCode::kUnavailable);
}

TEST(StoreTest, SharedSecretIsMintedOnce) {
    auto s = memory_store();
    std::string a = shared_secret(*s, "x").value();
    std::string b = shared_secret(*s, "x").value();
    EXPECT_EQ(a, b);
    EXPECT_GE(a.size(), 32u);
}

}  // namespace
}  // namespace gannet::mcp
