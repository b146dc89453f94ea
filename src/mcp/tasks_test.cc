#include "mcp/tasks.h"

#include <gtest/gtest.h>

namespace gannet::mcp {
namespace {

struct TasksTest : ::testing::Test {
    std::unique_ptr<Store> store = std::move(open_store("sqlite::memory:").value());
    TaskManager tasks{*store, /*ttl_ms=*/60000, /*poll_interval_ms=*/200};
};

TEST_F(TasksTest, CreatedTaskIsDurableAndWorking) {
    Json t = tasks.create("alice").value();
    EXPECT_EQ(t["status"], "working");
    EXPECT_EQ(t["ttlMs"], 60000);
    EXPECT_EQ(t["pollIntervalMs"], 200);
    EXPECT_FALSE(t.contains("ttl"));
    std::optional<Json> back = tasks.load("alice", t["taskId"]).value();
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ((*back)["taskId"], t["taskId"]);
}

TEST_F(TasksTest, AnotherTenantCannotSeeTheTask) {
    Json t = tasks.create("alice").value();
    EXPECT_FALSE(tasks.load("bob", t["taskId"]).value().has_value());
}

// The store key is "task:<tenant>:<id>": an id carrying a ':' must not reach across into tenant
// "alice:x"'s keys from tenant "alice" (nor read, update or cancel there).
TEST_F(TasksTest, SplicedIdCannotReachAnotherTenant) {
    std::string id = tasks.create("alice:x").value()["taskId"];
    ASSERT_TRUE(tasks.load("alice:x", id).value().has_value());
    EXPECT_FALSE(tasks.load("alice", "x:" + id).value().has_value());
    EXPECT_FALSE(tasks
                     .update("alice", "x:" + id,
                             [](Json& t) {
                                 t["status"] = "cancelled";
                                 return true;
                             })
                     .value()
                     .has_value());
    ASSERT_TRUE(tasks.cancel("alice", "x:" + id).ok());
    EXPECT_EQ(tasks.load("alice:x", id).value()->value("status", ""), "working");
    EXPECT_FALSE(tasks.load("alice", "").value().has_value());
    EXPECT_FALSE(tasks.load("alice", std::string(65, 'a')).value().has_value());
}

TEST_F(TasksTest, TerminalStatusNeverChanges) {
    std::string id = tasks.create("a").value()["taskId"];
    ASSERT_TRUE(tasks.cancel("a", id).ok());
    ASSERT_TRUE(tasks.complete("a", id, Json{{"content", Json::array()}}).ok());
    ASSERT_TRUE(tasks.fail("a", id, internal_error("x")).ok());
    Json t = *tasks.load("a", id).value();
    EXPECT_EQ(t["status"], "cancelled");
    EXPECT_FALSE(t.contains("result"));
}

TEST_F(TasksTest, FailedCarriesErrorNotResult) {
    std::string id = tasks.create("a").value()["taskId"];
    ASSERT_TRUE(tasks.fail("a", id, internal_error("boom")).ok());
    Json t = TaskManager::wire_view(*tasks.load("a", id).value());
    EXPECT_EQ(t["status"], "failed");
    EXPECT_EQ(t["error"]["code"], rpc_code::kInternalError);
    EXPECT_FALSE(t.contains("result"));
}

TEST_F(TasksTest, WireViewHidesInternalFields) {
    Json t = {{"taskId", "x"}, {"_state", 1}, {"status", "working"}};
    EXPECT_FALSE(TaskManager::wire_view(t).contains("_state"));
}

TEST(TasksTimeTest, Iso8601HasMillisecondsAndZ) {
    EXPECT_EQ(iso8601_utc(1234), "1970-01-01T00:00:01.234Z");
}

}  // namespace
}  // namespace gannet::mcp
