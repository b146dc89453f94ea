// Image decoding for multimodal requests: PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) into
// 8-bit RGB. The format is sniffed from the magic bytes, never from a name. Untrusted input: the
// declared width and height are checked against a pixel cap before any pixel buffer is allocated
// (decompression bombs), and corrupt or truncated data is a Status, never a crash (the C libraries'
// error paths longjmp only across frames that hold no C++ objects). Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace gannet::multimodal {

// An 8-bit RGB image, rows top to bottom.
struct Image {
    int32_t width = 0;
    int32_t height = 0;
    std::vector<uint8_t> rgb;  // [height, width, 3]
};

enum class ImageFormat { kUnknown, kPng, kJpeg, kWebp, kGif, kBmp };

const char* image_format_name(ImageFormat format);

// The format from the first bytes; kUnknown when none matches.
ImageFormat sniff_image_format(std::span<const uint8_t> bytes);

struct DecodeLimits {
    // 32 Mi pixels (e.g. 8192x4096): 96 MiB of RGB plus a 128 MiB RGBA scratch at most. Any image this
    // large is downscaled to at most 1584x1584 by the resize anyway.
    int64_t max_pixels = int64_t{1} << 25;
    int32_t max_side = 32768;
};

// Decodes PNG, JPEG or WebP. Transparent pixels are composited on white (as transformers'
// convert_to_rgb does), in 8-bit sRGB: out = (c*a + 255*(255-a)) / 255, rounded.
// Errors (messages start "image: <format>: "):
//   kInvalidArgument: empty input, an unknown format, corrupt or truncated data;
//   kUnimplemented: GIF, BMP, animated PNG/WebP, CMYK JPEG;
//   kResourceExhausted: width*height over limits.max_pixels or a side over limits.max_side.
Result<Image> decode_image(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// Per-format decoders (decode_image dispatches to them); bytes must be of that format.
Result<Image> decode_png(std::span<const uint8_t> bytes, const DecodeLimits& limits);
Result<Image> decode_jpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits);
Result<Image> decode_webp(std::span<const uint8_t> bytes, const DecodeLimits& limits);

// kResourceExhausted naming format and size when width x height is over the limits, kInvalidArgument
// for a zero or negative side. Shared by the decoders, called before they allocate pixels.
Status check_image_size(const char* format, int64_t width, int64_t height, const DecodeLimits& limits);

// RGBA [n_pixels, 4] composited on white into RGB [n_pixels, 3].
std::vector<uint8_t> composite_on_white(std::span<const uint8_t> rgba);

}  // namespace gannet::multimodal
