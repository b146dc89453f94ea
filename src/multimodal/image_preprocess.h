// The Gemma 4 12B image preprocessing (papers.md §1): resize keeping the aspect ratio so that the
// 48-pixel patch grid fits a soft-token budget, bicubic with antialias, rescale by 1/255 (no
// mean/std normalisation), and patchify into 48x48x3 = 6912 values per soft token.
// Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "multimodal/image_decode.h"

namespace gannet::multimodal {

inline constexpr int kPatchSide = 48;                              // model_patch_size: 16 px x pooling 3
inline constexpr int kPatchDim = kPatchSide * kPatchSide * 3;      // 6912 values per soft token
inline constexpr int kTokenBudgets[] = {70, 140, 280, 560, 1120};  // the processor's allowed max_soft_tokens
inline constexpr int kDefaultTokenBudget = 280;

// kInvalidArgument naming the value unless max_soft_tokens is one of kTokenBudgets.
Status check_token_budget(int max_soft_tokens);

struct PixelSize {
    int64_t height = 0;
    int64_t width = 0;
};

// The resized size for an h x w image (papers.md §1, exactly):
//   max_patches = 9*max_soft_tokens, target_px = max_patches*16*16, f = sqrt(target_px/(h*w)),
//   H = floor(f*h/48)*48, W = floor(f*w/48)*48; if H == 0: H = 48, W = min(floor(w/h)*48,
//   max_soft_tokens*48), and symmetrically when W == 0.
// Both sides come out multiples of 48 with (H/48)*(W/48) <= max_soft_tokens. Small images are scaled up.
// Errors: kInvalidArgument for a budget outside kTokenBudgets or a side < 1.
Result<PixelSize> fit_to_token_budget(int64_t height, int64_t width, int max_soft_tokens);

// (H/48)*(W/48) soft tokens for the image after fit_to_token_budget; the processor's
// num_soft_tokens_per_image. Errors as fit_to_token_budget.
Result<int64_t> n_soft_tokens(int64_t height, int64_t width, int max_soft_tokens);

// Float RGB in [0, 1].
struct FloatImage {
    int64_t width = 0;
    int64_t height = 0;
    std::vector<float> rgb;  // [height, width, 3]
};

// Separable bicubic resize with antialias, as torchvision resize(antialias=True) / PIL: Keys cubic
// with a = -0.5; when shrinking by s the kernel is stretched to 4*s input pixels so every input
// pixel contributes; weights are renormalised at the borders. Horizontal pass first, f32 throughout.
// Input bytes are divided by 255; the output is clamped to [0, 1] (the uint8 path clamps; cubic
// overshoots at edges). Not bit-exact with torchvision: the reference check uses a tolerance.
// REQUIRES: out_height, out_width >= 1; image non-empty.
FloatImage resize_bicubic_antialias(const Image& image, int64_t out_height, int64_t out_width);

// Soft-token inputs of one image.
struct Patches {
    int64_t n_x = 0;            // patches per row: W / 48
    int64_t n_y = 0;            // patch rows: H / 48
    std::vector<float> values;  // [n_y * n_x, 6912]; patch p = y*n_x + x; idx = (r*48 + c)*3 + ch
    int64_t n_patches() const { return n_x * n_y; }
    // Position (x, y) on the 48-px grid of patch p, the indices into the x/y position tables.
    int64_t pos_x(int64_t p) const { return p % n_x; }
    int64_t pos_y(int64_t p) const { return p / n_x; }
};

// Row-major patches of 48x48 pixels, each flattened pixel row, pixel column, channel (HWC).
// REQUIRES: image sides are multiples of 48.
Patches patchify(const FloatImage& image);

// fit_to_token_budget, resize_bicubic_antialias and patchify. Errors as fit_to_token_budget.
Result<Patches> preprocess_image(const Image& image, int max_soft_tokens);

}  // namespace gannet::multimodal
