// Audio input for the Gemma 4 12B path (papers.md §1): WAV (RIFF) decoding to mono float, resampling
// to 16 kHz, and framing into 640-sample (40 ms) frames, one soft token each, with a padding mask for
// the last frame. At most 30 s (750 frames). Untrusted input: every chunk size is checked against
// the buffer, and the duration cap is checked before samples are converted. Thread-safety: free
// functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace gannet::multimodal {

inline constexpr int kAudioSampleRate = 16000;
inline constexpr int kAudioFrameSamples = 640;  // audio_samples_per_token: 40 ms, 25 tokens/s
inline constexpr int kAudioMaxFrames = 750;     // audio_seq_length: 30 s
inline constexpr double kAudioMaxSeconds = 30.0;

// Mono samples in [-1, 1].
struct Waveform {
    int32_t sample_rate = kAudioSampleRate;
    std::vector<float> samples;
};

// Parses a RIFF/WAVE file: PCM 8/16/24/32-bit integer or IEEE float 32/64 (format tags 1 and 3, or
// WAVE_FORMAT_EXTENSIBLE carrying either), any channel count (averaged to mono), any rate in
// [1000, 384000] Hz (kept; see resample_to_16k). Unknown chunks (LIST, fact, ...) are skipped.
// Errors (messages start "audio: wav: "): kInvalidArgument for a file that is not RIFF/WAVE, a
// missing/short fmt or data chunk, a data chunk cut short (truncated), an unsupported encoding
// (naming the format tag and bits) or a duration over max_seconds (naming it: not silently cut).
Result<Waveform> decode_wav(std::span<const uint8_t> bytes, double max_seconds = kAudioMaxSeconds);

// Band-limited resampling to 16 kHz: torchaudio's default sinc_interp_hann (Hann-windowed sinc,
// lowpass_filter_width 6, rolloff 0.99), evaluated directly per output sample rather than
// polyphase. Output length ceil(n * 16000 / rate). A 16 kHz input is returned unchanged.
Waveform resample_to_16k(const Waveform& in);

// 640-sample frames: [n_frames, 640], the last zero-padded. n_valid_samples counts real samples;
// is_valid(f, i) is the padding mask.
struct AudioFrames {
    int64_t n_frames = 0;
    int64_t n_valid_samples = 0;
    std::vector<float> values;  // [n_frames, 640]
    bool is_valid(int64_t frame, int64_t i) const { return frame * kAudioFrameSamples + i < n_valid_samples; }
};

// Frames a 16 kHz waveform. kInvalidArgument for a rate other than 16000, no samples, or more than
// 750 frames (30 s).
Result<AudioFrames> frame_audio(const Waveform& wave);

// decode_wav, resample_to_16k when needed, frame_audio.
Result<AudioFrames> preprocess_wav(std::span<const uint8_t> bytes);

}  // namespace gannet::multimodal
