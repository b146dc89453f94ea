// Decoding PNG/JPEG/WebP made in the test by the same libraries, and the bad inputs an HTTP client can
// send: truncated and corrupted files, decompression bombs (a header claiming 20000x20000),
// animations and formats we do not take.
#include "multimodal/image_decode.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>

#include "multimodal/image_encode_for_test.h"

namespace gannet::multimodal {
namespace {

using testing::encode_jpeg;
using testing::encode_png;
using testing::encode_webp_lossless;
using testing::pattern_rgba;

void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 24);
    b[at + 1] = static_cast<uint8_t>(v >> 16);
    b[at + 2] = static_cast<uint8_t>(v >> 8);
    b[at + 3] = static_cast<uint8_t>(v);
}

// Rewrites the IHDR size of a PNG and fixes the chunk's CRC, as a hostile encoder would.
std::vector<uint8_t> png_with_declared_size(std::vector<uint8_t> png, uint32_t w, uint32_t h) {
    // 8-byte signature, then IHDR: length(4) "IHDR"(4) width(4) height(4) ... crc after 13 data bytes.
    put_be32(png, 16, w);
    put_be32(png, 20, h);
    put_be32(png, 29, static_cast<uint32_t>(crc32(0, png.data() + 12, 17)));
    return png;
}

TEST(ImageDecode, SniffsByMagicBytes) {
    const auto rgba = pattern_rgba(4, 3, false);
    EXPECT_EQ(sniff_image_format(encode_png(rgba, 4, 3)), ImageFormat::kPng);
    EXPECT_EQ(sniff_image_format(encode_jpeg(rgba, 4, 3, 90)), ImageFormat::kJpeg);
    EXPECT_EQ(sniff_image_format(encode_webp_lossless(rgba, 4, 3)), ImageFormat::kWebp);
    const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
    EXPECT_EQ(sniff_image_format(gif), ImageFormat::kGif);
    const std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o'};
    EXPECT_EQ(sniff_image_format(text), ImageFormat::kUnknown);
}

TEST(ImageDecode, PngRoundTripsExactlyAndCompositesAlphaOnWhite) {
    const int w = 7, h = 5;
    const auto rgba = pattern_rgba(w, h, true);
    auto image = decode_image(encode_png(rgba, w, h));
    ASSERT_TRUE(image.has_value()) << image.error().to_string();
    ASSERT_EQ(image->width, w);
    ASSERT_EQ(image->height, h);
    ASSERT_EQ(image->rgb.size(), size_t{w * h * 3});
    for (int i = 0; i < w * h; ++i) {
        const int a = rgba[i * 4 + 3];
        for (int c = 0; c < 3; ++c) {
            // Straight alpha over white: a=0 gives 255, a=255 gives the colour.
            const int want = (rgba[i * 4 + c] * a + 255 * (255 - a) + 127) / 255;
            ASSERT_EQ(image->rgb[i * 3 + c], want) << "pixel " << i << " channel " << c;
        }
    }
}

TEST(ImageDecode, WebpLosslessRoundTripsExactly) {
    const int w = 9, h = 4;
    const auto rgba = pattern_rgba(w, h, false);
    auto image = decode_image(encode_webp_lossless(rgba, w, h));
    ASSERT_TRUE(image.has_value()) << image.error().to_string();
    ASSERT_EQ(image->width, w);
    ASSERT_EQ(image->height, h);
    for (int i = 0; i < w * h; ++i) {
        for (int c = 0; c < 3; ++c) {
            ASSERT_EQ(image->rgb[i * 3 + c], rgba[i * 4 + c]);
        }
    }
}

