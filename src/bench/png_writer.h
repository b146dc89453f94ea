// A tiny RGB raster and its PNG encoding (8-bit truecolor, no interlace, filter 0, zlib-deflated),
// written with zlib alone: the plot needs nothing of libpng's reading or colour management.
// Owner: bench helper. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace gannet::bench {

struct Rgb {
    uint8_t r = 0, g = 0, b = 0;
};

struct Image {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;  // [height][width][3], row 0 at the top

    Image(int w, int h, Rgb fill);
    // Out-of-range coordinates are ignored (clipping), so drawing code needs no bounds checks.
    void set(int x, int y, Rgb c);
    Rgb at(int x, int y) const;  // REQUIRES: in range
};

// The PNG file bytes. REQUIRES: width, height >= 1.
std::string encode_png(const Image& image);

// Errors: kInvalidArgument when the file cannot be written (names the path and OS error).
Status write_png(const std::string& path, const Image& image);

}  // namespace gannet::bench
