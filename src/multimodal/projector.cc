// Projector loading from GGUF and the f32 CPU math (projector.h). The two products go through
// kernels::matmul batched over all patches of an image: a 280-token image is 280 x (6912x3840 +
// 3840x3840) = 11.5 G MACs, about 0.5 s at ~25 GFLOP/s per AVX2 core; the norms are O(n x 6912).
#include "multimodal/projector.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/matmul.h"
#include "tensor/quant.h"

namespace gannet::multimodal {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        s += (i ? ", " : "") + std::to_string(shape[i]);
    }
    return s + "]";
}

// The named tensor as f32, checked against `want` (ggml order; -1 matches any size and is filled in).
Result<std::vector<float>> load_tensor(const gguf::File& file, const char* name, std::vector<int64_t>* want) {
    const gguf::TensorInfo* info = file.find_tensor(name);
    if (info == nullptr) {
        return make_error(ErrorCode::kNotFound, "multimodal: projector: tensor %s is missing from %s", name,
                          file.path().c_str());
    }
    bool matches = info->shape.size() == want->size();
    for (size_t i = 0; matches && i < want->size(); ++i) {
        matches = (*want)[i] < 0 || (*want)[i] == info->shape[i];
    }
    if (!matches) {
        return make_error(ErrorCode::kDataLoss, "multimodal: projector: tensor %s has shape %s: want %s", name,
                          shape_string(info->shape).c_str(), shape_string(*want).c_str());
    }
    if (!tensor::can_dequantize(info->dtype)) {
        return make_error(ErrorCode::kDataLoss,
                          "multimodal: projector: tensor %s has dtype %s: want a float or quantised type", name,
                          tensor::dtype_name(info->dtype));
    }
    *want = info->shape;
    const int64_t n = info->n_elements();
    const int64_t row = info->shape.empty() ? 1 : info->shape[0];
    std::vector<float> values(static_cast<size_t>(n));
    const std::span<const uint8_t> data = file.tensor_data(*info);
    const size_t row_bytes = tensor::row_size_bytes(info->dtype, row);
    for (int64_t r = 0; row > 0 && r < n / row; ++r) {
        Status s = tensor::dequantize_row(info->dtype, data.data() + r * row_bytes, values.data() + r * row, row);
        if (!s.ok()) {
            return make_error(ErrorCode::kDataLoss, "multimodal: projector: tensor %s: %s", name, s.message().c_str());
        }
    }
    return values;
}

Status check_projector_type(const gguf::File& file, std::initializer_list<const char*> keys, const char* want) {
    for (const char* key : keys) {
        if (file.find_value(key) == nullptr) {
            continue;
        }
        GANNET_ASSIGN_OR_RETURN(std::string type, file.get_string(key));
        if (type != want) {
            return make_error(ErrorCode::kDataLoss, "multimodal: projector: %s is \"%s\": want \"%s\"", key,
                              type.c_str(), want);
        }
    }
    return Status();
}

// y = x · wᵀ (+ b) for n_tokens rows through the project's matmul kernel (AVX2/AVX-512 when the
// CPU has them). w: [n_out, n_in] row-major f32. x: [n_tokens, n_in], y: [n_tokens, n_out].
Status linear(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>* b, int64_t n_in,
              int64_t n_out, int64_t n_tokens, std::vector<float>* y, ThreadPool& pool) {
    y->resize(static_cast<size_t>(n_tokens * n_out));
    kernels::MatmulArgs args;
    args.w = w.data();
    args.w_dtype = tensor::DType::kF32;
    args.n_in = n_in;
    args.n_out = n_out;
    args.n_tokens = n_tokens;
    args.x = x.data();
    args.y = y->data();
    GANNET_RETURN_IF_ERROR(kernels::matmul(args, pool));
    if (b != nullptr) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t o = 0; o < n_out; ++o) {
                (*y)[t * n_out + o] += (*b)[o];
            }
        }
    }
    return Status();
}

void layer_norm(float* x, int64_t n, const std::vector<float>& w, const std::vector<float>& b) {
    double mean = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        mean += x[i];
    }
    mean /= static_cast<double>(n);
    double var = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        var += (x[i] - mean) * (x[i] - mean);
    }
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(n) + kLayerNormEps);
    for (int64_t i = 0; i < n; ++i) {
        x[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
    }
}

// RMSNorm without a scale (the "weightless" norm before each projection).
void rms_norm(float* x, int64_t n) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        ss += static_cast<double>(x[i]) * x[i];
    }
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + kRmsNormEps);
    for (int64_t i = 0; i < n; ++i) {
        x[i] = static_cast<float>(x[i] * inv);
    }
}

}  // namespace

