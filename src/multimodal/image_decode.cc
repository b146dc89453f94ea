// Format sniffing, the size check every decoder runs before allocating, alpha compositing and the
// WebP decoder. PNG and JPEG, whose libraries report errors through longjmp, are in
// png_jpeg_decode.cc.
#include "multimodal/image_decode.h"

#include <webp/decode.h>

#include <cstring>

namespace gannet::multimodal {

const char* image_format_name(ImageFormat format) {
    switch (format) {
        case ImageFormat::kPng: return "png";
        case ImageFormat::kJpeg: return "jpeg";
        case ImageFormat::kWebp: return "webp";
        case ImageFormat::kGif: return "gif";
        case ImageFormat::kBmp: return "bmp";
        case ImageFormat::kUnknown: break;
    }
    return "unknown";
}

ImageFormat sniff_image_format(std::span<const uint8_t> b) {
    auto starts = [&](size_t at, const char* magic, size_t n) {
        return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
    };
    if (starts(0, "\x89PNG\r\n\x1a\n", 8)) {
        return ImageFormat::kPng;
    }
    if (starts(0, "\xff\xd8\xff", 3)) {
        return ImageFormat::kJpeg;
    }
    if (starts(0, "RIFF", 4) && starts(8, "WEBP", 4)) {
        return ImageFormat::kWebp;
    }
    if (starts(0, "GIF87a", 6) || starts(0, "GIF89a", 6)) {
        return ImageFormat::kGif;
    }
    if (starts(0, "BM", 2)) {
        return ImageFormat::kBmp;
    }
    return ImageFormat::kUnknown;
}

Status check_image_size(const char* format, int64_t width, int64_t height, const DecodeLimits& limits) {
    if (width <= 0 || height <= 0) {
        return make_error(ErrorCode::kInvalidArgument, "image: %s: bad size %lldx%lld: want both sides > 0", format,
                          static_cast<long long>(width), static_cast<long long>(height));
    }
    if (width > limits.max_side || height > limits.max_side || width * height > limits.max_pixels) {
        return make_error(ErrorCode::kResourceExhausted,
                          "image: %s: %lldx%lld is too large: at most %lld pixels and %d per side", format,
                          static_cast<long long>(width), static_cast<long long>(height),
                          static_cast<long long>(limits.max_pixels), limits.max_side);
    }
    return Status();
}

std::vector<uint8_t> composite_on_white(std::span<const uint8_t> rgba) {
    const size_t n_pixels = rgba.size() / 4;
    std::vector<uint8_t> rgb(n_pixels * 3);
    for (size_t i = 0; i < n_pixels; ++i) {
        const uint32_t a = rgba[i * 4 + 3];
        for (size_t c = 0; c < 3; ++c) {
            // Straight (not premultiplied) alpha over white, rounded to nearest.
            rgb[i * 3 + c] = static_cast<uint8_t>((rgba[i * 4 + c] * a + 255 * (255 - a) + 127) / 255);
        }
    }
    return rgb;
}

Result<Image> decode_webp(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    WebPBitstreamFeatures features;
    const VP8StatusCode rc = WebPGetFeatures(bytes.data(), bytes.size(), &features);
    if (rc == VP8_STATUS_NOT_ENOUGH_DATA) {
        return make_error(ErrorCode::kInvalidArgument, "image: webp: truncated header (%zu bytes)", bytes.size());
    }
    if (rc != VP8_STATUS_OK) {
        return make_error(ErrorCode::kInvalidArgument, "image: webp: bad header: libwebp status %d",
                          static_cast<int>(rc));
    }
    if (features.has_animation) {
        return make_error(ErrorCode::kUnimplemented, "image: webp: animated images are not supported: send one frame");
    }
    GANNET_RETURN_IF_ERROR(check_image_size("webp", features.width, features.height, limits));
    Image image;
    image.width = features.width;
    image.height = features.height;
    const size_t n_pixels = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
    std::vector<uint8_t> rgba(n_pixels * 4);
    const int stride = image.width * 4;
    if (WebPDecodeRGBAInto(bytes.data(), bytes.size(), rgba.data(), rgba.size(), stride) == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "image: webp: corrupt or truncated data (%zu bytes, %dx%d)",
                          bytes.size(), image.width, image.height);
    }
    image.rgb = composite_on_white(rgba);
    return image;
}

Result<Image> decode_image(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    if (bytes.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "image: empty data");
    }
    const ImageFormat format = sniff_image_format(bytes);
    switch (format) {
        case ImageFormat::kPng: return decode_png(bytes, limits);
        case ImageFormat::kJpeg: return decode_jpeg(bytes, limits);
        case ImageFormat::kWebp: return decode_webp(bytes, limits);
        case ImageFormat::kGif:
        case ImageFormat::kBmp:
            return make_error(ErrorCode::kUnimplemented, "image: %s is not supported: want png, jpeg or webp",
                              image_format_name(format));
        case ImageFormat::kUnknown: break;
    }
    return make_error(
        ErrorCode::kInvalidArgument, "image: unknown format (first bytes %02x %02x %02x %02x): want png, jpeg or webp",
        bytes[0], bytes.size() > 1 ? bytes[1] : 0, bytes.size() > 2 ? bytes[2] : 0, bytes.size() > 3 ? bytes[3] : 0);
}

}  // namespace gannet::multimodal
