// WAV parsing (encodings, channels, chunks), bad WAVs, resampling and 640-sample framing.
#include "multimodal/audio.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <string>

namespace gannet::multimodal {
namespace {

void put(std::vector<uint8_t>& b, uint32_t v, int n_bytes) {
    for (int i = 0; i < n_bytes; ++i) {
        b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

// A WAV file: fmt (tag, channels, rate, bits), an optional LIST chunk before data, then data.
std::vector<uint8_t> wav(uint32_t tag, uint32_t n_channels, uint32_t rate, uint32_t bits,
                         const std::vector<uint8_t>& data, bool with_list = false) {
    std::vector<uint8_t> b = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' '};
    put(b, 16, 4);
    put(b, tag, 2);
    put(b, n_channels, 2);
    put(b, rate, 4);
    put(b, rate * n_channels * bits / 8, 4);
    put(b, n_channels * bits / 8, 2);
    put(b, bits, 2);
    if (with_list) {
        b.insert(b.end(), {'L', 'I', 'S', 'T', 3, 0, 0, 0, 'a', 'b', 'c', 0});  // odd size: one pad byte
    }
    b.insert(b.end(), {'d', 'a', 't', 'a'});
    put(b, static_cast<uint32_t>(data.size()), 4);
    b.insert(b.end(), data.begin(), data.end());
    const uint32_t riff = static_cast<uint32_t>(b.size() - 8);
    std::memcpy(&b[4], &riff, 4);
    return b;
}

std::vector<uint8_t> pcm16(const std::vector<int16_t>& samples) {
    std::vector<uint8_t> d;
    for (int16_t s : samples) {
        put(d, static_cast<uint16_t>(s), 2);
    }
    return d;
}

TEST(Audio, Pcm16MonoAndStereo) {
    auto mono = decode_wav(wav(1, 1, 16000, 16, pcm16({0, 16384, -32768, 32767}), /*with_list=*/true));
    ASSERT_TRUE(mono.has_value()) << mono.error().to_string();
    EXPECT_EQ(mono->sample_rate, 16000);
    ASSERT_EQ(mono->samples.size(), 4u);
    EXPECT_FLOAT_EQ(mono->samples[1], 0.5f);
    EXPECT_FLOAT_EQ(mono->samples[2], -1.0f);
    // Stereo frames (L, R) are averaged.
    auto stereo = decode_wav(wav(1, 2, 16000, 16, pcm16({16384, 0, -16384, -16384})));
    ASSERT_TRUE(stereo.has_value());
    ASSERT_EQ(stereo->samples.size(), 2u);
    EXPECT_FLOAT_EQ(stereo->samples[0], 0.25f);
    EXPECT_FLOAT_EQ(stereo->samples[1], -0.5f);
}

TEST(Audio, FloatAnd8And24BitPcm) {
    std::vector<uint8_t> f32(8);
    const float fv[2] = {0.25f, -0.75f};
    std::memcpy(f32.data(), fv, 8);
    auto f = decode_wav(wav(3, 1, 16000, 32, f32));
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    EXPECT_FLOAT_EQ(f->samples[1], -0.75f);
    auto u8 = decode_wav(wav(1, 1, 16000, 8, {128, 192, 0}));
    ASSERT_TRUE(u8.has_value());
    EXPECT_FLOAT_EQ(u8->samples[1], 0.5f);
    EXPECT_FLOAT_EQ(u8->samples[2], -1.0f);
    auto s24 = decode_wav(wav(1, 1, 16000, 24, {0x00, 0x00, 0x40, 0x00, 0x00, 0xc0}));  // +0.5, -0.5
    ASSERT_TRUE(s24.has_value());
    EXPECT_FLOAT_EQ(s24->samples[0], 0.5f);
    EXPECT_FLOAT_EQ(s24->samples[1], -0.5f);
}

TEST(Audio, BadWavsGetPreciseErrors) {
    auto expect_error = [](std::vector<uint8_t> bytes, const std::string& want) {
        auto w = decode_wav(bytes);
        ASSERT_FALSE(w.has_value()) << want;
        EXPECT_EQ(w.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(w.error().message().find(want), std::string::npos) << w.error().message();
    };
    expect_error({'O', 'g', 'g', 'S'}, "not a RIFF/WAVE file");
    expect_error(wav(2, 1, 16000, 4, {1, 2}), "unsupported encoding: format tag 2 with 4 bits");
    expect_error(wav(1, 1, 16000, 12, {1, 2}), "format tag 1 with 12 bits");
    expect_error(wav(1, 1, 100, 16, pcm16({1})), "sample rate 100 Hz");
    expect_error(wav(1, 0, 16000, 16, pcm16({1})), "0 channels");
    const std::vector<uint8_t> full = wav(1, 1, 16000, 16, pcm16(std::vector<int16_t>(1000, 7)));
    expect_error(std::vector<uint8_t>(full.begin(), full.end() - 1),
                 "data chunk of 2000 bytes, only 1999 present: truncated");
    expect_error(std::vector<uint8_t>(full.begin(), full.begin() + 30), "fmt chunk of 16 bytes, 10 left: truncated");
    expect_error(std::vector<uint8_t>(full.begin(), full.begin() + 36), "no data chunk");
    // A chunk whose size makes 8 + size wrap in 32 bits ends the walk instead of looping forever.
    std::vector<uint8_t> wrap = {'R', 'I', 'F', 'F', 0,   0,   0,    0,    'W',  'A',
                                 'V', 'E', 'j', 'u', 'n', 'k', 0xf8, 0xff, 0xff, 0xff};
    wrap.resize(64, 0);
    expect_error(wrap, "no fmt chunk in 64 bytes");
    // 31 s at 8 kHz: refused by length, not cut silently.
    expect_error(wav(1, 1, 8000, 16, pcm16(std::vector<int16_t>(8000 * 31, 1))), "31.00 s is too long: at most 30 s");
    // Every prefix of a valid file is an error, never a crash or a partial waveform.
    for (size_t n = 0; n < full.size(); n += 3) {
        EXPECT_FALSE(decode_wav(std::span<const uint8_t>(full.data(), n)).has_value()) << n;
    }
}

TEST(Audio, TenSecondsAre250FramesWithThePaddingMasked) {
    Waveform wave;
    wave.samples.assign(160000, 0.1f);
    auto frames = frame_audio(wave);
    ASSERT_TRUE(frames.has_value());
    EXPECT_EQ(frames->n_frames, 250);  // papers.md §1: 10 s = 250 tokens

    wave.samples.assign(700, 0.25f);
    frames = frame_audio(wave);
    ASSERT_TRUE(frames.has_value());
    ASSERT_EQ(frames->n_frames, 2);
    EXPECT_TRUE(frames->is_valid(1, 59));
    EXPECT_FALSE(frames->is_valid(1, 60));
    EXPECT_EQ(frames->values[640 + 59], 0.25f);
    EXPECT_EQ(frames->values[640 + 60], 0.0f);

    wave.samples.assign(16000 * 30 + 1, 0.0f);
    auto too_long = frame_audio(wave);
    ASSERT_FALSE(too_long.has_value());
    EXPECT_NE(too_long.error().message().find("751 frames"), std::string::npos) << too_long.error().message();
    wave.samples.clear();
    EXPECT_FALSE(frame_audio(wave).has_value());
    wave.sample_rate = 44100;
    wave.samples.assign(10, 0.0f);
    EXPECT_FALSE(frame_audio(wave).has_value());
}

TEST(Audio, ResamplingKeepsATonesShape) {
    for (int rate : {8000, 22050, 44100, 48000}) {
        Waveform in;
        in.sample_rate = rate;
        const double hz = 440.0;
        for (int i = 0; i < rate / 2; ++i) {
            in.samples.push_back(static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * hz * i / rate)));
        }
        const Waveform out = resample_to_16k(in);
        EXPECT_EQ(out.sample_rate, 16000);
        EXPECT_EQ(out.samples.size(), static_cast<size_t>(std::ceil(in.samples.size() * 16000.0 / rate)));
        double max_err = 0;
        for (size_t i = 200; i + 200 < out.samples.size(); ++i) {  // away from the edges' half-kernels
            const double want = 0.5 * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / 16000);
            max_err = std::max(max_err, std::fabs(out.samples[i] - want));
        }
        EXPECT_LT(max_err, 0.01) << rate;
    }
    // A tone above 8 kHz is removed (no aliasing into the band).
    Waveform high;
    high.sample_rate = 48000;
    for (int i = 0; i < 24000; ++i) {
        high.samples.push_back(static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 12000.0 * i / 48000)));
    }
    const Waveform out = resample_to_16k(high);
    double peak = 0;
    for (size_t i = 200; i + 200 < out.samples.size(); ++i) {
        peak = std::max(peak, std::fabs(static_cast<double>(out.samples[i])));
    }
    EXPECT_LT(peak, 0.02);
}

TEST(Audio, PreprocessResamplesThenFrames) {
    std::vector<int16_t> s(44100, 1000);  // 1 s at 44.1 kHz -> 16000 samples -> 25 frames
    auto frames = preprocess_wav(wav(1, 1, 44100, 16, pcm16(s)));
    ASSERT_TRUE(frames.has_value()) << frames.error().to_string();
    EXPECT_EQ(frames->n_frames, 25);
    EXPECT_EQ(frames->n_valid_samples, 16000);
}

}  // namespace
}  // namespace gannet::multimodal
