// ResponseStore: what is put is read back; the oldest entries go first past the count or byte
// bound; erase and oversize entries; concurrent writers keep the bounds.
#include "server/response_store.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace gannet::server {
namespace {

using nlohmann::json;

TEST(ResponseStoreTest, KeepsTheNewestWithinCountAndBytes) {
    ResponseStore store(/*max_bytes=*/1 << 20, /*max_entries=*/3);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(store.put("r" + std::to_string(i), json::array({i}), json{{"id", i}}));
    EXPECT_EQ(store.size(), 3u);
    EXPECT_FALSE(store.response("r0").has_value());
    EXPECT_FALSE(store.conversation("r1").has_value());
    EXPECT_EQ((*store.response("r4"))["id"], 4);
    EXPECT_EQ(*store.conversation("r2"), json::array({2}));
    EXPECT_TRUE(store.erase("r3"));
    EXPECT_FALSE(store.erase("r3"));
    EXPECT_EQ(store.size(), 2u);

    ResponseStore small(/*max_bytes=*/100, /*max_entries=*/100);
    EXPECT_FALSE(small.put("big", json(std::string(200, 'x')), json::object()));  // alone over the bound
    const json forty = json(std::string(40, 'y'));                                // 42 bytes serialized, + 2 for {}
    ASSERT_TRUE(small.put("a", forty, json::object()));
    ASSERT_TRUE(small.put("b", forty, json::object()));
    ASSERT_TRUE(small.put("c", forty, json::object()));  // 132 bytes > 100: "a" goes
    EXPECT_FALSE(small.response("a").has_value());
    EXPECT_TRUE(small.response("b").has_value() && small.response("c").has_value());
}

TEST(ResponseStoreTest, ConcurrentWritersStayBounded) {
    ResponseStore store(/*max_bytes=*/1 << 20, /*max_entries=*/64);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&store, t] {
            for (int i = 0; i < 500; ++i) {
                const std::string id = std::to_string(t) + "-" + std::to_string(i);
                store.put(id, json::array(), json::object());
                if (i % 3 == 0)
                    store.erase(id);
            }
        });
    }
    for (std::thread& th : threads)
        th.join();
    EXPECT_LE(store.size(), 64u);
    EXPECT_TRUE(store.response("0-499").has_value() || store.response("1-499").has_value()
                || store.response("2-499").has_value() || store.response("3-499").has_value());
}

}  // namespace
}  // namespace gannet::server
