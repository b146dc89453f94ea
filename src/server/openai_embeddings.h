// POST /v1/embeddings: OpenAI's request (input: a string, strings, token ids or arrays of them;
// encoding_format float|base64; dimensions; user) parsed and validated here, the vectors computed
// by server::Embedder, the answer in OpenAI's list shape with usage. Owner: server. Thread-safety:
// the parser is pure; the handler never blocks (the embedder's worker answers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "server/embedder.h"
#include "server/http_types.h"
#include "server/openai_json.h"

namespace gannet::server {

struct OpenAiRuntime;

struct EmbeddingsRequest {
    std::string model;
    // One entry per input: text to tokenize, or (is_tokens) the ids as given.
    struct Input {
        std::string text;
        std::vector<int32_t> tokens;
        bool is_tokens = false;
    };
    std::vector<Input> inputs;
    bool is_base64 = false;             // encoding_format "base64": little-endian float32 bytes
    std::optional<int64_t> dimensions;  // must equal the model's width (no truncation: see docs/serving.md)
    std::string user;
};

// Errors name the parameter and its path ("input[3]"), as OpenAI's do. At most kMaxEmbeddingInputs.
std::optional<OpenAiError> parse_embeddings_request(const std::string& body, EmbeddingsRequest& out);
inline constexpr size_t kMaxEmbeddingInputs = 2048;  // OpenAI's limit per request

// Standard base64 (RFC 4648, '=' padded): the float vectors of encoding_format "base64".
std::string base64_encode(const std::string& bytes);

// The runtime's embedder, loaded by the first call (embeddings, or echo with logprobs); a model
// that cannot be loaded for it answers every later call with the same error.
Result<Embedder*> embedder_of(OpenAiRuntime& rt);

void handle_embeddings(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                       const std::shared_ptr<ResponseWriter>& writer);

}  // namespace gannet::server