TEST(ImageDecode, JpegDecodesCloseToTheSource) {
    const int w = 32, h = 16;
    auto rgba = pattern_rgba(w, h, false);
    for (size_t i = 2; i < rgba.size(); i += 4) {
        rgba[i] = 128;  // no blue checkerboard: its edges ring through the subsampled chroma
    }
    auto image = decode_image(encode_jpeg(rgba, w, h, 95));
    ASSERT_TRUE(image.has_value()) << image.error().to_string();
    ASSERT_EQ(image->width, w);
    ASSERT_EQ(image->height, h);
    // Lossy: the smooth red/green ramps survive to within a few levels on average.
    double err = 0;
    for (int i = 0; i < w * h; ++i) {
        err += std::abs(image->rgb[i * 3] - rgba[i * 4]) + std::abs(image->rgb[i * 3 + 1] - rgba[i * 4 + 1]);
    }
    EXPECT_LT(err / (w * h * 2), 6.0);
}

TEST(ImageDecode, EveryTruncationIsAnErrorNotACrash) {
    const int w = 24, h = 20;
    const auto rgba = pattern_rgba(w, h, true);
    for (const auto& full : {encode_png(rgba, w, h), encode_jpeg(rgba, w, h, 80), encode_webp_lossless(rgba, w, h)}) {
        const char* name = image_format_name(sniff_image_format(full));
        ASSERT_TRUE(decode_image(full).has_value()) << name;
        // A PNG cut inside its final 12-byte IEND chunk still holds every pixel, and libpng takes it.
        const size_t n_needed = sniff_image_format(full) == ImageFormat::kPng ? full.size() - 12 : full.size();
        for (size_t n = 0; n < n_needed; n += (n < 64 ? 1 : 7)) {
            auto part = decode_image(std::span<const uint8_t>(full.data(), n));
            ASSERT_FALSE(part.has_value()) << name << " truncated to " << n << " of " << full.size();
            EXPECT_EQ(part.error().code(), ErrorCode::kInvalidArgument) << part.error().message();
            EXPECT_NE(part.error().message().find("image: "), std::string::npos) << part.error().message();
        }
    }
}

