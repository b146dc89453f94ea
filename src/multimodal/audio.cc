// WAV parsing, resampling and framing (audio.h).
#include "multimodal/audio.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace gannet::multimodal {
namespace {

uint32_t le16(const uint8_t* p) {
    return uint32_t{p[0]} | (uint32_t{p[1]} << 8);
}
uint32_t le32(const uint8_t* p) {
    return le16(p) | (le16(p + 2) << 16);
}

struct WavFormat {
    uint32_t tag = 0;  // 1 PCM, 3 IEEE float
    uint32_t n_channels = 0;
    uint32_t sample_rate = 0;
    uint32_t bits = 0;
    uint32_t block_align = 0;
};

Status parse_fmt(const uint8_t* p, uint32_t size, WavFormat* fmt) {
    if (size < 16) {
        return make_error(ErrorCode::kInvalidArgument, "audio: wav: fmt chunk of %u bytes: want >= 16", size);
    }
    fmt->tag = le16(p);
    fmt->n_channels = le16(p + 2);
    fmt->sample_rate = le32(p + 4);
    fmt->block_align = le16(p + 12);
    fmt->bits = le16(p + 14);
    if (fmt->tag == 0xfffe) {  // WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID
        if (size < 40) {
            return make_error(ErrorCode::kInvalidArgument, "audio: wav: extensible fmt chunk of %u bytes: want 40",
                              size);
        }
        fmt->tag = le16(p + 24);
    }
    const bool is_pcm = fmt->tag == 1 && (fmt->bits == 8 || fmt->bits == 16 || fmt->bits == 24 || fmt->bits == 32);
    const bool is_float = fmt->tag == 3 && (fmt->bits == 32 || fmt->bits == 64);
    if (!is_pcm && !is_float) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "audio: wav: unsupported encoding: format tag %u with %u bits: want PCM 8/16/24/32 or float 32/64",
            fmt->tag, fmt->bits);
    }
    if (fmt->n_channels < 1 || fmt->n_channels > 64) {
        return make_error(ErrorCode::kInvalidArgument, "audio: wav: %u channels: want 1..64", fmt->n_channels);
    }
    if (fmt->sample_rate < 1000 || fmt->sample_rate > 384000) {
        return make_error(ErrorCode::kInvalidArgument, "audio: wav: sample rate %u Hz: want 1000..384000",
                          fmt->sample_rate);
    }
    if (fmt->block_align != fmt->n_channels * fmt->bits / 8) {
        return make_error(ErrorCode::kInvalidArgument, "audio: wav: block align %u: want %u (channels x bytes)",
                          fmt->block_align, fmt->n_channels * fmt->bits / 8);
    }
    return Status();
}

float read_sample(const uint8_t* p, const WavFormat& fmt) {
    if (fmt.tag == 3) {
        if (fmt.bits == 32) {
            float v;
            std::memcpy(&v, p, 4);
            return std::isfinite(v) ? std::clamp(v, -1.0f, 1.0f) : 0.0f;
        }
        double v;
        std::memcpy(&v, p, 8);
        return std::isfinite(v) ? static_cast<float>(std::clamp(v, -1.0, 1.0)) : 0.0f;
    }
    switch (fmt.bits) {
        case 8: return (static_cast<float>(p[0]) - 128.0f) / 128.0f;  // 8-bit WAV is unsigned
        case 16: return static_cast<float>(static_cast<int16_t>(le16(p))) / 32768.0f;
        case 24: {
            // Sign-extend the 3 bytes by placing them in the top of an int32, then shifting back.
            const uint32_t top = (uint32_t{p[0]} << 8) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 24);
            return static_cast<float>(static_cast<int32_t>(top) >> 8) / 8388608.0f;
        }
        default: return static_cast<float>(static_cast<int32_t>(le32(p))) / 2147483648.0f;
    }
}

}  // namespace

