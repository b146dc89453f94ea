// Soft tokens into the model (issue #20): the projectors a model file carries, the marker token ids,
// and MediaPrompt, which lays out a prompt of text and media the way transformers' gemma4_unified
// does: an image becomes <|image> (boi), one <|image|> placeholder per soft token, <image|> (eoi);
// audio <|audio>, one <|audio|> per 640-sample frame, <audio|>. The placeholders' embedding rows are
// replaced by the soft tokens in the one forward (model::BatchSeq::soft); positions stay plain
// consecutive integers (no 2-D rope). Each image's placeholders form a bidirectional span
// (model::SoftTokenRows::bidirectional): on sliding layers of a gemma4 model they see the whole
// image, as transformers' generate() masks them; audio stays causal.
// Thread-safety: MediaModel is immutable after load; MediaPrompt is a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "multimodal/media_part.h"
#include "multimodal/projector.h"

namespace gannet::multimodal {

// Gemma 4's ids by default; a file overrides each with <arch>.{boi,eoi,image,boa,eoa,audio}_token_id.
struct MediaTokenIds {
    int32_t boi = 255999;
    int32_t eoi = 258882;
    int32_t image = 258880;
    int32_t boa = 256000;
    int32_t eoa = 258883;
    int32_t audio = 258881;
};

// What a model takes besides text. Either projector may be absent (a text-only model has neither).
struct MediaModel {
    std::optional<VisionProjector> vision;
    std::optional<AudioProjector> audio;
    MediaTokenIds ids;
    bool has_any() const { return vision.has_value() || audio.has_value(); }
};

// The projectors in `file` (the model file itself or a separate mmproj): the vision projector when
// v.patch_embd.weight is there, the audio one when mm.a.input_projection.weight is; each must
// project to n_embd. The marker ids are read from `ids_file` (the model's file) under `arch`, and
// must be below n_vocab. Errors: the loaders' (naming the tensor); kDataLoss naming a projector whose
// width is not n_embd or a marker id out of range (key and value).
Result<MediaModel> load_media_model(const gguf::File& file, const gguf::File& ids_file, const std::string& arch,
                                    int64_t n_embd, int64_t n_vocab);

// Soft tokens [n, n_embd] of one decoded media part: preprocess (resize to its budget, patchify; or
// frame the waveform) and project. kInvalidArgument naming the part kind when the model has no
// projector for it; the preprocessing's and projector's errors otherwise.
Result<std::vector<float>> embed_media(const MediaModel& model, const MediaPart& part, ThreadPool& pool);

// A prompt of text and media, built in order.
class MediaPrompt {
public:
    MediaPrompt(const MediaTokenIds& ids, int64_t n_embd) : ids_(ids), n_embd_(n_embd) {}

    void append_text(std::span<const int32_t> tokens);
    // boi, one placeholder per row of rows [n, n_embd], eoi. kInvalidArgument when rows is empty or
    // not a whole number of n_embd-wide rows.
    Status append_image(std::span<const float> rows);
    Status append_audio(std::span<const float> rows);

    const std::vector<int32_t>& tokens() const { return tokens_; }
    // The placeholders' rows at their positions and the image spans, for model::BatchSeq::soft;
    // valid while this lives.
    model::SoftTokenRows soft() const { return {positions_, rows_, spans_}; }
    // The same without the image spans: causal attention everywhere.
    model::SoftTokenRows soft_causal() const { return {positions_, rows_, {}}; }
    int64_t n_soft_tokens() const { return static_cast<int64_t>(positions_.size()); }

private:
    enum class SpanAttention { kCausal, kBidirectional };
    Status append_span(int32_t begin, int32_t placeholder, int32_t end, std::span<const float> rows,
                       SpanAttention attention);

    MediaTokenIds ids_;
    int64_t n_embd_;
    std::vector<int32_t> tokens_;
    std::vector<int32_t> positions_;
    std::vector<float> rows_;
    std::vector<model::PositionSpan> spans_;
};

}  // namespace gannet::multimodal
