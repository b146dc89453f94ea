#include "bench/power.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace gannet::bench {
namespace {

TEST(PowerMeterTest, EachSourceIsMeasuredOrExplained) {
    PowerMeter meter;
    meter.start();
    const PowerReading r = meter.stop();
    if (r.gpu_w < 0) {
        EXPECT_NE(r.note.find("no GPU power"), std::string::npos) << r.note;
    }
    if (r.cpu_w < 0) {
        EXPECT_NE(r.note.find("no CPU power"), std::string::npos) << r.note;
    }
    EXPECT_EQ(r.total_w() < 0, r.gpu_w < 0 && r.cpu_w < 0);
}

TEST(PowerMeterTest, TotalAddsTheKnownSources) {
    EXPECT_EQ((PowerReading{300, -1, ""}).total_w(), 300);
    EXPECT_EQ((PowerReading{300, 50, ""}).total_w(), 350);
    EXPECT_EQ((PowerReading{-1, -1, "x"}).total_w(), -1);
}

}  // namespace
}  // namespace gannet::bench
