// Images and audio in /v1/chat/completions (issue #20): the media parts a request carries become
// soft tokens. Each part is decoded (multimodal::parse_media_part), projected by the model's
// projectors and laid out as Gemma 4 does (<|image> placeholders <image|>) where the chat template
// put the part's sentinel; the prompt's other text is encoded around them. A model without
// projectors answers 400 naming the first media part. Owner: server. Thread-safety: the runtime's
// media pool is used under its mutex.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "server/openai_json.h"
#include "server/openai_routes.h"
#include "tokenizer/prompt.h"

namespace gannet::server {

// rendered: the chat template's output, with one media_sentinel() per entry of media, in order.
// On success prompt holds the tokens (BOS by tokenizer::encode_prompt's rule) and soft the rows of
// the placeholders. Errors are 400s whose param is the part's path ("messages[1].content[0]") and
// whose message starts with it: no projector for the part's kind, more parts than
// rt.max_media_parts, every decode and size error of the part, and a template that dropped or
// repeated a part.
std::optional<OpenAiError> build_media_prompt(OpenAiRuntime& rt, const std::string& rendered,
                                              const std::vector<MediaRef>& media, std::vector<int32_t>& prompt,
                                              std::shared_ptr<const model::SoftTokens>& soft);

// A media part already decoded (`gannet run --image/--audio`), named by `param` in errors.
struct DecodedMedia {
    std::string param = "";
    multimodal::MediaPart part = {};
};
// The same from decoded parts; text holds one media_sentinel() per part, and its first piece is
// encoded as `kind` (the BOS rule). Errors as above (not JSON: parts are not parsed here).
std::optional<OpenAiError> build_decoded_media_prompt(OpenAiRuntime& rt, const std::string& text,
                                                      tokenizer::PromptKind kind,
                                                      const std::vector<DecodedMedia>& media,
                                                      std::vector<int32_t>& prompt,
                                                      std::shared_ptr<const model::SoftTokens>& soft);

}  // namespace gannet::server
