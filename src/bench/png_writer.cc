#include "bench/png_writer.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/check.h"

namespace gannet::bench {
namespace {

void put_u32(std::string* out, uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
    out->append(b, 4);
}

// length, type, data, CRC-32 of type + data (PNG spec §5.3).
void put_chunk(std::string* out, const char* type, const std::string& data) {
    put_u32(out, static_cast<uint32_t>(data.size()));
    const size_t type_pos = out->size();
    out->append(type, 4);
    out->append(data);
    const auto* p = reinterpret_cast<const Bytef*>(out->data() + type_pos);
    put_u32(out, static_cast<uint32_t>(crc32(0L, p, static_cast<uInt>(4 + data.size()))));
}

}  // namespace

Image::Image(int w, int h, Rgb fill) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3) {
    for (size_t i = 0; i < rgb.size(); i += 3) {
        rgb[i] = fill.r;
        rgb[i + 1] = fill.g;
        rgb[i + 2] = fill.b;
    }
}

void Image::set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width || y >= height) {
        return;
    }
    uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
}

Rgb Image::at(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
}

std::string encode_png(const Image& image) {
    GANNET_CHECK(image.width >= 1 && image.height >= 1);
    std::string out("\x89PNG\r\n\x1a\n", 8);
    std::string ihdr;
    put_u32(&ihdr, static_cast<uint32_t>(image.width));
    put_u32(&ihdr, static_cast<uint32_t>(image.height));
    ihdr += static_cast<char>(8);  // bit depth
    ihdr += static_cast<char>(2);  // colour type: truecolour
    ihdr.append(3, '\0');          // compression, filter method, no interlace
    put_chunk(&out, "IHDR", ihdr);

    // Each scanline is a filter-type byte (0: none) then the row; plots are flat colour, so deflate
    // alone compresses them well without per-row filter search.
    const size_t row_bytes = static_cast<size_t>(image.width) * 3;
    std::string raw;
    raw.reserve((row_bytes + 1) * image.height);
    for (int y = 0; y < image.height; ++y) {
        raw += '\0';
        raw.append(reinterpret_cast<const char*>(&image.rgb[y * row_bytes]), row_bytes);
    }
    uLongf n = compressBound(raw.size());
    std::string idat(n, '\0');
    const int rc = compress2(reinterpret_cast<Bytef*>(idat.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
                             raw.size(), Z_BEST_COMPRESSION);
    GANNET_CHECK(rc == Z_OK);  // only fails on a too-small buffer, which compressBound rules out
    idat.resize(n);
    put_chunk(&out, "IDAT", idat);
    put_chunk(&out, "IEND", "");
    return out;
}

Status write_png(const std::string& path, const Image& image) {
    const std::string bytes = encode_png(image);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "bench: cannot write '%s': %s", path.c_str(),
                          std::strerror(errno));
    }
    const size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
    const bool is_ok = std::fclose(f) == 0 && n == bytes.size();
    if (!is_ok) {
        return make_error(ErrorCode::kInvalidArgument, "bench: short write to '%s'", path.c_str());
    }
    return Status();
}

}  // namespace gannet::bench
