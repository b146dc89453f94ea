#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace gannet {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexExactlyOnce) {
    ThreadPool pool(3);
    for (int64_t n : {1, 2, 7, 1000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                hits[static_cast<size_t>(i)].fetch_add(1);
            }
        });
        for (auto& h : hits) {
            EXPECT_EQ(h.load(), 1);
        }
    }
}

TEST(ThreadPoolTest, ManyShortRunsAllComplete) {
    ThreadPool pool(2);
    std::atomic<int> total{0};
    for (int i = 0; i < 2000; ++i) {
        pool.run([&](int) { total.fetch_add(1); });
    }
    EXPECT_EQ(total.load(), 4000);
}

}  // namespace
}  // namespace gannet
