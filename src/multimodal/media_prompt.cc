// MediaModel loading, media -> soft tokens, and the prompt layout of media spans (media_prompt.h).
#include "multimodal/media_prompt.h"

#include <array>
#include <utility>

namespace gannet::multimodal {
namespace {

Status check_width(const char* what, int64_t width, int64_t n_embd) {
    if (width != n_embd) {
        return make_error(ErrorCode::kDataLoss,
                          "multimodal: the %s projector outputs %lld values, the model is %lld wide", what,
                          static_cast<long long>(width), static_cast<long long>(n_embd));
    }
    return Status();
}

Status read_ids(const gguf::File& file, const std::string& arch, int64_t n_vocab, MediaTokenIds& ids) {
    const std::array<std::pair<const char*, int32_t*>, 6> keys = {{{"boi", &ids.boi},
                                                                   {"eoi", &ids.eoi},
                                                                   {"image", &ids.image},
                                                                   {"boa", &ids.boa},
                                                                   {"eoa", &ids.eoa},
                                                                   {"audio", &ids.audio}}};
    for (const auto& [name, field] : keys) {
        const std::string key = arch + "." + name + "_token_id";
        GANNET_ASSIGN_OR_RETURN(const int64_t v, file.get_int_or(key, *field));
        if (v < 0 || v >= n_vocab) {
            return make_error(ErrorCode::kDataLoss, "multimodal: %s is %lld, expected a token id below n_vocab %lld",
                              key.c_str(), static_cast<long long>(v), static_cast<long long>(n_vocab));
        }
        *field = static_cast<int32_t>(v);
    }
    return Status();
}

}  // namespace

Result<MediaModel> load_media_model(const gguf::File& file, const gguf::File& ids_file, const std::string& arch,
                                    int64_t n_embd, int64_t n_vocab) {
    MediaModel m;
    if (file.find_tensor(kVisionPatchW) != nullptr) {
        GANNET_ASSIGN_OR_RETURN(VisionProjector v, load_vision_projector(file));
        GANNET_RETURN_IF_ERROR(check_width("vision", v.out_dim, n_embd));
        m.vision = std::move(v);
    }
    if (file.find_tensor(kAudioProjW) != nullptr) {
        GANNET_ASSIGN_OR_RETURN(AudioProjector a, load_audio_projector(file));
        GANNET_RETURN_IF_ERROR(check_width("audio", a.out_dim, n_embd));
        m.audio = std::move(a);
    }
    if (m.has_any()) {
        GANNET_RETURN_IF_ERROR(read_ids(ids_file, arch, n_vocab, m.ids));
    }
    return m;
}

Result<std::vector<float>> embed_media(const MediaModel& model, const MediaPart& part, ThreadPool& pool) {
    if (part.kind == MediaPart::Kind::kImage) {
        if (!model.vision.has_value()) {
            return make_error(ErrorCode::kInvalidArgument, "image input: this model has no vision projector");
        }
        GANNET_ASSIGN_OR_RETURN(const Patches patches, preprocess_image(part.image, part.max_soft_tokens));
        return project_image(*model.vision, patches, pool);
    }
    if (!model.audio.has_value()) {
        return make_error(ErrorCode::kInvalidArgument, "audio input: this model has no audio projector");
    }
    GANNET_ASSIGN_OR_RETURN(const AudioFrames frames, frame_audio(part.waveform));
    return project_audio(*model.audio, frames, pool);
}

void MediaPrompt::append_text(std::span<const int32_t> tokens) {
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
}

Status MediaPrompt::append_image(std::span<const float> rows) {
    return append_span(ids_.boi, ids_.image, ids_.eoi, rows, SpanAttention::kBidirectional);
}

Status MediaPrompt::append_audio(std::span<const float> rows) {
    return append_span(ids_.boa, ids_.audio, ids_.eoa, rows, SpanAttention::kCausal);
}

Status MediaPrompt::append_span(int32_t begin, int32_t placeholder, int32_t end, std::span<const float> rows,
                                SpanAttention attention) {
    const size_t width = static_cast<size_t>(n_embd_);
    if (rows.empty() || width == 0 || rows.size() % width != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "multimodal: %zu soft-token values is not a whole number of "
                          "%lld-wide rows",
                          rows.size(), static_cast<long long>(n_embd_));
    }
    tokens_.push_back(begin);
    if (attention == SpanAttention::kBidirectional) {
        const int32_t first = static_cast<int32_t>(tokens_.size());
        spans_.push_back({first, first + static_cast<int32_t>(rows.size() / width)});
    }
    for (size_t i = 0; i < rows.size() / width; ++i) {
        positions_.push_back(static_cast<int32_t>(tokens_.size()));
        tokens_.push_back(placeholder);
    }
    tokens_.push_back(end);
    rows_.insert(rows_.end(), rows.begin(), rows.end());
    return Status();
}

}  // namespace gannet::multimodal
