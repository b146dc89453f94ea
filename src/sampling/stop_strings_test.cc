#include "sampling/stop_strings.h"

#include <gtest/gtest.h>

namespace gannet::sampling {
namespace {

TEST(StopStringMatcherTest, PassesTextThroughWithoutStops) {
    StopStringMatcher m({});
    EXPECT_EQ(m.feed("hello"), "hello");
    EXPECT_EQ(m.flush(), "");
    EXPECT_FALSE(m.stopped());
}

TEST(StopStringMatcherTest, HoldsBackPartialMatchUntilRuledOut) {
    StopStringMatcher m({"</end>"});
    EXPECT_EQ(m.feed("abc</e"), "abc");
    EXPECT_EQ(m.feed("x"), "</ex");
    EXPECT_FALSE(m.stopped());
}

TEST(StopStringMatcherTest, StopsAcrossChunksAndDropsTheStopString) {
    StopStringMatcher m({"STOP", "\n\n"});
    EXPECT_EQ(m.feed("one S"), "one ");
    EXPECT_EQ(m.feed("TO"), "");
    EXPECT_EQ(m.feed("P and more"), "");
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.feed("later"), "");
    EXPECT_EQ(m.flush(), "");
}

TEST(StopStringMatcherTest, EarliestOfSeveralStopsWins) {
    StopStringMatcher m({"world", "lo"});
    EXPECT_EQ(m.feed("hello world"), "hel");
    EXPECT_TRUE(m.stopped());
}

TEST(StopStringMatcherTest, FlushReturnsHeldText) {
    StopStringMatcher m({"abc"});
    EXPECT_EQ(m.feed("xxab"), "xx");
    EXPECT_EQ(m.flush(), "ab");
}

}  // namespace
}  // namespace gannet::sampling
