// The projectors loaded from a tiny random GGUF written with the project's gguf writer, checked
// against numpy (training/multimodal/projector_expected.py), and the loader's errors naming tensors.
#include "multimodal/projector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "gguf/gguf_writer.h"

namespace gannet::multimodal {
namespace {

constexpr int64_t kE = 8, kD = 6, kP = 4;

// The LCG of projector_expected.py: offset + scale * uniform(-1, 1).
std::vector<float> lcg(uint32_t seed, int64_t n, float scale, float offset = 0.0f) {
    std::vector<float> out(n);
    for (int64_t i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        out[i] = static_cast<float>(offset + scale * ((static_cast<double>(seed >> 8) / (1 << 24)) * 2 - 1));
    }
    return out;
}

void add(gguf::Writer& w, const char* name, std::vector<int64_t> shape, const std::vector<float>& v,
         tensor::DType dtype = tensor::DType::kF32) {
    ASSERT_TRUE(w.add_tensor_f32(name, dtype, shape, v).ok()) << name;
}

gguf::Writer tiny_projector() {
    gguf::Writer w;
    w.set_string("general.architecture", "clip");
    w.set_string("clip.vision.projector_type", "gemma4uv");
    w.set_string("clip.audio.projector_type", "gemma4ua");
    add(w, kVisionInNormW, {kPatchDim}, lcg(1, kPatchDim, 0.1f, 1.0f));
    add(w, kVisionInNormB, {kPatchDim}, lcg(2, kPatchDim, 0.1f));
    add(w, kVisionPatchW, {kPatchDim, kE}, lcg(3, kE * kPatchDim, 0.02f));
    add(w, kVisionPatchB, {kE}, lcg(4, kE, 0.1f));
    add(w, kVisionEmbdNormW, {kE}, lcg(5, kE, 0.1f, 1.0f));
    add(w, kVisionEmbdNormB, {kE}, lcg(6, kE, 0.1f));
    add(w, kVisionPosEmbd, {kE, 2, kP}, lcg(7, kP * 2 * kE, 0.5f));
    add(w, kVisionPosNormW, {kE}, lcg(8, kE, 0.1f, 1.0f));
    add(w, kVisionPosNormB, {kE}, lcg(9, kE, 0.1f));
    add(w, kVisionProjW, {kE, kD}, lcg(10, kD * kE, 0.3f));
    add(w, kAudioProjW, {kAudioFrameSamples, kD}, lcg(11, kD * kAudioFrameSamples, 0.05f));
    return w;
}

Result<gguf::File> reopen(const gguf::Writer& w) {
    return gguf::File::from_bytes(w.serialize(), "tiny-mmproj.gguf");
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-4f * std::max(1.0f, std::fabs(want[i]))) << "element " << i;
    }
}

