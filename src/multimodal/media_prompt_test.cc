// Soft tokens into the one forward: the prompt layout of media spans, the embeddings override
// (rows equal to the token embeddings give the token run's logits exactly, also when the prompt is
// prefilled in chunks), images and audio through a gemma4 test model carrying random projectors, and
// the errors (text-only model, malformed rows, gemma4 features the forward does not have).
#include "multimodal/media_prompt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "engine/engine.h"
#include "model/test_models.h"
#include "multimodal/test_projectors.h"
#include "runner/runner.h"
#include "tokenizer/tokenizer.h"

namespace gannet::multimodal {
namespace {

constexpr int64_t kEmbd = 64;

gguf::Writer gemma4_writer(bool is_media) {
    Result<gguf::Writer> w = model::build_test_model({.arch = "gemma4", .seed = 7, .n_layers = 2});
    EXPECT_TRUE(w.has_value()) << w.error().to_string();
    if (is_media) {
        EXPECT_TRUE(add_test_projectors(*w, kEmbd, 16, 64, 3).ok());
    }
    return std::move(*w);
}

std::unique_ptr<model::Model> load(const gguf::Writer& w) {
    Result<gguf::File> f = gguf::File::from_bytes(w.serialize(), "gemma4-test.gguf");
    EXPECT_TRUE(f.has_value()) << f.error().to_string();
    Result<std::unique_ptr<model::Model>> m = model::Model::from_file(std::move(*f));
    EXPECT_TRUE(m.has_value()) << m.error().to_string();
    return std::move(*m);
}

std::vector<float> run(model::Model& m, std::span<const int32_t> tokens, model::SoftTokenRows soft, size_t chunk = 0) {
    auto r = runner::Runner::create(m, {.n_blocks = 8, .block_size = 16, .n_threads = 2}).value();
    if (chunk == 0) {
        chunk = tokens.size();
    }
    std::vector<float> all;
    for (size_t at = 0; at < tokens.size(); at += chunk) {
        const size_t n = std::min(chunk, tokens.size() - at);
        auto got = r->run_sequence(tokens.subspan(at, n), static_cast<int32_t>(at), model::LogitsMode::kAll,
                                   model::OutputKind::kLogits, soft);
        EXPECT_TRUE(got.has_value()) << got.error().to_string();
        all.insert(all.end(), got->begin(), got->end());
    }
    return all;
}

// The scaled embedding row of token id (what the forward computes for a text token).
std::vector<float> embedding_row(const model::Model& m, int32_t id) {
    const model::WeightMatrix& e = m.weights().token_embd;
    std::vector<float> row(static_cast<size_t>(kEmbd));
    std::memcpy(row.data(), static_cast<const float*>(e.data) + id * kEmbd, row.size() * sizeof(float));
    for (float& x : row) {
        x *= m.config().embd_scale;
    }
    return row;
}

TEST(MediaPrompt, LaysOutMarkersPlaceholdersAndPositions) {
    const MediaTokenIds ids{.boi = 500, .eoi = 501, .image = 502, .boa = 504, .eoa = 505, .audio = 506};
    MediaPrompt p(ids, 2);
    const int32_t text[] = {2, 10};
    p.append_text(text);
    ASSERT_TRUE(p.append_image(std::vector<float>{1, 2, 3, 4, 5, 6}).ok());
    ASSERT_TRUE(p.append_audio(std::vector<float>{7, 8}).ok());
    EXPECT_EQ(p.tokens(), (std::vector<int32_t>{2, 10, 500, 502, 502, 502, 501, 504, 506, 505}));
    const model::SoftTokenRows soft = p.soft();
    EXPECT_EQ(std::vector<int32_t>(soft.positions.begin(), soft.positions.end()), (std::vector<int32_t>{3, 4, 5, 8}));
    EXPECT_EQ(std::vector<float>(soft.rows.begin(), soft.rows.end()), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(p.n_soft_tokens(), 4);
    ASSERT_EQ(soft.bidirectional.size(), 1u);  // the image; audio stays causal
    EXPECT_EQ(soft.bidirectional[0].begin, 3);
    EXPECT_EQ(soft.bidirectional[0].end, 6);
    EXPECT_TRUE(p.soft_causal().bidirectional.empty());
    Status bad = p.append_image(std::vector<float>{1, 2, 3});
    EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.message().find("3 soft-token values"), std::string::npos) << bad.message();
    EXPECT_EQ(p.append_audio({}).code(), ErrorCode::kInvalidArgument);
}

TEST(SoftTokens, RowsEqualToTheTokenEmbeddingsGiveTheTokenLogits) {
    std::unique_ptr<model::Model> m = load(gemma4_writer(false));
    const std::vector<int32_t> plain = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48};
    std::vector<int32_t> masked = plain;
    std::vector<int32_t> positions = {3, 4, 7};
    std::vector<float> rows;
    for (int32_t p : positions) {
        masked[static_cast<size_t>(p)] = 0;  // a different token: only the override can restore it
        const std::vector<float> r = embedding_row(*m, plain[static_cast<size_t>(p)]);
        rows.insert(rows.end(), r.begin(), r.end());
    }
    const std::vector<float> want = run(*m, plain, {});
    const model::SoftTokenRows soft{positions, rows};
    EXPECT_EQ(run(*m, masked, soft), want);
    EXPECT_EQ(run(*m, masked, soft, 3), want) << "prefill in chunks of 3 (rows at absolute positions)";
    EXPECT_NE(run(*m, masked, {}), want);
}

// Sliding layers see the whole image span, clipped to the step's last token; others are causal.
TEST(SoftTokens, LastVisiblePositionsCoverImageSpans) {
    const std::vector<int32_t> tokens(10, 7);
    const std::vector<int32_t> positions = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const std::vector<model::PositionSpan> spans = {{2, 5}, {7, 12}};
    model::BatchSeq s{.tokens = tokens, .pos = 0, .block_table = {}};
    s.soft.bidirectional = spans;
    std::vector<int32_t> last(10, -1);
    ASSERT_TRUE(model::fill_last_visible(std::span<const model::BatchSeq>(&s, 1), positions.data(), last.data()).ok());
    EXPECT_EQ(last, (std::vector<int32_t>{0, 1, 4, 4, 4, 5, 6, 9, 9, 9}));  // [7, 12) clipped at 9
    const std::vector<model::PositionSpan> overlapping = {{2, 5}, {4, 6}};
    s.soft.bidirectional = overlapping;
    Status bad = model::fill_last_visible(std::span<const model::BatchSeq>(&s, 1), positions.data(), last.data());
    EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.message().find("span [4, 6)"), std::string::npos) << bad.message();
}

