// The OpenAI-compatible API over the engine: POST /v1/chat/completions, POST /v1/completions,
// GET /v1/models and GET /metrics (Prometheus). Handlers never block: they tokenize, submit to the
// engine and answer from the engine's callbacks through the thread-safe ResponseWriter.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "constrain/token_mask.h"
#include "engine/engine.h"
#include "server/budget_gate.h"
#include "server/http_server.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace gannet::server {

struct OpenAiRuntime {
    std::string model_name;        // what /v1/models lists and requests must name
    int32_t max_tokens_limit = 0;  // a larger max_tokens is a 400 (gannet serve --max-tokens); 0: the context
    std::unique_ptr<model::Model> model;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer;
    std::unique_ptr<tokenizer::ChatTemplate> chat_template;
    std::shared_ptr<BudgetGate> budgets;  // null: no --budgets
    bool is_cuda = false;                 // the engine runs on the CUDA runner (no sparse attention there)
    // The tokenizer's byte trie for constrained decoding, built on the first request that needs it.
    std::once_flag vocab_once;
    std::shared_ptr<const constrain::TokenVocab> vocab;
    std::unique_ptr<engine::Engine> engine;  // declared last: stopped first
};

// Mounts the routes; `rt` must outlive the server.
void mount_openai_routes(HttpServer& http, std::shared_ptr<OpenAiRuntime> rt);

}  // namespace gannet::server