TEST(Projector, ImageSoftTokensMatchNumpy) {
    auto file = reopen(tiny_projector());
    ASSERT_TRUE(file.has_value()) << file.error().to_string();
    auto projector = load_vision_projector(*file);
    ASSERT_TRUE(projector.has_value()) << projector.error().to_string();
    EXPECT_EQ(projector->embed_dim, kE);
    EXPECT_EQ(projector->out_dim, kD);
    EXPECT_EQ(projector->posemb_size, kP);
    Patches patches;
    patches.n_x = 3;
    patches.n_y = 2;
    for (int64_t p = 0; p < 6; ++p) {
        for (int64_t k = 0; k < kPatchDim; ++k) {
            patches.values.push_back(static_cast<float>((k * 7 + p * 13) % 256) / 255.0f);
        }
    }
    ThreadPool pool(2);
    auto tokens = project_image(*projector, patches, pool);
    ASSERT_TRUE(tokens.has_value());
    expect_close(*tokens, {-0.08196842f, -0.1168664f,  0.1145231f,  1.006858f,   0.3105487f,  0.4324786f,
                           0.5593756f,   -0.06378398f, 0.2383078f,  0.8769736f,  0.2516635f,  0.4804173f,
                           0.7578208f,   -0.4692235f,  0.05940218f, 0.9314174f,  0.5104536f,  0.4009783f,
                           0.2394892f,   -0.0668081f,  0.1445227f,  -0.2091433f, -0.6590329f, 0.7075253f,
                           0.8200436f,   -0.3364639f,  0.6489155f,  -0.302114f,  -0.5172768f, 0.5848142f,
                           0.6268158f,   -0.3019576f,  0.2949779f,  -0.5447967f, -0.1774943f, 0.3820343f});

    patches.n_x = 5;  // more columns than the 4-entry position table
    patches.values.resize(5 * 2 * kPatchDim);
    auto too_wide = project_image(*projector, patches, pool);
    ASSERT_FALSE(too_wide.has_value());
    EXPECT_EQ(too_wide.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Projector, AudioSoftTokensMatchNumpy) {
    auto file = reopen(tiny_projector());
    ASSERT_TRUE(file.has_value());
    auto projector = load_audio_projector(*file);
    ASSERT_TRUE(projector.has_value()) << projector.error().to_string();
    Waveform wave;
    for (int i = 0; i < 700; ++i) {
        wave.samples.push_back(static_cast<float>(0.5 * std::sin(0.01 * i)));
    }
    auto frames = frame_audio(wave);
    ASSERT_TRUE(frames.has_value());
    ASSERT_EQ(frames->n_frames, 2);
    ThreadPool pool(1);
    auto tokens = project_audio(*projector, *frames, pool);
    ASSERT_TRUE(tokens.has_value());
    expect_close(*tokens, {-0.8202471f, 0.4684924f, 0.2227092f, 0.02916661f, 0.2598358f, -0.2984778f, -0.6683687f,
                           0.8572558f, 0.7171553f, 0.6632066f, -0.05537814f, 0.496476f});
}

TEST(Projector, LoadsFromAFileOnDiskAndF16Weights) {
    gguf::Writer w = tiny_projector();
    // The same model with the projection in F16: loads (dequantised) and stays close.
    gguf::Writer w16;
    auto src = reopen(w);
    ASSERT_TRUE(src.has_value());
    for (const auto& info : src->tensors()) {
        std::vector<float> v(info.n_elements());
        std::memcpy(v.data(), src->tensor_data(info).data(), v.size() * sizeof(float));
        const bool is_proj = info.name == kVisionProjW;
        add(w16, info.name.c_str(), info.shape, v, is_proj ? tensor::DType::kF16 : tensor::DType::kF32);
    }
    const std::string path = ::testing::TempDir() + "gannet_mmproj_" + std::to_string(::getpid()) + ".gguf";
    ASSERT_TRUE(w16.write(path).ok());
    auto file = gguf::File::open(path);
    ASSERT_TRUE(file.has_value()) << file.error().to_string();
    auto p16 = load_vision_projector(*file);
    ASSERT_TRUE(p16.has_value()) << p16.error().to_string();
    auto p32 = load_vision_projector(*src);
    ASSERT_TRUE(p32.has_value());
    for (size_t i = 0; i < p32->proj_w.size(); ++i) {
        EXPECT_NEAR(p16->proj_w[i], p32->proj_w[i], 1e-3f);
    }
    std::remove(path.c_str());
}

TEST(Projector, MissingOrMisshapenTensorsAreNamed) {
    gguf::Writer missing;
    missing.set_string("clip.vision.projector_type", "gemma4uv");
    add(missing, kVisionPatchW, {kPatchDim, kE}, lcg(3, kE * kPatchDim, 0.02f));
    auto f1 = reopen(missing);
    ASSERT_TRUE(f1.has_value());
    auto p1 = load_vision_projector(*f1);
    ASSERT_FALSE(p1.has_value());
    EXPECT_EQ(p1.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(p1.error().message().find("tensor v.position_embd.weight is missing"), std::string::npos)
        << p1.error().message();

    gguf::Writer bad_shape;
    add(bad_shape, kVisionPatchW, {kPatchDim - 48, kE}, lcg(3, kE * (kPatchDim - 48), 0.02f));
    auto f2 = reopen(bad_shape);
    ASSERT_TRUE(f2.has_value());
    auto p2 = load_vision_projector(*f2);
    ASSERT_FALSE(p2.has_value());
    EXPECT_EQ(p2.error().code(), ErrorCode::kDataLoss);
    EXPECT_EQ(p2.error().message(),
              "multimodal: projector: tensor v.patch_embd.weight has shape [6864, 8]: want [6912, -1]");

    gguf::Writer bad_audio;
    add(bad_audio, kAudioProjW, {320, kD}, lcg(11, kD * 320, 0.05f));
    auto f3 = reopen(bad_audio);
    ASSERT_TRUE(f3.has_value());
    auto p3 = load_audio_projector(*f3);
    ASSERT_FALSE(p3.has_value());
    EXPECT_NE(p3.error().message().find("mm.a.input_projection.weight has shape [320, 6]"), std::string::npos);

    gguf::Writer other = tiny_projector();
    other.set_string("clip.vision.projector_type", "gemma3");
    auto f4 = reopen(other);
    ASSERT_TRUE(f4.has_value());
    auto p4 = load_vision_projector(*f4);
    ASSERT_FALSE(p4.has_value());
    EXPECT_EQ(p4.error().message(),
              "multimodal: projector: clip.vision.projector_type is \"gemma3\": want \"gemma4uv\"");
}

}  // namespace
}  // namespace gannet::multimodal