Result<VisionProjector> load_vision_projector(const gguf::File& file) {
    GANNET_RETURN_IF_ERROR(
        check_projector_type(file, {"clip.projector_type", "clip.vision.projector_type"}, "gemma4uv"));
    VisionProjector p;
    std::vector<int64_t> patch_shape = {kPatchDim, -1};
    GANNET_ASSIGN_OR_RETURN(p.patch_w, load_tensor(file, kVisionPatchW, &patch_shape));
    p.embed_dim = patch_shape[1];
    const int64_t e = p.embed_dim;
    std::vector<int64_t> pos_shape = {e, 2, -1};
    GANNET_ASSIGN_OR_RETURN(p.pos_table, load_tensor(file, kVisionPosEmbd, &pos_shape));
    p.posemb_size = pos_shape[2];
    std::vector<int64_t> proj_shape = {e, -1};
    GANNET_ASSIGN_OR_RETURN(p.proj_w, load_tensor(file, kVisionProjW, &proj_shape));
    p.out_dim = proj_shape[1];
    struct Vec {
        const char* name;
        int64_t n;
        std::vector<float>* out;
    };
    for (const Vec& v : {Vec{kVisionInNormW, kPatchDim, &p.in_norm_w}, Vec{kVisionInNormB, kPatchDim, &p.in_norm_b},
                         Vec{kVisionPatchB, e, &p.patch_b}, Vec{kVisionEmbdNormW, e, &p.embd_norm_w},
                         Vec{kVisionEmbdNormB, e, &p.embd_norm_b}, Vec{kVisionPosNormW, e, &p.pos_norm_w},
                         Vec{kVisionPosNormB, e, &p.pos_norm_b}}) {
        std::vector<int64_t> shape = {v.n};
        GANNET_ASSIGN_OR_RETURN(*v.out, load_tensor(file, v.name, &shape));
    }
    return p;
}

Result<AudioProjector> load_audio_projector(const gguf::File& file) {
    GANNET_RETURN_IF_ERROR(check_projector_type(file, {"clip.audio.projector_type"}, "gemma4ua"));
    AudioProjector p;
    std::vector<int64_t> shape = {kAudioFrameSamples, -1};
    GANNET_ASSIGN_OR_RETURN(p.proj_w, load_tensor(file, kAudioProjW, &shape));
    p.out_dim = shape[1];
    return p;
}

Result<std::vector<float>> project_image(const VisionProjector& p, const Patches& patches, ThreadPool& pool) {
    if (patches.n_x > p.posemb_size || patches.n_y > p.posemb_size) {
        return make_error(ErrorCode::kInvalidArgument,
                          "multimodal: image of %lldx%lld patches: the position table holds %lld per side",
                          static_cast<long long>(patches.n_x), static_cast<long long>(patches.n_y),
                          static_cast<long long>(p.posemb_size));
    }
    const int64_t n = patches.n_patches();
    const int64_t e = p.embed_dim;
    std::vector<float> x = patches.values;  // [n, 6912]
    for (int64_t t = 0; t < n; ++t) {
        layer_norm(&x[t * kPatchDim], kPatchDim, p.in_norm_w, p.in_norm_b);
    }
    std::vector<float> h;  // [n, E]
    GANNET_RETURN_IF_ERROR(linear(x, p.patch_w, &p.patch_b, kPatchDim, e, n, &h, pool));
    for (int64_t t = 0; t < n; ++t) {
        float* row = &h[t * e];
        layer_norm(row, e, p.embd_norm_w, p.embd_norm_b);
        // Factorised positions: table row (x, axis 0) plus row (y, axis 1).
        const float* pos_x = &p.pos_table[(patches.pos_x(t) * 2 + 0) * e];
        const float* pos_y = &p.pos_table[(patches.pos_y(t) * 2 + 1) * e];
        for (int64_t i = 0; i < e; ++i) {
            row[i] += pos_x[i] + pos_y[i];
        }
        layer_norm(row, e, p.pos_norm_w, p.pos_norm_b);
        rms_norm(row, e);
    }
    std::vector<float> out;  // [n, D]
    GANNET_RETURN_IF_ERROR(linear(h, p.proj_w, nullptr, e, p.out_dim, n, &out, pool));
    return out;
}

Result<std::vector<float>> project_audio(const AudioProjector& p, const AudioFrames& frames, ThreadPool& pool) {
    std::vector<float> x = frames.values;  // [n_frames, 640]
    for (int64_t f = 0; f < frames.n_frames; ++f) {
        rms_norm(&x[f * kAudioFrameSamples], kAudioFrameSamples);
    }
    std::vector<float> out;  // [n_frames, D]
    GANNET_RETURN_IF_ERROR(linear(x, p.proj_w, nullptr, kAudioFrameSamples, p.out_dim, frames.n_frames, &out, pool));
    return out;
}

}  // namespace gannet::multimodal