Result<Waveform> decode_wav(std::span<const uint8_t> bytes, double max_seconds) {
    if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0
        || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "audio: wav: not a RIFF/WAVE file (%zu bytes): want a .wav",
                          bytes.size());
    }
    WavFormat fmt;
    bool has_fmt = false;
    size_t at = 12;
    while (at + 8 <= bytes.size()) {
        const uint8_t* chunk = bytes.data() + at;
        const uint32_t size = le32(chunk + 4);
        const size_t left = bytes.size() - at - 8;
        if (std::memcmp(chunk, "fmt ", 4) == 0) {
            if (size > left) {
                return make_error(ErrorCode::kInvalidArgument, "audio: wav: fmt chunk of %u bytes, %zu left: truncated",
                                  size, left);
            }
            GANNET_RETURN_IF_ERROR(parse_fmt(chunk + 8, size, &fmt));
            has_fmt = true;
        } else if (std::memcmp(chunk, "data", 4) == 0) {
            if (!has_fmt) {
                return make_error(ErrorCode::kInvalidArgument, "audio: wav: data chunk before the fmt chunk");
            }
            if (size > left) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "audio: wav: data chunk of %u bytes, only %zu present: truncated", size, left);
            }
            const size_t n_frames = size / fmt.block_align;
            const double seconds = static_cast<double>(n_frames) / fmt.sample_rate;
            if (seconds > max_seconds) {
                return make_error(ErrorCode::kInvalidArgument, "audio: wav: %.2f s is too long: at most %.0f s",
                                  seconds, max_seconds);
            }
            Waveform wave;
            wave.sample_rate = static_cast<int32_t>(fmt.sample_rate);
            wave.samples.resize(n_frames);
            const uint32_t step = fmt.bits / 8;
            for (size_t i = 0; i < n_frames; ++i) {
                const uint8_t* frame = chunk + 8 + i * fmt.block_align;
                float sum = 0.0f;
                for (uint32_t c = 0; c < fmt.n_channels; ++c) {
                    sum += read_sample(frame + c * step, fmt);
                }
                wave.samples[i] = sum / static_cast<float>(fmt.n_channels);
            }
            return wave;
        }
        // Chunks are padded to even sizes. In 64 bits: 8 + size in 32 bits wraps to 0 for size
        // 0xfffffff8 and the walk would never end (found by wav_decode_fuzz).
        at += size_t{8} + size + (size & 1);
    }
    return make_error(ErrorCode::kInvalidArgument, "audio: wav: no %s chunk in %zu bytes", has_fmt ? "data" : "fmt",
                      bytes.size());
}

Waveform resample_to_16k(const Waveform& in) {
    if (in.sample_rate == kAudioSampleRate) {
        return in;
    }
    constexpr double kWidth = 6.0;     // lowpass_filter_width: zero crossings each side
    constexpr double kRolloff = 0.99;  // cutoff just under the lower Nyquist frequency
    const double in_rate = in.sample_rate;
    const double base = std::min(in_rate, double{kAudioSampleRate}) * kRolloff;
    const double ratio = base / in_rate;  // cycles of the cutoff per input sample
    const int64_t n_in = static_cast<int64_t>(in.samples.size());
    const int64_t n_out = static_cast<int64_t>(std::ceil(static_cast<double>(n_in) * kAudioSampleRate / in_rate));
    const double half = kWidth / ratio;  // kernel half-width in input samples
    Waveform out;
    out.samples.resize(n_out);
    for (int64_t i = 0; i < n_out; ++i) {
        const double u = static_cast<double>(i) * in_rate / kAudioSampleRate;  // position in input samples
        const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(u - half)));
        const int64_t hi = std::min<int64_t>(n_in - 1, static_cast<int64_t>(std::floor(u + half)));
        double acc = 0.0;
        for (int64_t j = lo; j <= hi; ++j) {
            const double t = (static_cast<double>(j) - u) * ratio;  // in cutoff periods, |t| <= kWidth
            const double window = std::pow(std::cos(t * std::numbers::pi / kWidth / 2.0), 2.0);
            const double sinc = t == 0.0 ? 1.0 : std::sin(std::numbers::pi * t) / (std::numbers::pi * t);
            acc += in.samples[j] * sinc * window * ratio;
        }
        out.samples[i] = static_cast<float>(acc);
    }
    return out;
}

Result<AudioFrames> frame_audio(const Waveform& wave) {
    if (wave.sample_rate != kAudioSampleRate) {
        return make_error(ErrorCode::kInvalidArgument, "audio: sample rate %d Hz: want 16000 (resample first)",
                          wave.sample_rate);
    }
    if (wave.samples.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "audio: no samples");
    }
    AudioFrames frames;
    frames.n_valid_samples = static_cast<int64_t>(wave.samples.size());
    frames.n_frames = (frames.n_valid_samples + kAudioFrameSamples - 1) / kAudioFrameSamples;
    if (frames.n_frames > kAudioMaxFrames) {
        return make_error(ErrorCode::kInvalidArgument, "audio: %lld frames (%.2f s): at most %d (30 s)",
                          static_cast<long long>(frames.n_frames),
                          static_cast<double>(frames.n_valid_samples) / kAudioSampleRate, kAudioMaxFrames);
    }
    frames.values.assign(static_cast<size_t>(frames.n_frames * kAudioFrameSamples), 0.0f);
    std::copy(wave.samples.begin(), wave.samples.end(), frames.values.begin());
    return frames;
}

Result<AudioFrames> preprocess_wav(std::span<const uint8_t> bytes) {
    GANNET_ASSIGN_OR_RETURN(Waveform wave, decode_wav(bytes));
    return frame_audio(resample_to_16k(wave));
}

}  // namespace gannet::multimodal
