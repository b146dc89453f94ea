// OpenAI chat content parts that carry media, parsed and decoded: `image_url` (data: URIs with base64
// PNG/JPEG/WebP; http(s) URLs refused unless remote media is allowed) and `input_audio` (base64 WAV).
// The server calls parse_media_part for each non-text part and answers HTTP 400 with the Status
// message on error. Thread-safety: free functions.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "multimodal/audio.h"
#include "multimodal/image_decode.h"

namespace gannet::multimodal {

enum class RemoteMedia { kRefuse, kAllow };

struct MediaOptions {
    RemoteMedia remote = RemoteMedia::kRefuse;    // `gannet serve --allow-remote-media`
    size_t max_encoded_bytes = size_t{24} << 20;  // base64 text per part; ~18 MiB of file
    DecodeLimits image_limits;
};

struct MediaPart {
    enum class Kind { kImage, kAudio };
    Kind kind = Kind::kImage;
    Image image;          // kImage
    int max_soft_tokens;  // kImage: from "detail": low 70, auto/absent 280, high 1120
    Waveform waveform;    // kAudio: mono, 16 kHz (resampled when the file was not)
};

// Strict standard base64 (RFC 4648 alphabet, '=' padding optional, no whitespace).
// kInvalidArgument naming the offset of the first bad character.
Result<std::vector<uint8_t>> decode_base64(std::string_view text);

// Parses one content part object:
//   {"type": "image_url", "image_url": {"url": "data:image/png;base64,...", "detail": "low|auto|high"}}
//   {"type": "input_audio", "input_audio": {"data": "<base64 wav>", "format": "wav"}}
// Every error is kInvalidArgument (the client's input: HTTP 400) with a message that starts with the
// parameter path inside the part ("image_url.url: ...") and keeps the decoder's detail: unknown
// types or keys, a missing field, a non-data URL (http(s) refused unless options.remote is kAllow;
// fetching is then kUnimplemented), a data URI that is not base64 or not an image/* type, bad
// base64, a part over max_encoded_bytes, an audio format other than wav, and every decode error
// (corrupt, truncated, too large, animated, unsupported). The declared media type is not trusted:
// the bytes are sniffed.
Result<MediaPart> parse_media_part(const nlohmann::json& part, const MediaOptions& options = {});

}  // namespace gannet::multimodal