TEST(SoftTokens, ImageTokensSeeTheWholeImageOnSlidingLayers) {
    std::unique_ptr<model::Model> m = load(gemma4_writer(false));
    ASSERT_TRUE(m->config().is_vision_bidirectional);
    const std::vector<int32_t> tokens = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50};
    std::vector<int32_t> positions = {3, 4, 5, 6, 7};
    std::vector<float> rows;
    for (int32_t p : positions) {
        const std::vector<float> r = embedding_row(*m, 100 + p);
        rows.insert(rows.end(), r.begin(), r.end());
    }
    const std::vector<model::PositionSpan> span = {{3, 8}};
    const std::vector<float> causal = run(*m, tokens, {positions, rows, {}});
    const std::vector<float> bidir = run(*m, tokens, {positions, rows, span});
    const size_t v = static_cast<size_t>(m->config().n_vocab);
    // Before the image nothing changes; the image's first token now sees the rest of it.
    EXPECT_TRUE(std::equal(bidir.begin(), bidir.begin() + 3 * v, causal.begin()));
    EXPECT_FALSE(std::equal(bidir.begin() + 3 * v, bidir.begin() + 4 * v, causal.begin() + 3 * v));
    // Chunks that do not cut the image give the same logits as one step.
    auto r = runner::Runner::create(*m, {.n_blocks = 8, .block_size = 16, .n_threads = 2}).value();
    const model::SoftTokenRows soft{positions, rows, span};
    auto head =
        r->run_sequence(std::span(tokens).subspan(0, 3), 0, model::LogitsMode::kAll, model::OutputKind::kLogits, soft)
            .value();
    std::vector<float> chunked(head.begin(), head.end());
    auto rest =
        r->run_sequence(std::span(tokens).subspan(3), 3, model::LogitsMode::kAll, model::OutputKind::kLogits, soft)
            .value();
    chunked.insert(chunked.end(), rest.begin(), rest.end());
    EXPECT_EQ(chunked, bidir);
}

TEST(SoftTokens, MalformedRowsAreRefused) {
    std::unique_ptr<model::Model> m = load(gemma4_writer(false));
    auto r = runner::Runner::create(*m, {.n_blocks = 2, .block_size = 16, .n_threads = 1}).value();
    const std::vector<int32_t> tokens = {1, 40, 41, 42};
    const std::vector<float> rows(2 * kEmbd, 0.5f);
    const std::vector<int32_t> descending = {2, 1};
    auto got = r->run_sequence(tokens, 0, model::LogitsMode::kLast, model::OutputKind::kLogits, {descending, rows});
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(got.error().message().find("strictly ascending"), std::string::npos) << got.error().message();
    const std::vector<int32_t> one = {1};
    got = r->run_sequence(tokens, 0, model::LogitsMode::kLast, model::OutputKind::kLogits, {one, rows});
    ASSERT_FALSE(got.has_value());
    EXPECT_NE(got.error().message().find("128 floats for 1 positions, expected 64"), std::string::npos)
        << got.error().message();
}