TEST(ImageDecode, TruncatedJpegIsRefusedNotPaddedWithGrey) {
    const auto rgba = pattern_rgba(64, 64, false);
    auto jpeg = encode_jpeg(rgba, 64, 64, 90);
    jpeg.resize(jpeg.size() * 2 / 3);
    auto image = decode_image(jpeg);
    ASSERT_FALSE(image.has_value());
    EXPECT_EQ(image.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(image.error().message().find("image: jpeg: corrupt or truncated"), std::string::npos)
        << image.error().message();
}

TEST(ImageDecode, CorruptedBytesNeverCrash) {
    const int w = 16, h = 16;
    const auto rgba = pattern_rgba(w, h, true);
    for (auto full : {encode_png(rgba, w, h), encode_jpeg(rgba, w, h, 80), encode_webp_lossless(rgba, w, h)}) {
        uint32_t seed = 12345;
        for (int trial = 0; trial < 200; ++trial) {
            auto bad = full;
            for (int k = 0; k < 4; ++k) {
                seed = seed * 1664525u + 1013904223u;
                const size_t at = 3 + (seed >> 8) % (bad.size() - 3);  // keep the magic: reach the decoder
                bad[at] ^= static_cast<uint8_t>(seed | 1);
            }
            auto image = decode_image(bad);
            if (image.has_value()) {  // a flipped bit in pixel data can still decode; the size must hold
                EXPECT_EQ(image->rgb.size(), static_cast<size_t>(image->width) * image->height * 3);
            }
        }
    }
}

TEST(ImageDecode, PngBombIsRefusedFromTheHeader) {
    const auto rgba = pattern_rgba(8, 8, false);
    const auto bomb = png_with_declared_size(encode_png(rgba, 8, 8), 20000, 20000);
    auto image = decode_image(bomb);
    ASSERT_FALSE(image.has_value());
    EXPECT_EQ(image.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(image.error().message().find("image: png: 20000x20000 is too large"), std::string::npos)
        << image.error().message();
}

TEST(ImageDecode, JpegBombIsRefusedFromTheHeader) {
    const auto rgba = pattern_rgba(8, 8, false);
    auto jpeg = encode_jpeg(rgba, 8, 8, 80);
    // SOF0 marker ff c0: length(2) precision(1) height(2) width(2).
    size_t sof = 0;
    for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
        if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    }
    ASSERT_NE(sof, 0u);
    jpeg[sof + 5] = 20000 >> 8;
    jpeg[sof + 6] = 20000 & 0xff;
    jpeg[sof + 7] = 20000 >> 8;
    jpeg[sof + 8] = 20000 & 0xff;
    auto image = decode_image(jpeg);
    ASSERT_FALSE(image.has_value());
    EXPECT_EQ(image.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(image.error().message().find("20000x20000"), std::string::npos) << image.error().message();
}

TEST(ImageDecode, ProgressiveJpegsDecodeButScanBombsAreRefused) {
    auto normal = decode_image(testing::encode_progressive_grey_jpeg(32, 24, 0));
    ASSERT_TRUE(normal.has_value()) << normal.error().to_string();
    EXPECT_EQ(normal->width, 32);
    // Grey comes out as R = G = B.
    EXPECT_EQ(normal->rgb[3 * 5], normal->rgb[3 * 5 + 2]);
    auto within = decode_image(testing::encode_progressive_grey_jpeg(16, 16, 6));  // 442 scans
    ASSERT_TRUE(within.has_value()) << within.error().to_string();
    auto bomb = decode_image(testing::encode_progressive_grey_jpeg(16, 16, 8));  // 568 scans
    ASSERT_FALSE(bomb.has_value());
    EXPECT_EQ(bomb.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bomb.error().message().find("more than 500 progressive scans"), std::string::npos)
        << bomb.error().message();
}

TEST(ImageDecode, LimitsAreConfigurable) {
    const auto rgba = pattern_rgba(40, 30, false);
    DecodeLimits limits;
    limits.max_pixels = 40 * 30 - 1;
    for (const auto& bytes :
         {encode_png(rgba, 40, 30), encode_webp_lossless(rgba, 40, 30), encode_jpeg(rgba, 40, 30, 80)}) {
        auto image = decode_image(bytes, limits);
        ASSERT_FALSE(image.has_value());
        EXPECT_EQ(image.error().code(), ErrorCode::kResourceExhausted) << image.error().message();
    }
    limits.max_pixels = 40 * 30;
    EXPECT_TRUE(decode_image(encode_png(rgba, 40, 30), limits).has_value());
}

TEST(ImageDecode, AnimationsAndOtherFormatsAreRefused) {
    // APNG: an acTL chunk before IDAT.
    auto png = encode_png(pattern_rgba(4, 4, false), 4, 4);
    const std::vector<uint8_t> actl = {0, 0, 0, 8, 'a', 'c', 'T', 'L', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    png.insert(png.begin() + 33, actl.begin(), actl.end());  // after the signature and IHDR (8+25)
    auto apng = decode_image(png);
    ASSERT_FALSE(apng.has_value());
    EXPECT_EQ(apng.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(apng.error().message().find("animated png"), std::string::npos);

    // Animated WebP: a VP8X chunk whose flags carry the animation bit (0x02).
    std::vector<uint8_t> webp = {'R', 'I', 'F', 'F', 30, 0,    0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8',
                                 'X', 10,  0,   0,   0,  0x02, 0, 0, 0,   9,   0,   0,   9,   0,   0};
    webp.insert(webp.end(), {'A', 'N', 'I', 'M', 6, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    auto anim = decode_image(webp);
    ASSERT_FALSE(anim.has_value());
    EXPECT_EQ(anim.error().code(), ErrorCode::kUnimplemented) << anim.error().message();

    const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
    auto g = decode_image(gif);
    ASSERT_FALSE(g.has_value());
    EXPECT_EQ(g.error().code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(g.error().message(), "image: gif is not supported: want png, jpeg or webp");

    const std::vector<uint8_t> text = {'<', 's', 'v', 'g'};
    auto t = decode_image(text);
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(t.error().message().find("unknown format (first bytes 3c 73 76 67)"), std::string::npos);
    EXPECT_FALSE(decode_image({}).has_value());
}

}  // namespace
}  // namespace gannet::multimodal
