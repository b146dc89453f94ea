// Resize under a token budget, bicubic antialias resampling and patchify (image_preprocess.h).
#include "multimodal/image_preprocess.h"

#include <algorithm>
#include <cmath>

namespace gannet::multimodal {
namespace {

// Keys' cubic convolution kernel with a = -0.5 (PIL and torch's antialiased bicubic use this a;
// torch's non-antialiased bicubic uses -0.75).
double cubic(double x) {
    constexpr double a = -0.5;
    x = std::fabs(x);
    if (x < 1.0) {
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    }
    if (x < 2.0) {
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    }
    return 0.0;
}

// Per output index: the first input index and the normalised weights of the input pixels it reads.
struct Taps {
    std::vector<int64_t> first;
    std::vector<int64_t> count;
    std::vector<float> weights;  // [n_out, max_taps]
    int64_t max_taps = 0;
};

Taps make_taps(int64_t n_in, int64_t n_out) {
    const double scale = static_cast<double>(n_in) / static_cast<double>(n_out);
    // Shrinking by s stretches the kernel over 2*s pixels each side (antialias); enlarging keeps 2.
    const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
    const double inv_scale = scale >= 1.0 ? 1.0 / scale : 1.0;
    Taps taps;
    taps.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
    taps.first.resize(n_out);
    taps.count.resize(n_out);
    taps.weights.assign(n_out * taps.max_taps, 0.0f);
    std::vector<double> w(taps.max_taps);
    for (int64_t i = 0; i < n_out; ++i) {
        const double center = (static_cast<double>(i) + 0.5) * scale;
        // Truncation toward zero, then clamping, as PIL/torch compute the window.
        const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
        const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), n_in);
        const int64_t n = std::min(hi - lo, taps.max_taps);
        double total = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            w[j] = cubic((static_cast<double>(lo + j) - center + 0.5) * inv_scale);
            total += w[j];
        }
        taps.first[i] = lo;
        taps.count[i] = n;
        for (int64_t j = 0; j < n; ++j) {
            taps.weights[i * taps.max_taps + j] = static_cast<float>(total != 0.0 ? w[j] / total : 0.0);
        }
    }
    return taps;
}

}  // namespace

Status check_token_budget(int max_soft_tokens) {
    for (int budget : kTokenBudgets) {
        if (budget == max_soft_tokens) {
            return Status();
        }
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "image: max_soft_tokens %d is not allowed: want one of 70, 140, 280, 560, 1120", max_soft_tokens);
}

Result<PixelSize> fit_to_token_budget(int64_t height, int64_t width, int max_soft_tokens) {
    GANNET_RETURN_IF_ERROR(check_token_budget(max_soft_tokens));
    if (height < 1 || width < 1) {
        return make_error(ErrorCode::kInvalidArgument, "image: bad size %lldx%lld: want both sides >= 1",
                          static_cast<long long>(width), static_cast<long long>(height));
    }
    const int64_t max_patches = int64_t{max_soft_tokens} * 9;
    const double target_px = static_cast<double>(max_patches * 16 * 16);
    const double f = std::sqrt(target_px / (static_cast<double>(height) * static_cast<double>(width)));
    PixelSize out;
    out.height = static_cast<int64_t>(std::floor(f * static_cast<double>(height) / kPatchSide)) * kPatchSide;
    out.width = static_cast<int64_t>(std::floor(f * static_cast<double>(width) / kPatchSide)) * kPatchSide;
    // A very thin image rounds one side to zero patches: keep one row (column) and as many patches
    // along the other side as the aspect ratio gives, up to the budget.
    if (out.height == 0) {
        out.height = kPatchSide;
        out.width = std::min((width / height) * kPatchSide, (max_patches / 9) * kPatchSide);
    } else if (out.width == 0) {
        out.width = kPatchSide;
        out.height = std::min((height / width) * kPatchSide, (max_patches / 9) * kPatchSide);
    }
    return out;
}

