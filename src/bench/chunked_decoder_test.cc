#include "bench/chunked_decoder.h"

#include <gtest/gtest.h>

namespace gannet::bench {
namespace {

const std::string kBody = "5\r\nhello\r\n1;ext=1\r\n \r\nB\r\nworld, SSE!\r\n0\r\nTrailer: x\r\n\r\n";

TEST(ChunkedDecoderTest, DecodesAtEverySplit) {
    for (size_t piece = 1; piece <= kBody.size(); ++piece) {
        ChunkedDecoder d;
        std::string out;
        for (size_t i = 0; i < kBody.size(); i += piece) {
            ASSERT_TRUE(d.feed(std::string_view(kBody).substr(i, piece), &out).ok()) << "piece=" << piece;
        }
        EXPECT_EQ(out, "hello world, SSE!") << "piece=" << piece;
        EXPECT_TRUE(d.is_done()) << "piece=" << piece;
    }
}

TEST(ChunkedDecoderTest, NotDoneBeforeTheLastChunk) {
    ChunkedDecoder d;
    std::string out;
    ASSERT_TRUE(d.feed("5\r\nhello\r\n", &out).ok());
    EXPECT_FALSE(d.is_done());
    EXPECT_EQ(out, "hello");
}

TEST(ChunkedDecoderTest, BadSizeLineIsDataLoss) {
    ChunkedDecoder d;
    std::string out;
    Status s = d.feed("zz\r\nhello\r\n", &out);
    EXPECT_EQ(s.code(), ErrorCode::kDataLoss);
    EXPECT_NE(s.message().find("'zz'"), std::string::npos) << s.message();
}

TEST(ChunkedDecoderTest, MissingCrlfAfterDataIsDataLoss) {
    ChunkedDecoder d;
    std::string out;
    EXPECT_EQ(d.feed("2\r\nabXY\r\n", &out).code(), ErrorCode::kDataLoss);
}

TEST(ChunkedDecoderTest, HugeChunkSizeIsRefused) {
    ChunkedDecoder d;
    std::string out;
    EXPECT_EQ(d.feed("FFFFFFFFFFFF\r\n", &out).code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace gannet::bench
