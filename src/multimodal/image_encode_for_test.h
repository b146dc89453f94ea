// Test-only encoders (the same Debian libraries, used in the other direction) so tests build their
// PNG/JPEG/WebP inputs, then truncate or corrupt them, instead of committing binary fixtures.
// Not thread-safe beyond what the libraries are; test code only.
#pragma once

// jpeglib.h needs FILE and size_t declared before it.
// clang-format off
#include <stdio.h>
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <webp/encode.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace gannet::multimodal::testing {

// RGBA [h, w, 4] with a deterministic pattern; alpha 255 unless with_alpha.
inline std::vector<uint8_t> pattern_rgba(int w, int h, bool with_alpha) {
    std::vector<uint8_t> px(static_cast<size_t>(w) * h * 4);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            uint8_t* p = &px[(static_cast<size_t>(y) * w + x) * 4];
            p[0] = static_cast<uint8_t>(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = static_cast<uint8_t>(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = static_cast<uint8_t>((x + y) % 2 ? 200 : 40);
            p[3] = with_alpha ? static_cast<uint8_t>((x * 37 + y * 11) % 256) : 255;
        }
    }
    return px;
}

inline std::vector<uint8_t> encode_png(const std::vector<uint8_t>& rgba, int w, int h) {
    png_image img;
    std::memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = static_cast<png_uint_32>(w);
    img.height = static_cast<png_uint_32>(h);
    img.format = PNG_FORMAT_RGBA;
    png_alloc_size_t size = 0;
    png_image_write_to_memory(&img, nullptr, &size, 0, rgba.data(), 0, nullptr);
    std::vector<uint8_t> out(size);
    png_image_write_to_memory(&img, out.data(), &size, 0, rgba.data(), 0, nullptr);
    out.resize(size);
    return out;
}

// RGB (alpha dropped) JPEG at the given quality.
inline std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& rgba, int w, int h, int quality) {
    jpeg_compress_struct cinfo;
    jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = static_cast<JDIMENSION>(w);
    cinfo.image_height = static_cast<JDIMENSION>(h);
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    std::vector<uint8_t> row(static_cast<size_t>(w) * 3);
    while (cinfo.next_scanline < cinfo.image_height) {
        for (int x = 0; x < w; ++x) {
            std::memcpy(&row[x * 3], &rgba[(static_cast<size_t>(cinfo.next_scanline) * w + x) * 4], 3);
        }
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    std::vector<uint8_t> out(buf, buf + size);
    jpeg_destroy_compress(&cinfo);
    std::free(buf);  // allocated by libjpeg with malloc
    return out;
}

// A grey progressive JPEG. n_refinements = 0 gives libjpeg's standard progression (~6 scans);
// otherwise each of the 63 AC coefficients gets its own band, first sent with point transform
// n_refinements and then refined one bit per scan: 1 + 63 * (n_refinements + 1) scans in all.
inline std::vector<uint8_t> encode_progressive_grey_jpeg(int w, int h, int n_refinements) {
    jpeg_compress_struct cinfo;
    jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = static_cast<JDIMENSION>(w);
    cinfo.image_height = static_cast<JDIMENSION>(h);
    cinfo.input_components = 1;
    cinfo.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    std::vector<jpeg_scan_info> scans;
    if (n_refinements == 0) {
        jpeg_simple_progression(&cinfo);
    } else {
        scans.push_back({1, {0}, 0, 0, 0, 0});
        for (int k = 1; k < 64; ++k) {
            scans.push_back({1, {0}, k, k, 0, n_refinements});
            for (int a = n_refinements; a > 0; --a) {
                scans.push_back({1, {0}, k, k, a, a - 1});
            }
        }
        cinfo.scan_info = scans.data();
        cinfo.num_scans = static_cast<int>(scans.size());
    }
    jpeg_start_compress(&cinfo, TRUE);
    std::vector<uint8_t> row(static_cast<size_t>(w));
    while (cinfo.next_scanline < cinfo.image_height) {
        for (int x = 0; x < w; ++x) {
            row[x] = static_cast<uint8_t>((x * 31 + cinfo.next_scanline * 17) % 256);
        }
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    std::vector<uint8_t> out(buf, buf + size);
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
    return out;
}

inline std::vector<uint8_t> encode_webp_lossless(const std::vector<uint8_t>& rgba, int w, int h) {
    uint8_t* buf = nullptr;
    const size_t size = WebPEncodeLosslessRGBA(rgba.data(), w, h, w * 4, &buf);
    std::vector<uint8_t> out(buf, buf + size);
    WebPFree(buf);
    return out;
}

}  // namespace gannet::multimodal::testing