TEST(SoftTokens, ImageAndAudioThroughTheModelFile) {
    const gguf::Writer w = gemma4_writer(true);
    std::unique_ptr<model::Model> m = load(w);
    auto media = load_media_model(m->file(), m->file(), "gemma4", kEmbd, m->config().n_vocab);
    ASSERT_TRUE(media.has_value()) << media.error().to_string();
    ASSERT_TRUE(media->vision.has_value() && media->audio.has_value());
    EXPECT_EQ(media->ids.image, media->ids.boi + 2);  // the test vocabulary's marker order
    ThreadPool pool(2);
    auto image = [](int seed) {
        MediaPart part;
        part.image.width = 96;
        part.image.height = 48;
        part.image.rgb.resize(96 * 48 * 3);
        for (size_t i = 0; i < part.image.rgb.size(); ++i) {
            part.image.rgb[i] = static_cast<uint8_t>((i * 7 + static_cast<size_t>(seed) * 31) % 256);
        }
        part.max_soft_tokens = 70;
        return part;
    };
    auto rows_a = embed_media(*media, image(1), pool);
    auto rows_b = embed_media(*media, image(2), pool);
    ASSERT_TRUE(rows_a.has_value()) << rows_a.error().to_string();
    ASSERT_TRUE(rows_b.has_value());
    MediaPart clip;
    clip.kind = MediaPart::Kind::kAudio;
    clip.waveform.sample_rate = 16000;
    for (int i = 0; i < 1000; ++i) {
        clip.waveform.samples.push_back(0.3f * std::sin(0.05f * static_cast<float>(i)));
    }
    auto rows_audio = embed_media(*media, clip, pool);
    ASSERT_TRUE(rows_audio.has_value()) << rows_audio.error().to_string();
    EXPECT_EQ(rows_audio->size(), 2u * kEmbd);  // 1000 samples: two 640-sample frames
    auto logits_of = [&](const std::vector<float>& image_rows) {
        MediaPrompt p(media->ids, kEmbd);
        const int32_t before[] = {1, 40, 41};
        const int32_t after[] = {42, 43};
        p.append_text(before);
        EXPECT_TRUE(p.append_image(image_rows).ok());
        EXPECT_TRUE(p.append_audio(*rows_audio).ok());
        p.append_text(after);
        std::vector<float> all = run(*m, p.tokens(), p.soft());
        return std::vector<float>(all.end() - m->config().n_vocab, all.end());
    };
    const std::vector<float> a = logits_of(*rows_a);
    EXPECT_EQ(logits_of(*rows_a), a) << "deterministic";
    EXPECT_NE(logits_of(*rows_b), a) << "the image reaches the logits";
    for (float x : a) {
        ASSERT_TRUE(std::isfinite(x));
    }
}

// Served through the engine with a 64-token step budget, the image is prefilled in one chunk (the
// scheduler does not cut it), so the first token's logprob equals the one-step forward's.
TEST(SoftTokens, TheEngineKeepsAnImageInOneChunk) {
    const gguf::Writer w = gemma4_writer(true);
    std::unique_ptr<model::Model> m = load(w);
    auto media = load_media_model(m->file(), m->file(), "gemma4", kEmbd, m->config().n_vocab).value();
    ThreadPool pool(1);
    MediaPart part;
    part.image.width = 96;
    part.image.height = 48;
    part.image.rgb.resize(96 * 48 * 3);
    for (size_t i = 0; i < part.image.rgb.size(); ++i) {
        part.image.rgb[i] = static_cast<uint8_t>((i * 13) % 256);
    }
    part.max_soft_tokens = 70;  // 55 soft tokens
    const std::vector<float> rows = embed_media(media, part, pool).value();
    MediaPrompt p(media.ids, kEmbd);
    const std::vector<int32_t> text = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53};
    p.append_text(text);  // the image starts at 16: a 64-token chunk from 0 would cut it
    ASSERT_TRUE(p.append_image(rows).ok());
    p.append_text(text);
    const std::vector<float> all = run(*m, p.tokens(), p.soft());
    const std::span<const float> last(all.data() + all.size() - m->config().n_vocab, m->config().n_vocab);
    const float mx = *std::max_element(last.begin(), last.end());
    double z = 0.0;
    for (float x : last) {
        z += std::exp(static_cast<double>(x - mx));
    }
    const int32_t best = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    const double want = static_cast<double>(last[static_cast<size_t>(best)] - mx) - std::log(z);

    auto tok = tokenizer::Tokenizer::from_gguf(m->file()).value();
    auto engine = engine::Engine::create(*m, *tok, {.n_ctx = 256, .n_kv_blocks = 32, .max_batch_tokens = 64}).value();
    engine::EngineRequest req;
    req.prompt = p.tokens();
    auto soft = std::make_shared<model::SoftTokens>();
    soft->positions.assign(p.soft().positions.begin(), p.soft().positions.end());
    soft->rows = std::vector<float>(p.soft().rows.begin(), p.soft().rows.end());
    soft->bidirectional.assign(p.soft().bidirectional.begin(), p.soft().bidirectional.end());
    req.soft = soft;
    req.params.max_tokens = 1;
    req.params.temperature = 0.0f;
    req.params.top_logprobs = 0;
    std::vector<engine::TokenLogprob> got;
    req.on_logprob = [&](const engine::TokenLogprob& lp) {
        got.push_back(lp);
    };
    ASSERT_TRUE(engine->generate(std::move(req)).has_value());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].token, best);
    EXPECT_NEAR(got[0].logprob, want, 1e-5);
}

