#include "bench/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gannet::bench {
namespace {

// What llama.cpp's server sends for a two-token answer, CRLF and LF mixed on purpose.
const std::string kStream =
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
    ": keep-alive comment\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
    "event: usage\ndata: {\"a\":1}\ndata: {\"b\":2}\n\n"
    "error: {\"message\":\"boom\"}\n\n"
    "data: [DONE]\r\n\r\n";

std::vector<SseEvent> parse_in_pieces(const std::string& bytes, size_t piece) {
    std::vector<SseEvent> events;
    SseParser p([&](const SseEvent& e) { events.push_back(e); });
    for (size_t i = 0; i < bytes.size(); i += piece) {
        p.feed(std::string_view(bytes).substr(i, piece));
    }
    p.finish();
    return events;
}

TEST(SseParserTest, SameEventsWhateverTheSplit) {
    const std::vector<SseEvent> whole = parse_in_pieces(kStream, kStream.size());
    ASSERT_EQ(whole.size(), 5u);
    EXPECT_EQ(whole[0].data, "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
    EXPECT_EQ(whole[0].type, "message");
    EXPECT_EQ(whole[2].type, "usage");
    EXPECT_EQ(whole[2].data, "{\"a\":1}\n{\"b\":2}");
    EXPECT_EQ(whole[3].type, "error");
    EXPECT_EQ(whole[4].data, "[DONE]");
    // Every piece size from 1 byte up, so a split falls between '\r' and '\n', inside "data:", etc.
    for (size_t piece = 1; piece <= 17; ++piece) {
        const std::vector<SseEvent> split = parse_in_pieces(kStream, piece);
        ASSERT_EQ(split.size(), whole.size()) << "piece=" << piece;
        for (size_t i = 0; i < whole.size(); ++i) {
            EXPECT_EQ(split[i].data, whole[i].data) << "piece=" << piece << " event=" << i;
            EXPECT_EQ(split[i].type, whole[i].type) << "piece=" << piece << " event=" << i;
        }
    }
}

TEST(SseParserTest, CarriageReturnAloneEndsALine) {
    const std::vector<SseEvent> events = parse_in_pieces("data: a\r\rdata: b\r\r", 1);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].data, "a");
    EXPECT_EQ(events[1].data, "b");
}

TEST(SseParserTest, FinalEventWithoutBlankLineIsDelivered) {
    const std::vector<SseEvent> events = parse_in_pieces("data: last", 3);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data, "last");
}

TEST(SseParserTest, EventsWithoutDataAreDropped) {
    EXPECT_TRUE(parse_in_pieces("event: ping\n\nid: 3\n\n", 2).empty());
}

}  // namespace
}  // namespace gannet::bench
