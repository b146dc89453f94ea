// build_media_prompt (openai_media.h).
#include "server/openai_media.h"

#include "multimodal/media_prompt.h"
#include "tokenizer/prompt.h"

namespace gannet::server {
namespace {

// parse_media_part's messages start with the path inside the part ("image_url.url: ..."); the
// others do not.
OpenAiError bad_part(const std::string& param, const char* separator, const std::string& what) {
    return {.http_status = 400, .message = param + separator + what, .param = param, .code = ""};
}

// rendered split at each sentinel: media.size() + 1 pieces, or nullopt when the count differs.
std::optional<std::vector<std::string>> split_at_sentinels(const std::string& rendered, size_t n_media) {
    const std::string& sep = media_sentinel();
    std::vector<std::string> pieces;
    size_t at = 0;
    for (size_t next = rendered.find(sep); next != std::string::npos; next = rendered.find(sep, at)) {
        pieces.push_back(rendered.substr(at, next - at));
        at = next + sep.size();
    }
    pieces.push_back(rendered.substr(at));
    if (pieces.size() != n_media + 1) {
        return std::nullopt;
    }
    return pieces;
}

// The checks that need no decoding: a projector at all, the part count, the sentinels.
std::optional<OpenAiError> check_media(const OpenAiRuntime& rt, const std::vector<std::string>& params) {
    if (rt.media == nullptr || !rt.media->has_any()) {
        return OpenAiError{.http_status = 400,
                           .message = params[0] + ": this model takes text only (it has no vision or audio "
                                                  "projector), so image_url and input_audio parts are refused",
                           .param = params[0],
                           .code = ""};
    }
    if (static_cast<int64_t>(params.size()) > rt.max_media_parts) {
        const std::string& extra = params[static_cast<size_t>(rt.max_media_parts)];
        return OpenAiError{.http_status = 400,
                           .message = extra + ": " + std::to_string(params.size())
                                      + " image/audio parts, this server takes at most "
                                      + std::to_string(rt.max_media_parts) + " per request (--max-media-parts)",
                           .param = extra,
                           .code = ""};
    }
    return std::nullopt;
}

}  // namespace

std::optional<OpenAiError> build_media_prompt(OpenAiRuntime& rt, const std::string& rendered,
                                              const std::vector<MediaRef>& media, std::vector<int32_t>& prompt,
                                              std::shared_ptr<const model::SoftTokens>& soft) {
    std::vector<std::string> params;
    for (const MediaRef& m : media) {
        params.push_back(m.param);
    }
    if (auto err = check_media(rt, params)) {
        return err;
    }
    std::vector<DecodedMedia> decoded;
    for (const MediaRef& m : media) {
        Result<multimodal::MediaPart> part = multimodal::parse_media_part(m.part, rt.media_options);
        if (!part.has_value()) {
            return bad_part(m.param, ".", part.error().message());
        }
        decoded.push_back({m.param, std::move(*part)});
    }
    return build_decoded_media_prompt(rt, rendered, tokenizer::PromptKind::kRendered, decoded, prompt, soft);
}

std::optional<OpenAiError> build_decoded_media_prompt(OpenAiRuntime& rt, const std::string& text,
                                                      tokenizer::PromptKind kind,
                                                      const std::vector<DecodedMedia>& media,
                                                      std::vector<int32_t>& prompt,
                                                      std::shared_ptr<const model::SoftTokens>& soft) {
    std::vector<std::string> params;
    for (const DecodedMedia& m : media) {
        params.push_back(m.param);
    }
    if (auto err = check_media(rt, params)) {
        return err;
    }
    std::optional<std::vector<std::string>> pieces = split_at_sentinels(text, media.size());
    if (!pieces.has_value()) {
        return OpenAiError{.http_status = 400,
                           .message = "messages: the chat template did not render each image/audio part exactly once",
                           .param = "messages",
                           .code = ""};
    }
    const int64_t n_embd = rt.model->config().n_embd;
    multimodal::MediaPrompt mp(rt.media->ids, n_embd);
    mp.append_text(tokenizer::encode_prompt(*rt.tokenizer, (*pieces)[0], kind));
    for (size_t i = 0; i < media.size(); ++i) {
        Result<std::vector<float>> rows = [&] {
            std::lock_guard<std::mutex> lock(rt.media_mu);
            return multimodal::embed_media(*rt.media, media[i].part, *rt.media_pool);
        }();
        if (!rows.has_value()) {
            return bad_part(media[i].param, ": ", rows.error().message());
        }
        const Status st =
            media[i].part.kind == multimodal::MediaPart::Kind::kImage ? mp.append_image(*rows) : mp.append_audio(*rows);
        if (!st.ok()) {
            return bad_part(media[i].param, ": ", st.message());
        }
        mp.append_text(rt.tokenizer->encode((*pieces)[i + 1], tokenizer::AddBos::kNo));
    }
    prompt = mp.tokens();
    auto owned = std::make_shared<model::SoftTokens>();
    const model::SoftTokenRows view = mp.soft();
    owned->positions.assign(view.positions.begin(), view.positions.end());
    owned->rows.assign(view.rows.begin(), view.rows.end());
    owned->bidirectional.assign(view.bidirectional.begin(), view.bidirectional.end());
    soft = std::move(owned);
    return std::nullopt;
}

}  // namespace gannet::server