Result<int64_t> n_soft_tokens(int64_t height, int64_t width, int max_soft_tokens) {
    GANNET_ASSIGN_OR_RETURN(PixelSize size, fit_to_token_budget(height, width, max_soft_tokens));
    return (size.height / kPatchSide) * (size.width / kPatchSide);
}

FloatImage resize_bicubic_antialias(const Image& image, int64_t out_height, int64_t out_width) {
    GANNET_CHECK(out_height >= 1 && out_width >= 1 && image.width >= 1 && image.height >= 1);
    const int64_t in_w = image.width;
    const int64_t in_h = image.height;
    const Taps tx = make_taps(in_w, out_width);
    const Taps ty = make_taps(in_h, out_height);
    // Horizontal pass: [in_h, out_width, 3]. Cost: (in_h*out_w + out_h*out_w) * 3 * taps MACs; a
    // 4000x3000 photo to 768x576 is ~0.2 G MACs, some 0.1 s on one core.
    std::vector<float> mid(static_cast<size_t>(in_h * out_width * 3));
    for (int64_t y = 0; y < in_h; ++y) {
        const uint8_t* row = image.rgb.data() + y * in_w * 3;
        for (int64_t x = 0; x < out_width; ++x) {
            float acc[3] = {0, 0, 0};
            const float* w = &tx.weights[x * tx.max_taps];
            for (int64_t j = 0; j < tx.count[x]; ++j) {
                const uint8_t* px = row + (tx.first[x] + j) * 3;
                for (int c = 0; c < 3; ++c) {
                    acc[c] += w[j] * (static_cast<float>(px[c]) * (1.0f / 255.0f));
                }
            }
            std::copy(acc, acc + 3, &mid[(y * out_width + x) * 3]);
        }
    }
    FloatImage out;
    out.width = out_width;
    out.height = out_height;
    out.rgb.assign(static_cast<size_t>(out_height * out_width * 3), 0.0f);
    for (int64_t y = 0; y < out_height; ++y) {
        const float* w = &ty.weights[y * ty.max_taps];
        float* dst = &out.rgb[y * out_width * 3];
        for (int64_t j = 0; j < ty.count[y]; ++j) {
            const float* src = &mid[(ty.first[y] + j) * out_width * 3];
            for (int64_t i = 0; i < out_width * 3; ++i) {
                dst[i] += w[j] * src[i];
            }
        }
        for (int64_t i = 0; i < out_width * 3; ++i) {
            dst[i] = std::clamp(dst[i], 0.0f, 1.0f);
        }
    }
    return out;
}

Patches patchify(const FloatImage& image) {
    GANNET_CHECK(image.width % kPatchSide == 0 && image.height % kPatchSide == 0);
    Patches patches;
    patches.n_x = image.width / kPatchSide;
    patches.n_y = image.height / kPatchSide;
    patches.values.resize(static_cast<size_t>(patches.n_patches() * kPatchDim));
    constexpr int64_t kRowValues = int64_t{kPatchSide} * 3;  // one pixel row of a patch, HWC
    for (int64_t p = 0; p < patches.n_patches(); ++p) {
        const int64_t x0 = patches.pos_x(p) * kPatchSide;
        const int64_t y0 = patches.pos_y(p) * kPatchSide;
        float* dst = &patches.values[p * kPatchDim];
        for (int64_t r = 0; r < kPatchSide; ++r) {
            const float* src = &image.rgb[((y0 + r) * image.width + x0) * 3];
            std::copy(src, src + kRowValues, dst + r * kRowValues);
        }
    }
    return patches;
}

Result<Patches> preprocess_image(const Image& image, int max_soft_tokens) {
    GANNET_ASSIGN_OR_RETURN(PixelSize size, fit_to_token_budget(image.height, image.width, max_soft_tokens));
    return patchify(resize_bicubic_antialias(image, size.height, size.width));
}

}  // namespace gannet::multimodal
