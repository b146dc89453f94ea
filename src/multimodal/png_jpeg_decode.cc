// PNG and JPEG decoding. Both libraries report fatal errors by longjmp; libpng's simplified API does
// its setjmp internally, and the JPEG path confines setjmp to jpeg_decode_core(), whose frame and the
// library's callbacks hold only C objects, so no C++ destructor is ever skipped. Pixel buffers live in
// the callers' frames and are freed normally on either path.
// jpeglib.h needs FILE and size_t declared before it.
// clang-format off
#include <stdio.h>
#include <jpeglib.h>
// clang-format on
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "multimodal/image_decode.h"

namespace gannet::multimodal {
namespace {

uint32_t read_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// True when an acTL chunk (animated PNG) comes before the first IDAT. libpng would silently decode
// only the default image; we refuse instead of answering about one frame of an animation.
bool is_animated_png(std::span<const uint8_t> bytes) {
    size_t at = 8;
    while (at + 8 <= bytes.size()) {
        const uint64_t length = read_be32(bytes.data() + at);
        const uint8_t* type = bytes.data() + at + 4;
        if (std::memcmp(type, "acTL", 4) == 0) {
            return true;
        }
        if (std::memcmp(type, "IDAT", 4) == 0) {
            return false;
        }
        at += 12 + length;  // length, type, data, crc; a bad length just ends the scan
    }
    return false;
}

}  // namespace

Result<Image> decode_png(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    if (is_animated_png(bytes)) {
        return make_error(ErrorCode::kUnimplemented,
                          "image: png: animated png (APNG) is not supported: send one frame");
    }
    png_image png;
    std::memset(&png, 0, sizeof(png));
    png.version = PNG_IMAGE_VERSION;
    if (png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()) == 0) {
        Status error = make_error(ErrorCode::kInvalidArgument, "image: png: bad header: %s", png.message);
        png_image_free(&png);
        return error;
    }
    // The header's size is checked here, before the pixel buffer exists: a 20000x20000 bomb stops now.
    if (Status s = check_image_size("png", png.width, png.height, limits); !s.ok()) {
        png_image_free(&png);
        return s;
    }
    png.format = PNG_FORMAT_RGBA;
    Image image;
    image.width = static_cast<int32_t>(png.width);
    image.height = static_cast<int32_t>(png.height);
    std::vector<uint8_t> rgba(PNG_IMAGE_SIZE(png));
    if (png_image_finish_read(&png, /*background=*/nullptr, rgba.data(), /*row_stride=*/0, /*colormap=*/nullptr) == 0) {
        Status error = make_error(ErrorCode::kInvalidArgument, "image: png: corrupt or truncated data (%zu bytes): %s",
                                  bytes.size(), png.message);
        png_image_free(&png);
        return error;
    }
    png_image_free(&png);
    image.rgb = composite_on_white(rgba);
    return image;
}

namespace {

// Everything the JPEG decode touches across a longjmp: plain C data only.
struct JpegJob {
    jpeg_error_mgr err;  // first member: the error callbacks cast j_common_ptr->err back to JpegJob
    jpeg_progress_mgr progress;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    const uint8_t* data;
    size_t size;
    const DecodeLimits* limits;
    int width;
    int height;
    int color_space;
    std::vector<uint8_t>* rgb;  // owned by the caller's frame
};

extern "C" void jpeg_on_error(j_common_ptr cinfo) {
    JpegJob* job = reinterpret_cast<JpegJob*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, job->message);
    std::longjmp(job->jump, 1);
}

// Warnings (msg_level -1) include "premature end of JPEG file": libjpeg would pad the picture with
// grey and carry on, which would hand the model a half-blank image. Treat them as errors.
extern "C" void jpeg_on_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0) {
        jpeg_on_error(cinfo);
    }
}

// A progressive JPEG may hold thousands of tiny scans, each a pass over the whole coefficient buffer:
// seconds of CPU from a few KB (libjpeg-turbo's advice for untrusted input is a scan limit, as its
// TurboJPEG API's TJPARAM_SCANLIMIT). Real encoders write about 10.
constexpr int kMaxJpegScans = 500;

extern "C" void jpeg_on_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kMaxJpegScans) {
        JpegJob* job = reinterpret_cast<JpegJob*>(cinfo->err);
        std::snprintf(job->message, sizeof(job->message), "more than %d progressive scans", kMaxJpegScans);
        std::longjmp(job->jump, 1);
    }
}

// 0 on success; 1 after a library error (job->message set); 2 when the header's size is over the limits.
int jpeg_decode_core(JpegJob* job) {
    jpeg_decompress_struct cinfo;
    std::memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&job->err);
    job->err.error_exit = jpeg_on_error;
    job->err.emit_message = jpeg_on_message;
    if (setjmp(job->jump) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    job->progress.progress_monitor = jpeg_on_progress;
    cinfo.progress = &job->progress;
    jpeg_mem_src(&cinfo, job->data, static_cast<unsigned long>(job->size));
    jpeg_read_header(&cinfo, TRUE);
    job->width = static_cast<int>(cinfo.image_width);
    job->height = static_cast<int>(cinfo.image_height);
    job->color_space = cinfo.jpeg_color_space;
    if (!check_image_size("jpeg", cinfo.image_width, cinfo.image_height, *job->limits).ok()) {
        jpeg_destroy_decompress(&cinfo);
        return 2;
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return 3;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const size_t stride = static_cast<size_t>(cinfo.output_width) * 3;
    job->rgb->resize(stride * cinfo.output_height);  // cannot throw here: sized below the checked cap
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = job->rgb->data() + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

}  // namespace

Result<Image> decode_jpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
    Image image;
    JpegJob job;
    std::memset(&job, 0, sizeof(job));
    job.data = bytes.data();
    job.size = bytes.size();
    job.limits = &limits;
    job.rgb = &image.rgb;
    switch (jpeg_decode_core(&job)) {
        case 0: break;
        case 2: return check_image_size("jpeg", job.width, job.height, limits);
        case 3:
            return make_error(ErrorCode::kUnimplemented,
                              "image: jpeg: CMYK/YCCK colour (space %d) is not supported: want RGB or grey",
                              job.color_space);
        default:
            return make_error(ErrorCode::kInvalidArgument, "image: jpeg: corrupt or truncated data (%zu bytes): %s",
                              bytes.size(), job.message);
    }
    image.width = job.width;
    image.height = job.height;
    return image;
}

}  // namespace gannet::multimodal
