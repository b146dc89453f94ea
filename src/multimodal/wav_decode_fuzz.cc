// libFuzzer entry point for the WAV parser and the framing behind it. Build with clang and
// -DGANNET_FUZZ=ON. The 30 s cap bounds each run's memory.
#include <cstddef>
#include <cstdint>
#include <span>

#include "multimodal/audio.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto wave = gannet::multimodal::decode_wav(std::span<const uint8_t>(data, size));
    if (wave.has_value() && wave->sample_rate == gannet::multimodal::kAudioSampleRate) {
        gannet::multimodal::frame_audio(*wave).error().ignore();
    }
    return 0;
}