TEST(SoftTokens, TextOnlyModelHasNoProjectors) {
    std::unique_ptr<model::Model> m = load(gemma4_writer(false));
    auto media = load_media_model(m->file(), m->file(), "gemma4", kEmbd, m->config().n_vocab);
    ASSERT_TRUE(media.has_value());
    EXPECT_FALSE(media->has_any());
    ThreadPool pool(1);
    MediaPart part;
    part.image.width = part.image.height = 48;
    part.image.rgb.assign(48 * 48 * 3, 128);
    part.max_soft_tokens = 70;
    auto rows = embed_media(*media, part, pool);
    ASSERT_FALSE(rows.has_value());
    EXPECT_EQ(rows.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(rows.error().message(), "image input: this model has no vision projector");
}

TEST(SoftTokens, ProjectorOfTheWrongWidthIsRefused) {
    gguf::Writer w = gemma4_writer(false);
    ASSERT_TRUE(add_test_projectors(w, 32, 16, 64, 3).ok());
    std::unique_ptr<model::Model> m = load(w);
    auto media = load_media_model(m->file(), m->file(), "gemma4", kEmbd, m->config().n_vocab);
    ASSERT_FALSE(media.has_value());
    EXPECT_EQ(media.error().message(), "multimodal: the vision projector outputs 32 values, the model is 64 wide");
}

TEST(Gemma4Config, FeaturesTheForwardLacksAreRefusedByName) {
    {
        gguf::Writer w = gemma4_writer(false);
        w.set_u32("gemma4.attention.key_length_swa", 8);
        Result<gguf::File> f = gguf::File::from_bytes(w.serialize(), "g.gguf");
        auto m = model::Model::from_file(std::move(*f));
        ASSERT_FALSE(m.has_value());
        EXPECT_EQ(m.error().code(), ErrorCode::kUnimplemented);
        EXPECT_NE(m.error().message().find("gemma4.attention.key_length_swa is 8"), std::string::npos)
            << m.error().message();
    }
    {
        gguf::Writer w = gemma4_writer(false);
        const int64_t two[] = {1, 0, 1};
        w.set_array_ints("gemma4.attention.sliding_window_pattern", gguf::ValueType::kBool, two);
        Result<gguf::File> f = gguf::File::from_bytes(w.serialize(), "g.gguf");
        auto m = model::Model::from_file(std::move(*f));
        ASSERT_FALSE(m.has_value());
        EXPECT_EQ(m.error().code(), ErrorCode::kDataLoss);
        EXPECT_NE(m.error().message().find("sliding_window_pattern must be an array of 2 bools"), std::string::npos)
            << m.error().message();
    }
    {
        gguf::Writer w = gemma4_writer(false);
        w.set_u32("gemma4.image_token_id", 1u << 30);
        Result<gguf::File> f = gguf::File::from_bytes(w.serialize(), "g.gguf");
        auto m = model::Model::from_file(std::move(*f));
        ASSERT_TRUE(m.has_value());
        ASSERT_TRUE(add_test_projectors(w, kEmbd, 16, 64, 3).ok());
        Result<gguf::File> f2 = gguf::File::from_bytes(w.serialize(), "g.gguf");
        auto media = load_media_model(*f2, *f2, "gemma4", kEmbd, (*m)->config().n_vocab);
        ASSERT_FALSE(media.has_value());
        EXPECT_NE(media.error().message().find("gemma4.image_token_id is 1073741824"), std::string::npos)
            << media.error().message();
    }
}

}  // namespace
}  // namespace gannet::multimodal
