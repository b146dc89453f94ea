// OpenAI media content parts into decoded images and waveforms (media_part.h).
#include "multimodal/media_part.h"

#include <array>
#include <string>

#include "multimodal/image_preprocess.h"

namespace gannet::multimodal {
namespace {

using nlohmann::json;

Status bad(const char* param, const std::string& detail) {
    return make_error(ErrorCode::kInvalidArgument, "%s: %s", param, detail.c_str());
}

// Wraps a decoder error (any code) as a 400 for `param`, keeping its message.
Status bad_input(const char* param, const Status& s) {
    return bad(param, s.message());
}

// kInvalidArgument naming the first key of `obj` outside `allowed`: never ignore a parameter.
Status check_keys(const json& obj, const char* where, std::initializer_list<const char*> allowed) {
    for (const auto& [key, value] : obj.items()) {
        bool known = false;
        for (const char* a : allowed) {
            known = known || key == a;
        }
        if (!known) {
            return bad(where, "unknown field \"" + key + "\"");
        }
    }
    return Status();
}

Result<std::string_view> get_string(const json& obj, const char* key, const char* param) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) {
        return bad(param, it == obj.end() ? "missing" : "must be a string");
    }
    return std::string_view(it->get_ref<const std::string&>());
}

Result<std::vector<uint8_t>> decode_payload(std::string_view b64, const char* param, const MediaOptions& options) {
    if (b64.size() > options.max_encoded_bytes) {
        return bad(param, "base64 data of " + std::to_string(b64.size()) + " bytes is too large: at most "
                              + std::to_string(options.max_encoded_bytes));
    }
    auto bytes = decode_base64(b64);
    if (!bytes.has_value()) {
        return bad_input(param, bytes.error());
    }
    return std::move(bytes).value();
}

Result<int> budget_for_detail(const json& image_url) {
    auto it = image_url.find("detail");
    if (it == image_url.end()) {
        return kDefaultTokenBudget;
    }
    const std::string detail = it->is_string() ? it->get<std::string>() : "";
    if (detail == "low")
        return 70;
    if (detail == "auto")
        return kDefaultTokenBudget;
    if (detail == "high")
        return 1120;
    return bad("image_url.detail", "\"" + (it->is_string() ? detail : it->dump()) + "\": want low, auto or high");
}

Result<MediaPart> parse_image_url(const json& part, const MediaOptions& options) {
    GANNET_RETURN_IF_ERROR(check_keys(part, "image_url part", {"type", "image_url"}));
    auto it = part.find("image_url");
    if (it == part.end() || !it->is_object()) {
        return bad("image_url", it == part.end() ? "missing" : "must be an object with a \"url\"");
    }
    GANNET_RETURN_IF_ERROR(check_keys(*it, "image_url", {"url", "detail"}));
    MediaPart media;
    media.kind = MediaPart::Kind::kImage;
    GANNET_ASSIGN_OR_RETURN(media.max_soft_tokens, budget_for_detail(*it));
    GANNET_ASSIGN_OR_RETURN(std::string_view url, get_string(*it, "url", "image_url.url"));
    if (url.starts_with("http://") || url.starts_with("https://")) {
        if (options.remote == RemoteMedia::kRefuse) {
            return bad("image_url.url",
                       "remote URLs are refused: send the image as a data: URI (base64); gannet serve "
                       "does not fetch URLs");
        }
        return make_error(ErrorCode::kUnimplemented, "image_url.url: fetching remote images is not implemented yet");
    }
    if (!url.starts_with("data:")) {
        return bad("image_url.url", "\"" + std::string(url.substr(0, 16)) + "...\": want a data: URI");
    }
    const size_t comma = url.find(',');
    if (comma == std::string_view::npos) {
        return bad("image_url.url", "data URI without a ',' before its data");
    }
    const std::string_view header = url.substr(5, comma - 5);  // "image/png;base64"
    if (!header.ends_with(";base64")) {
        return bad("image_url.url",
                   "data URI \"" + std::string(header) + "\" is not base64: want data:image/...;base64,");
    }
    if (!header.starts_with("image/")) {
        return bad("image_url.url", "data URI media type \"" + std::string(header.substr(0, header.size() - 7))
                                        + "\": want image/png, image/jpeg or image/webp");
    }
    GANNET_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                            decode_payload(url.substr(comma + 1), "image_url.url", options));
    auto image = decode_image(bytes, options.image_limits);
    if (!image.has_value()) {
        return bad_input("image_url.url", image.error());
    }
    media.image = std::move(image).value();
    return media;
}

Result<MediaPart> parse_input_audio(const json& part, const MediaOptions& options) {
    GANNET_RETURN_IF_ERROR(check_keys(part, "input_audio part", {"type", "input_audio"}));
    auto it = part.find("input_audio");
    if (it == part.end() || !it->is_object()) {
        return bad("input_audio", it == part.end() ? "missing" : "must be an object with \"data\" and \"format\"");
    }
    GANNET_RETURN_IF_ERROR(check_keys(*it, "input_audio", {"data", "format"}));
    GANNET_ASSIGN_OR_RETURN(std::string_view format, get_string(*it, "format", "input_audio.format"));
    if (format != "wav") {
        return bad("input_audio.format",
                   str_printf("\"%.*s\" is not supported: want wav", static_cast<int>(format.size()), format.data()));
    }
    GANNET_ASSIGN_OR_RETURN(std::string_view data, get_string(*it, "data", "input_audio.data"));
    GANNET_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, decode_payload(data, "input_audio.data", options));
    auto wave = decode_wav(bytes);
    if (!wave.has_value()) {
        return bad_input("input_audio.data", wave.error());
    }
    MediaPart media;
    media.kind = MediaPart::Kind::kAudio;
    media.max_soft_tokens = 0;
    media.waveform = resample_to_16k(*wave);
    return media;
}

}  // namespace

Result<std::vector<uint8_t>> decode_base64(std::string_view text) {
    static constexpr std::array<int8_t, 256> kTable = [] {
        std::array<int8_t, 256> t{};
        t.fill(-1);
        const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; ++i) {
            t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
        }
        return t;
    }();
    size_t n = text.size();
    while (n > 0 && text.size() - n < 2 && text[n - 1] == '=') {
        --n;  // at most two '=' of padding
    }
    if (n % 4 == 1) {
        return make_error(ErrorCode::kInvalidArgument, "base64: %zu characters cannot encode whole bytes", n);
    }
    std::vector<uint8_t> out;
    out.reserve(n / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; ++i) {
        const int8_t v = kTable[static_cast<uint8_t>(text[i])];
        if (v < 0) {
            return make_error(ErrorCode::kInvalidArgument, "base64: bad character 0x%02x at offset %zu",
                              static_cast<uint8_t>(text[i]), i);
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>(acc >> bits));
        }
    }
    return out;
}

Result<MediaPart> parse_media_part(const json& part, const MediaOptions& options) {
    if (!part.is_object()) {
        return bad("content", "a content part must be an object");
    }
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) {
        return bad("type", "missing or not a string");
    }
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "image_url") {
        return parse_image_url(part, options);
    }
    if (t == "input_audio") {
        return parse_input_audio(part, options);
    }
    return bad("type", "\"" + t + "\" is not a media part: want image_url or input_audio");
}

}  // namespace gannet::multimodal
