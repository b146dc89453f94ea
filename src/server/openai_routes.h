// The OpenAI-compatible API over the engine: POST /v1/chat/completions, POST /v1/completions,
// POST /v1/embeddings (openai_embeddings.h), POST/GET/DELETE /v1/responses (openai_responses.h),
// GET /v1/models and GET /metrics (Prometheus). Handlers never block: they
// tokenize, submit to the engine and answer from the engine's callbacks through the thread-safe ResponseWriter.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "base/thread_pool.h"
#include "constrain/token_mask.h"
#include "engine/engine.h"
#include "multimodal/media_prompt.h"
#include "server/budget_gate.h"
#include "server/embedder.h"
#include "server/http_server.h"
#include "server/response_store.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace gannet::server {

struct OpenAiRuntime {
    std::string model_name;        // what /v1/models lists and requests must name
    int32_t max_tokens_limit = 0;  // a larger max_tokens is a 400 (gannet serve --max-tokens); 0: the context
    int32_t max_n_limit = 16;      // a larger n is a 400 (gannet serve --max-n; the parser's own cap is 16)
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer;
    std::unique_ptr<tokenizer::ChatTemplate> chat_template;
    std::shared_ptr<BudgetGate> budgets;  // null: no --budgets
    bool is_cuda = false;                 // the engine runs on the CUDA runner (no sparse attention there)
    // The tokenizer's byte trie for constrained decoding, built on the first request that needs it.
    std::once_flag vocab_once;
    std::shared_ptr<const constrain::TokenVocab> vocab;
    // /v1/embeddings: its own CPU copy of the model (server/embedder.h), loaded by the first request
    // on a cpu server; embedder_status holds why it could not be (answered to each request).
    std::string model_path;
    std::string device = "cpu";
    int n_threads = 1;
    std::once_flag embedder_once;
    std::unique_ptr<Embedder> embedder;
    Status embedder_status;
    // /v1/responses kept for previous_response_id and GET/DELETE /v1/responses/{id} (in memory).
    std::shared_ptr<ResponseStore> responses = std::make_shared<ResponseStore>();
    // Image and audio input (openai_media.h): the model's projectors (null or empty: text only),
    // how parts are decoded, how many a request may carry, and the pool that projects them.
    std::unique_ptr<multimodal::MediaModel> media;
    multimodal::MediaOptions media_options;
    int64_t max_media_parts = 8;
    std::unique_ptr<ThreadPool> media_pool;
    std::mutex media_mu;
    std::unique_ptr<engine::Engine> engine;  // declared last: stopped first
};

// Mounts the routes; `rt` must outlive the server.
void mount_openai_routes(HttpServer& http, std::shared_ptr<OpenAiRuntime> rt);

}  // namespace gannet::server
