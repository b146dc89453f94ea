// Golden test against Hugging Face transformers' gemma4_unified (training/mm_reference.py, run on
// the GPU machine; fixtures in tests/fixtures/multimodal): a tiny random model as one GGUF (text
// tower + projectors), a 336x480 PNG and a 0.5 s WAV. Checked: the processor's soft-token counts
// for many sizes and budgets; the image and audio soft tokens (Gannet's own decode, preprocess and
// projectors) within 1e-4 relative; the prompt layout of MediaPrompt equal to the reference's ids;
// logits at every position of the multimodal prompt (causal, and generate()'s mask: bidirectional
// inside the image on sliding layers) and of a text prompt within 1e-4 relative, argmax equal.
// rel err = max_i |gannet_i - hf_i| / max_i |hf_i| (per row for logits).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "base/mapped_file.h"
#include "base/test_paths.h"
#include "multimodal/media_prompt.h"
#include "runner/runner.h"

namespace gannet::multimodal {
namespace {

std::string dir() {
    return source_dir() + "/tests/fixtures/multimodal";
}

std::vector<uint8_t> bytes_of(const std::string& name) {
    const std::string s = read_file(dir() + "/" + name).value();
    return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<float> floats_of(const std::string& name) {
    const std::string s = read_file(dir() + "/" + name).value();
    std::vector<float> v(s.size() / sizeof(float));
    std::memcpy(v.data(), s.data(), v.size() * sizeof(float));
    return v;
}

nlohmann::json reference() {
    return nlohmann::json::parse(read_file(dir() + "/mm_reference.json").value());
}

double rel_err(std::span<const float> got, std::span<const float> want) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(got[i]) - want[i]));
        scale = std::max(scale, std::abs(static_cast<double>(want[i])));
    }
    return diff / scale;
}

class MmReference : public ::testing::Test {
protected:
    void SetUp() override {
        // The fixtures are committed: a missing one is a failure, not a reason to skip.
        ASSERT_TRUE(std::filesystem::exists(dir() + "/model.gguf")) << "fixture missing: " << dir();
        ref_ = reference();
        auto m = model::Model::load(dir() + "/model.gguf");
        ASSERT_TRUE(m.has_value()) << m.error().to_string();
        model_ = std::move(*m);
        const model::ModelConfig& c = model_->config();
        auto media = load_media_model(model_->file(), model_->file(), c.arch_name, c.n_embd, c.n_vocab);
        ASSERT_TRUE(media.has_value()) << media.error().to_string();
        media_ = std::move(*media);
    }

    std::vector<float> image_rows() {
        auto image = decode_image(bytes_of("image.png"));
        EXPECT_TRUE(image.has_value()) << image.error().to_string();
        auto patches = preprocess_image(*image, ref_["image_budget"].get<int>());
        EXPECT_TRUE(patches.has_value()) << patches.error().to_string();
        return project_image(*media_.vision, *patches, pool_).value();
    }

    std::vector<float> audio_rows() {
        auto frames = preprocess_wav(bytes_of("audio.wav"));
        EXPECT_TRUE(frames.has_value()) << frames.error().to_string();
        return project_audio(*media_.audio, *frames, pool_).value();
    }

    // Logits [n, n_vocab] of every position.
    std::vector<float> logits(std::span<const int32_t> ids, model::SoftTokenRows soft) {
        const int32_t n_blocks = static_cast<int32_t>((ids.size() + 15) / 16);
        auto r = runner::Runner::create(*model_, {.n_blocks = n_blocks, .block_size = 16, .n_threads = 2}).value();
        auto got = r->run_sequence(ids, 0, model::LogitsMode::kAll, model::OutputKind::kLogits, soft);
        EXPECT_TRUE(got.has_value()) << got.error().to_string();
        return std::vector<float>(got->begin(), got->end());
    }

    void expect_logits(const std::vector<float>& got, const std::vector<float>& want, size_t n) {
        const size_t v = static_cast<size_t>(model_->config().n_vocab);
        ASSERT_EQ(want.size(), n * v);
        ASSERT_EQ(got.size(), n * v);
        double worst = 0.0;
        for (size_t t = 0; t < n; ++t) {
            const std::span<const float> g(got.data() + t * v, v), w(want.data() + t * v, v);
            worst = std::max(worst, rel_err(g, w));
            EXPECT_EQ(std::max_element(g.begin(), g.end()) - g.begin(),
                      std::max_element(w.begin(), w.end()) - w.begin())
                << "argmax at position " << t;
        }
        EXPECT_LE(worst, 1e-4) << "worst position's relative error";
        std::printf("mm_reference: %zu positions, worst rel err %.3g\n", n, worst);
    }

