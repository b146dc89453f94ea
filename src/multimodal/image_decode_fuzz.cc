// libFuzzer entry point for the image decoders (PNG, JPEG, WebP and the sniffing in front of them).
// Build with clang and -DGANNET_FUZZ=ON; seed it with small images from image_encode_for_test.h.
// A small pixel cap keeps each run's memory bounded so the fuzzer finds bugs, not big allocations.
#include <cstddef>
#include <cstdint>
#include <span>

#include "multimodal/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gannet::multimodal::DecodeLimits limits;
    limits.max_pixels = 1 << 20;
    auto image = gannet::multimodal::decode_image(std::span<const uint8_t>(data, size), limits);
    if (image.has_value() && image->rgb.size() != static_cast<size_t>(image->width) * image->height * 3) {
        __builtin_trap();
    }
    return 0;
}
