// OpenAI media content parts: data-URI images and base64 WAV audio decoded end to end, and the 400s
// for everything a client can get wrong.
#include "multimodal/media_part.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "multimodal/image_encode_for_test.h"

namespace gannet::multimodal {
namespace {

using nlohmann::json;

std::string base64(const std::vector<uint8_t>& bytes) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
    }
    if (i + 1 == bytes.size()) {
        const uint32_t v = bytes[i] << 16;
        out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == bytes.size()) {
        const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
        out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
    }
    return out;
}

json image_part(const std::string& url) {
    return {{"type", "image_url"}, {"image_url", {{"url", url}}}};
}

std::vector<uint8_t> wav16k(size_t n_samples) {
    std::vector<uint8_t> b = {'R', 'I',  'F', 'F', 0, 0, 0,  0, 'W', 'A', 'V',  'E',  'f', 'm',
                              't', ' ',  16,  0,   0, 0, 1,  0, 1,   0,   0x80, 0x3e, 0,   0,
                              0,   0x7d, 0,   0,   2, 0, 16, 0, 'd', 'a', 't',  'a'};
    const uint32_t size = static_cast<uint32_t>(n_samples * 2);
    b.insert(b.end(),
             {static_cast<uint8_t>(size), static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size >> 16), 0});
    for (size_t i = 0; i < n_samples; ++i) {
        b.insert(b.end(), {0x00, 0x20});  // 0x2000 = 0.25
    }
    return b;
}

void expect_400(const json& part, const std::string& want, const MediaOptions& options = {}) {
    auto media = parse_media_part(part, options);
    ASSERT_FALSE(media.has_value()) << want;
    EXPECT_EQ(media.error().code(), ErrorCode::kInvalidArgument) << media.error().message();
    EXPECT_NE(media.error().message().find(want), std::string::npos) << media.error().message();
}

TEST(MediaPart, Base64IsStrict) {
    auto ok = decode_base64("aGVsbG8=");
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(std::string(ok->begin(), ok->end()), "hello");
    EXPECT_EQ(decode_base64("aGVsbG8")->size(), 5u);  // padding optional
    EXPECT_EQ(decode_base64("aGVs bG8=").error().message(), "base64: bad character 0x20 at offset 4");
    EXPECT_FALSE(decode_base64("aGVsb").has_value());
    EXPECT_FALSE(decode_base64("aG=Vs").has_value());
}

TEST(MediaPart, DataUriImagesDecode) {
    const auto rgba = testing::pattern_rgba(10, 6, false);
    for (const auto& [mime, bytes] : {std::pair{"image/png", testing::encode_png(rgba, 10, 6)},
                                      std::pair{"image/webp", testing::encode_webp_lossless(rgba, 10, 6)},
                                      std::pair{"image/jpeg", testing::encode_jpeg(rgba, 10, 6, 90)}}) {
        json part = image_part(std::string("data:") + mime + ";base64," + base64(bytes));
        part["image_url"]["detail"] = "low";
        auto media = parse_media_part(part);
        ASSERT_TRUE(media.has_value()) << mime << ": " << media.error().to_string();
        EXPECT_EQ(media->kind, MediaPart::Kind::kImage);
        EXPECT_EQ(media->image.width, 10);
        EXPECT_EQ(media->image.height, 6);
        EXPECT_EQ(media->max_soft_tokens, 70);
    }
    auto media = parse_media_part(image_part("data:image/png;base64," + base64(testing::encode_png(rgba, 10, 6))));
    ASSERT_TRUE(media.has_value());
    EXPECT_EQ(media->max_soft_tokens, 280);
    EXPECT_EQ(media->image.rgb[0], rgba[0]);
}

TEST(MediaPart, BadImagesAre400s) {
    const auto rgba = testing::pattern_rgba(8, 8, false);
    const std::string png64 = base64(testing::encode_png(rgba, 8, 8));
    expect_400(image_part("https://example.com/cat.png"), "image_url.url: remote URLs are refused");
    MediaOptions allow;
    allow.remote = RemoteMedia::kAllow;
    auto remote = parse_media_part(image_part("http://example.com/cat.png"), allow);
    ASSERT_FALSE(remote.has_value());
    EXPECT_EQ(remote.error().code(), ErrorCode::kUnimplemented);
    expect_400(image_part("file:///etc/passwd"), "want a data: URI");
    expect_400(image_part("data:image/png," + png64), "is not base64");
    expect_400(image_part("data:text/plain;base64," + png64), "media type \"text/plain\"");
    expect_400(image_part("data:image/png;base64,@@@@"), "base64: bad character 0x40 at offset 0");
    expect_400(image_part("data:image/png;base64," + png64.substr(0, png64.size() / 2)), "image_url.url: image: png:");
    expect_400(image_part("data:image/png;base64," + base64({'G', 'I', 'F', '8', '9', 'a', 0, 0})),
               "image_url.url: image: gif is not supported");
    MediaOptions small;
    small.max_encoded_bytes = 16;
    expect_400(image_part("data:image/png;base64," + png64), "is too large: at most 16", small);
    small = {};
    small.image_limits.max_pixels = 63;
    expect_400(image_part("data:image/png;base64," + png64), "image: png: 8x8 is too large", small);
    json detail = image_part("data:image/png;base64," + png64);
    detail["image_url"]["detail"] = "ultra";
    expect_400(detail, "image_url.detail: \"ultra\": want low, auto or high");
    json extra = image_part("data:image/png;base64," + png64);
    extra["image_url"]["crop"] = true;
    expect_400(extra, "image_url: unknown field \"crop\"");
    expect_400({{"type", "image_url"}}, "image_url: missing");
    expect_400({{"type", "image_url"}, {"image_url", {{"url", 3}}}}, "image_url.url: must be a string");
    expect_400({{"type", "video_url"}}, "type: \"video_url\" is not a media part");
    expect_400(json::array(), "a content part must be an object");
}

TEST(MediaPart, Base64WavAudioDecodes) {
    json part = {{"type", "input_audio"}, {"input_audio", {{"data", base64(wav16k(1000))}, {"format", "wav"}}}};
    auto media = parse_media_part(part);
    ASSERT_TRUE(media.has_value()) << media.error().to_string();
    EXPECT_EQ(media->kind, MediaPart::Kind::kAudio);
    EXPECT_EQ(media->waveform.sample_rate, 16000);
    ASSERT_EQ(media->waveform.samples.size(), 1000u);
    EXPECT_FLOAT_EQ(media->waveform.samples[0], 0.25f);
}

TEST(MediaPart, BadAudioIs400) {
    auto wav = wav16k(100);
    expect_400({{"type", "input_audio"}, {"input_audio", {{"data", base64(wav)}, {"format", "mp3"}}}},
               "input_audio.format: \"mp3\" is not supported: want wav");
    wav.resize(wav.size() - 10);
    expect_400({{"type", "input_audio"}, {"input_audio", {{"data", base64(wav)}, {"format", "wav"}}}},
               "input_audio.data: audio: wav: data chunk of 200 bytes, only 190 present: truncated");
    expect_400({{"type", "input_audio"}, {"input_audio", {{"format", "wav"}}}}, "input_audio.data: missing");
    expect_400({{"type", "input_audio"}, {"input_audio", {{"data", "UklGRg=="}, {"format", "wav"}, {"rate", 8000}}}},
               "input_audio: unknown field \"rate\"");
}

}  // namespace
}  // namespace gannet::multimodal
