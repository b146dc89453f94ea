// add_test_projectors (test_projectors.h).
#include "multimodal/test_projectors.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "multimodal/projector.h"

namespace gannet::multimodal {

Status add_test_projectors(gguf::Writer& w, int64_t n_embd, int64_t embed_dim, int64_t posemb_size, uint64_t seed) {
    if (n_embd <= 0 || embed_dim <= 0 || posemb_size <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "test projectors: n_embd %lld, embed_dim %lld and posemb_size %lld must be > 0",
                          static_cast<long long>(n_embd), static_cast<long long>(embed_dim),
                          static_cast<long long>(posemb_size));
    }
    std::mt19937_64 rng(seed);
    auto add = [&](const char* name, std::vector<int64_t> shape, float center, float spread) {
        int64_t n = 1;
        for (int64_t d : shape) {
            n *= d;
        }
        std::normal_distribution<float> dist(center, spread);
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) {
            x = dist(rng);
        }
        return w.add_tensor_f32(name, tensor::DType::kF32, shape, v);
    };
    w.set_string("clip.vision.projector_type", "gemma4uv");
    w.set_string("clip.audio.projector_type", "gemma4ua");
    const float patch_std = 1.0f / std::sqrt(static_cast<float>(kPatchDim));
    GANNET_RETURN_IF_ERROR(add(kVisionInNormW, {kPatchDim}, 1.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(add(kVisionInNormB, {kPatchDim}, 0.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(add(kVisionPatchW, {kPatchDim, embed_dim}, 0.0f, patch_std));
    GANNET_RETURN_IF_ERROR(add(kVisionPatchB, {embed_dim}, 0.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(add(kVisionEmbdNormW, {embed_dim}, 1.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(add(kVisionEmbdNormB, {embed_dim}, 0.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(add(kVisionPosEmbd, {embed_dim, 2, posemb_size}, 0.0f, 0.5f));
    GANNET_RETURN_IF_ERROR(add(kVisionPosNormW, {embed_dim}, 1.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(add(kVisionPosNormB, {embed_dim}, 0.0f, 0.1f));
    GANNET_RETURN_IF_ERROR(
        add(kVisionProjW, {embed_dim, n_embd}, 0.0f, 1.0f / std::sqrt(static_cast<float>(embed_dim))));
    return add(kAudioProjW, {kAudioFrameSamples, n_embd}, 0.0f,
               1.0f / std::sqrt(static_cast<float>(kAudioFrameSamples)));
}

}  // namespace gannet::multimodal
