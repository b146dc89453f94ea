#include "engine/metrics.h"

#include <gtest/gtest.h>

namespace gannet::engine {
namespace {

TEST(MetricsTest, HistogramIsCumulative) {
    Histogram h({0.1, 1.0});
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5.0);
    const std::string s = h.render("gannet_x_seconds", "x");
    EXPECT_NE(s.find("# TYPE gannet_x_seconds histogram\n"), std::string::npos);
    EXPECT_NE(s.find("gannet_x_seconds_bucket{le=\"0.10000000000000001\"} 1\n"), std::string::npos) << s;
    EXPECT_NE(s.find("gannet_x_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << s;
    EXPECT_NE(s.find("gannet_x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
    EXPECT_NE(s.find("gannet_x_seconds_count 3\n"), std::string::npos);
    EXPECT_NE(s.find("gannet_x_seconds_sum 5.5499999999999998\n"), std::string::npos) << s;
}

TEST(MetricsTest, Scalar) {
    EXPECT_EQ(render_scalar("gannet_a_total", "counter", "a", 3), "# HELP gannet_a_total a\n# TYPE gannet_a_total counter\ngannet_a_total 3\n");
}

}  // namespace
}  // namespace gannet::engine
