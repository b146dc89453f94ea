#include "bench/png_writer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>

#include "bench/sweep_plot.h"

namespace gannet::bench {
namespace {

uint32_t be32(const std::string& s, size_t at) {
    return (uint32_t{static_cast<uint8_t>(s[at])} << 24) | (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16)
           | (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(s[at + 3])};
}

struct Chunk {
    std::string type, data;
};

// Splits a PNG into chunks, checking every CRC on the way.
std::vector<Chunk> chunks(const std::string& png) {
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    std::vector<Chunk> out;
    size_t pos = 8;
    while (pos + 12 <= png.size()) {
        const uint32_t len = be32(png, pos);
        Chunk c{png.substr(pos + 4, 4), png.substr(pos + 8, len)};
        const uint32_t crc = be32(png, pos + 8 + len);
        EXPECT_EQ(crc, crc32(0L, reinterpret_cast<const Bytef*>(png.data() + pos + 4), 4 + len)) << c.type;
        out.push_back(c);
        pos += 12 + len;
    }
    EXPECT_EQ(pos, png.size());
    return out;
}

// Decodes the pixels back (filter 0 only, as we write) so a test can read any pixel.
std::string inflate_pixels(const std::string& idat, size_t expected) {
    std::string raw(expected, '\0');
    uLongf n = expected;
    EXPECT_EQ(
        uncompress(reinterpret_cast<Bytef*>(raw.data()), &n, reinterpret_cast<const Bytef*>(idat.data()), idat.size()),
        Z_OK);
    EXPECT_EQ(n, expected);
    return raw;
}

TEST(PngWriterTest, HeaderChunksAndPixelsDecode) {
    Image im(3, 2, Rgb{255, 255, 255});
    im.set(1, 0, Rgb{10, 20, 30});
    im.set(-1, 5, Rgb{1, 1, 1});  // clipped, no crash
    const std::vector<Chunk> c = chunks(encode_png(im));
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].type, "IHDR");
    ASSERT_EQ(c[0].data.size(), 13u);
    EXPECT_EQ(be32(c[0].data, 0), 3u);
    EXPECT_EQ(be32(c[0].data, 4), 2u);
    EXPECT_EQ(c[0].data[8], 8);  // bit depth
    EXPECT_EQ(c[0].data[9], 2);  // truecolour
    EXPECT_EQ(c[1].type, "IDAT");
    EXPECT_EQ(c[2].type, "IEND");
    const std::string raw = inflate_pixels(c[1].data, 2 * (1 + 3 * 3));
    EXPECT_EQ(raw[0], 0);  // filter byte
    EXPECT_EQ(static_cast<uint8_t>(raw[1 + 3]), 10);
    EXPECT_EQ(static_cast<uint8_t>(raw[1 + 4]), 20);
    EXPECT_EQ(static_cast<uint8_t>(raw[1 + 5]), 30);
    EXPECT_EQ(static_cast<uint8_t>(raw[1 + 6]), 255);
}

TEST(SweepPlotTest, DrawsPointsAndTheSloLine) {
    const Image im = draw_sweep_plot({{1, 80, true}, {2, 60, true}, {4, 30, true}, {8, 12, false}}, 20);
    int n_red = 0, n_green = 0, n_blue = 0;
    for (int y = 0; y < im.height; ++y) {
        for (int x = 0; x < im.width; ++x) {
            const Rgb p = im.at(x, y);
            n_red += p.r > 200 && p.g < 60;
            n_green += p.g > 150 && p.r < 60;
            n_blue += p.b > 190 && p.r < 60;
        }
    }
    EXPECT_GT(n_red, 300);    // SLO line, its label and the failing point
    EXPECT_GT(n_green, 150);  // three passing points
    EXPECT_GT(n_blue, 100);   // the connecting lines
    const std::string png = encode_png(im);
    EXPECT_EQ(chunks(png).size(), 3u);
}

TEST(PngWriterTest, UnwritablePathIsAnError) {
    Status s = write_png("/nonexistent-dir/x.png", Image(1, 1, Rgb{}));
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("/nonexistent-dir/x.png"), std::string::npos);
}

}  // namespace
}  // namespace gannet::bench

namespace gannet::bench {
namespace {

TEST(PngWriterDeathTest, EmptyImageIsABug) {
    EXPECT_DEATH(encode_png(Image(0, 0, Rgb{})), "check failed");
}

}  // namespace
}  // namespace gannet::bench
