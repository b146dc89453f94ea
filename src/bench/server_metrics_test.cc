#include "bench/server_metrics.h"

#include <gtest/gtest.h>

namespace gannet::bench {
namespace {

TEST(ServerMetricsTest, SumsGannetSeriesOverLabels) {
    const auto m = parse_gannet_metrics(
        "# HELP gannet_prefix_cache_hit_tokens_total hits\n"
        "# TYPE gannet_prefix_cache_hit_tokens_total counter\n"
        "gannet_prefix_cache_hit_tokens_total{model=\"a\"} 30\n"
        "gannet_prefix_cache_hit_tokens_total{model=\"b\"} 10\n"
        "gannet_prefix_cache_query_tokens_total 50\n"
        "llamacpp:prompt_tokens_total 99\n");
    EXPECT_EQ(m.size(), 2u);
    EXPECT_EQ(m.at("gannet_prefix_cache_hit_tokens_total"), 40);
    EXPECT_EQ(m.at("gannet_prefix_cache_query_tokens_total"), 50);
}

TEST(ServerMetricsTest, HitRateOverTheWindow) {
    const std::map<std::string, double> before = {{"gannet_prefix_cache_hit_tokens_total", 40},
                                                  {"gannet_prefix_cache_query_tokens_total", 50}};
    const std::map<std::string, double> after = {{"gannet_prefix_cache_hit_tokens_total", 130},
                                                 {"gannet_prefix_cache_query_tokens_total", 150}};
    EXPECT_DOUBLE_EQ(prefix_cache_hit_rate(before, after), 0.9);
    EXPECT_EQ(prefix_cache_hit_rate({}, {}), -1);  // llama.cpp: unknown
    EXPECT_DOUBLE_EQ(prefix_cache_hit_rate({}, {{"gannet_prefix_cache_hit_rate", 0.75}}), 0.75);
}

}  // namespace
}  // namespace gannet::bench
