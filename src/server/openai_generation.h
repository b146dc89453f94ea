// The request side every generating route shares (/v1/chat/completions, /v1/completions,
// /v1/responses): model check, chat rendering and the one BOS rule, context and --max-tokens
// limits, --budgets admission and the grammar of constrained output; then the engine's GenParams.
// Owner: server. Thread-safety: called on the handler's thread; touches the runtime's vocab once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "constrain/constraint.h"
#include "engine/engine.h"
#include "server/budget_gate.h"
#include "server/http_types.h"
#include "server/openai_json.h"

namespace gannet::server {

struct OpenAiRuntime;

struct PreparedGeneration {
    std::vector<int32_t> prompt;                        // token ids, BOS by tokenizer/prompt.h
    std::shared_ptr<const constrain::Grammar> grammar;  // null: free text
    std::vector<int32_t> eos_ids;                       // with a grammar: the tokens that may end it
    std::shared_ptr<BudgetTicket> budget;               // --budgets: the reservation (n is then 1)
    std::shared_ptr<const model::SoftTokens> soft;      // image/audio parts' soft tokens; null: text only
};

// Fills `out` for req (its max_tokens resolved to what the context leaves when unset), or returns
// the OpenAI error to answer: 404 model_not_found, 400 for a template or grammar problem, an
// empty prompt, a context or --max-tokens overflow, n > 1 under --budgets, diffusion_steps /
// canvas_length on an autoregressive model, a sparse_attention the model or device cannot run, logprobs / best_of on a
// diffusion model (whose unset max_tokens becomes whole canvases); the budget's refusals.
std::optional<OpenAiError> prepare_generation(OpenAiRuntime& rt, const HttpRequest& request, CompletionRequest& req,
                                              PreparedGeneration& out);

// The engine parameters of one of req's choices; its constraint (when g has a grammar) is new.
engine::GenParams generation_params(const OpenAiRuntime& rt, const CompletionRequest& req, const PreparedGeneration& g,
                                    uint64_t seed);

}  // namespace gannet::server