    nlohmann::json ref_;
    std::unique_ptr<model::Model> model_;
    MediaModel media_;
    ThreadPool pool_{2};
};

TEST_F(MmReference, SoftTokenCountsMatchTheProcessor) {
    ASSERT_TRUE(ref_.contains("token_counts")) << "the reference run's token_counts section failed";
    int n = 0;
    for (const auto& [key, count] : ref_["token_counts"].items()) {
        int64_t h = 0, w = 0;
        int budget = 0;
        ASSERT_EQ(std::sscanf(key.c_str(), "%ldx%ld@%d", &h, &w, &budget), 3) << key;
        auto got = n_soft_tokens(h, w, budget);
        if (count.is_string()) {  // the processor refused this size
            EXPECT_FALSE(got.has_value()) << key << ": transformers said " << count.get<std::string>();
            continue;
        }
        ASSERT_TRUE(got.has_value()) << key << ": " << got.error().to_string();
        EXPECT_EQ(*got, count.get<int64_t>()) << key;
        ++n;
    }
    EXPECT_GE(n, 50);
}

TEST_F(MmReference, ImageAndAudioSoftTokensMatch) {
    const std::vector<float> img = image_rows();
    const std::vector<float> want_img = floats_of("image_embeddings.f32");
    ASSERT_EQ(img.size(), want_img.size());
    EXPECT_EQ(static_cast<int64_t>(img.size()), ref_["n_image_tokens"].get<int64_t>() * model_->config().n_embd);
    EXPECT_LE(rel_err(img, want_img), 1e-4);
    const std::vector<float> aud = audio_rows();
    const std::vector<float> want_aud = floats_of("audio_embeddings.f32");
    ASSERT_EQ(aud.size(), want_aud.size());
    EXPECT_LE(rel_err(aud, want_aud), 1e-4);
    std::printf("mm_reference: image soft tokens rel err %.3g, audio %.3g\n", rel_err(img, want_img),
                rel_err(aud, want_aud));
}

TEST_F(MmReference, TextLogitsMatch) {
    const std::vector<int32_t> ids = ref_["text_ids"].get<std::vector<int32_t>>();
    expect_logits(logits(ids, {}), floats_of("logits_text.f32"), ids.size());
}

TEST_F(MmReference, MultimodalPromptLogitsMatch) {
    const std::vector<int32_t> ids = ref_["ids"].get<std::vector<int32_t>>();
    // The reference prompt: text, <|image> ... <image|>, text, <|audio> ... <audio|>, text.
    const auto boi = std::find(ids.begin(), ids.end(), media_.ids.boi);
    const auto eoi = std::find(ids.begin(), ids.end(), media_.ids.eoi);
    const auto boa = std::find(ids.begin(), ids.end(), media_.ids.boa);
    const auto eoa = std::find(ids.begin(), ids.end(), media_.ids.eoa);
    ASSERT_TRUE(boi < eoi && eoi < boa && boa < eoa && eoa < ids.end());
    MediaPrompt p(media_.ids, model_->config().n_embd);
    p.append_text(std::span<const int32_t>(ids.begin(), boi));
    ASSERT_TRUE(p.append_image(image_rows()).ok());
    p.append_text(std::span<const int32_t>(eoi + 1, boa));
    ASSERT_TRUE(p.append_audio(audio_rows()).ok());
    p.append_text(std::span<const int32_t>(eoa + 1, ids.end()));
    ASSERT_EQ(p.tokens(), ids) << "MediaPrompt lays the prompt out as transformers does";
    // The model's forward without mm_token_type_ids: causal everywhere.
    expect_logits(logits(p.tokens(), p.soft_causal()), floats_of("logits_causal.f32"), ids.size());
    // generate()'s mask: sliding layers see the whole image.
    ASSERT_TRUE(model_->config().is_vision_bidirectional);
    expect_logits(logits(p.tokens(), p.soft()), floats_of("logits_bidir.f32"), ids.size());
}

}  // namespace
}  // namespace gannet::multimodal
