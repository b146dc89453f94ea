#include "server/openai_generation.h"

#include <algorithm>

#include "engine/margin_gate.h"
#include "server/openai_constrain.h"
#include "server/openai_media.h"
#include "server/openai_routes.h"
#include "tokenizer/prompt.h"

namespace gannet::server {

namespace {

// The diffusion extensions: refused on autoregressive models, and a canvas length other than the
// model's is refused (the canvas is a property of the trained model). On a diffusion model, what
// needs token logprobs (logprobs, echo's prompt logprobs, best_of's ranking) is refused here,
// before echo scores the prompt or best_of's candidates are generated.
std::optional<OpenAiError> check_diffusion_params(const CompletionRequest& req, const model::ModelConfig& c) {
    auto bad = [](const std::string& param, const std::string& msg) {
        return OpenAiError{
            .http_status = 400, .message = msg, .type = "invalid_request_error", .param = param, .code = ""};
    };
    if (!c.is_diffusion()) {
        if (req.diffusion_steps != 0)
            return bad("diffusion_steps", "'diffusion_steps' applies to diffusion models only");
        if (req.canvas_length >= 0)
            return bad("canvas_length", "'canvas_length' applies to diffusion models only");
        return std::nullopt;
    }
    if (req.canvas_length >= 0 && req.canvas_length != c.canvas_length) {
        return bad("canvas_length", "canvas_length is " + std::to_string(req.canvas_length) + ", but this model's "
                                        + "canvases are " + std::to_string(c.canvas_length) + " tokens");
    }
    if (req.top_logprobs >= 0) {
        return bad("logprobs", std::string("diffusion: 'logprobs'") + (req.is_echo ? " (with 'echo')" : "")
                                   + " is not available from a diffusion model (its canvases are sampled in parallel "
                                     "and the appended tokens are argmax picks, not draws)");
    }
    if (req.best_of > req.n) {
        return bad("best_of", "diffusion: 'best_of' is " + std::to_string(req.best_of)
                                  + ": it ranks choices by token logprobs, which a diffusion model does not give");
    }
    return std::nullopt;
}

// The request's "sparse_attention" (its name was checked by the parser): refused when the model
// cannot run that mode (msa without an index branch), when the engine runs on cuda, or on a
// diffusion model.
std::optional<OpenAiError> check_sparse_attention(const OpenAiRuntime& rt, const CompletionRequest& req) {
    if (req.sparse_attention.empty()) {
        return std::nullopt;
    }
    auto sparse = model::parse_sparse_mode(req.sparse_attention);
    Status st = sparse.has_value() ? rt.model->check_sparse_mode(*sparse) : sparse.error();
    if (st.ok() && rt.is_cuda && *sparse != model::SparseMode::kOff) {
        st = make_error(ErrorCode::kUnimplemented, "sparse attention runs on the CPU only; this server uses cuda");
    }
    if (st.ok() && rt.model->config().is_diffusion() && *sparse != model::SparseMode::kOff) {
        st = make_error(ErrorCode::kUnimplemented,
                        "diffusion models attend densely (forward_canvas has no sparse path)");
    }
    if (st.ok()) {
        return std::nullopt;
    }
    return OpenAiError{.http_status = 400,
                       .message = "'sparse_attention' \"" + req.sparse_attention + "\": " + st.message(),
                       .type = "invalid_request_error",
                       .param = "sparse_attention",
                       .code = ""};
}

}  // namespace

std::optional<OpenAiError> prepare_generation(OpenAiRuntime& rt, const HttpRequest& request, CompletionRequest& req,
                                              PreparedGeneration& out) {
    if (req.model != rt.model_name) {
        return OpenAiError{.http_status = 404,
                           .message = "The model '" + req.model + "' does not exist",
                           .type = "invalid_request_error",
                           .param = "model",
                           .code = "model_not_found"};
    }
    if (auto err = check_diffusion_params(req, rt.model->config())) {
        return err;
    }
    if (auto err = check_sparse_attention(rt, req)) {
        return err;
    }
    std::string prompt_text;
    if (req.is_chat) {
        tokenizer::ChatRenderOptions ro;
        if (req.tool_choice != "none")
            ro.tools_json = req.tools_json;
        auto rendered = rt.chat_template->render(req.messages, ro);
        if (!rendered.has_value()) {
            return OpenAiError{.http_status = 400,
                               .message = rendered.error().message(),
                               .type = "invalid_request_error",
                               .param = "messages",
                               .code = ""};
        }
        prompt_text = *rendered;
    } else {
        prompt_text = req.prompt;
    }
    // The one BOS rule (tokenizer/prompt.h): rendered chat text gets BOS unless the template wrote it.
    std::vector<int32_t> prompt;
    if (!req.media.empty()) {
        // Image and audio parts (openai_media.h): the prompt with their placeholders, and the soft tokens.
        if (auto err = build_media_prompt(rt, prompt_text, req.media, prompt, out.soft)) {
            return err;
        }
    } else {
        prompt = tokenizer::encode_prompt(
            *rt.tokenizer, prompt_text, req.is_chat ? tokenizer::PromptKind::kRendered : tokenizer::PromptKind::kPlain);
    }
    if (prompt.empty()) {
        return OpenAiError{.http_status = 400,
                           .message = "the prompt is empty",
                           .type = "invalid_request_error",
                           .param = req.is_chat ? "messages" : "prompt",
                           .code = ""};
    }
    const int32_t n_ctx = rt.engine->config().n_ctx;
    const int32_t n_prompt = static_cast<int32_t>(prompt.size());
    if (req.n > rt.max_n_limit) {
        return OpenAiError{.http_status = 400,
                           .message = "n is " + std::to_string(req.n) + ", this server allows at most "
                                      + std::to_string(rt.max_n_limit) + " choices per request",
                           .type = "invalid_request_error",
                           .param = "n",
                           .code = ""};
    }
    if (rt.max_tokens_limit > 0 && req.max_tokens > rt.max_tokens_limit) {
        return OpenAiError{.http_status = 400,
                           .message = "max_tokens is " + std::to_string(req.max_tokens)
                                      + ", this server allows at most " + std::to_string(rt.max_tokens_limit),
                           .type = "invalid_request_error",
                           .param = "max_tokens",
                           .code = ""};
    }
    const bool is_max_tokens_set = req.max_tokens >= 0;
    if (req.max_tokens < 0) {
        req.max_tokens = n_ctx - n_prompt;
        if (rt.max_tokens_limit > 0) {
            req.max_tokens = std::min(req.max_tokens, rt.max_tokens_limit);
        }
        if (const int32_t c = static_cast<int32_t>(rt.model->config().canvas_length); c > 0) {
            req.max_tokens = req.max_tokens / c * c;  // diffusion: whole canvases that fit the context
        }
    }
    if (n_prompt + req.max_tokens > n_ctx || req.max_tokens < 1) {
        return OpenAiError{.http_status = 400,
                           .message = "This model's maximum context length is " + std::to_string(n_ctx)
                                      + " tokens. However, you requested "
                                      + std::to_string(n_prompt + std::max(req.max_tokens, 1)) + " tokens ("
                                      + std::to_string(n_prompt) + " in the messages, "
                                      + std::to_string(std::max(req.max_tokens, 1))
                                      + " in the completion). Please reduce the length of the messages or completion.",
                           .type = "invalid_request_error",
                           .param = "messages",
                           .code = "context_length_exceeded"};
    }
    auto grammar = request_grammar(req, *rt.chat_template);
    if (!grammar.has_value()) {
        const bool is_tool = req.tool_choice == "required" || req.tool_choice == "named";
        return OpenAiError{.http_status = 400,
                           .message = grammar.error().message(),
                           .type = "invalid_request_error",
                           .param = is_tool ? "tools" : "response_format",
                           .code = ""};
    }
    out.grammar = *grammar;
    if (out.grammar != nullptr) {
        std::call_once(rt.vocab_once, [&rt] { rt.vocab = constrain::TokenVocab::build(*rt.tokenizer); });
        for (int32_t e : {rt.tokenizer->eos_id(), rt.tokenizer->eot_id()}) {
            if (e >= 0)
                out.eos_ids.push_back(e);
        }
    }
    if (rt.budgets) {
        if (std::max(req.n, req.best_of) > 1) {
            // One reservation covers one prompt and one completion; n choices are refused, not under-billed.
            return OpenAiError{.http_status = 400,
                               .message = "n is " + std::to_string(req.n) + " and best_of "
                                          + std::to_string(req.best_of)
                                          + ": this server takes one choice per request with --budgets",
                               .type = "invalid_request_error",
                               .param = "n",
                               .code = ""};
        }
        if (auto err = rt.budgets->admit(request, n_prompt, is_max_tokens_set, &req.max_tokens, &out.budget)) {
            return err;
        }
    }
    out.prompt = std::move(prompt);
    return std::nullopt;
}

engine::GenParams generation_params(const OpenAiRuntime& rt, const CompletionRequest& req, const PreparedGeneration& g,
                                    uint64_t seed) {
    engine::GenParams p{.max_tokens = req.max_tokens,
                        .temperature = req.temperature,
                        .top_p = req.top_p,
                        .seed = seed,
                        .stop = req.stop,
                        .ignore_eos = req.ignore_eos && g.grammar == nullptr,
                        .logit_bias = req.logit_bias,
                        .frequency_penalty = req.frequency_penalty,
                        .presence_penalty = req.presence_penalty,
                        .top_logprobs = req.top_logprobs,
                        .sparse_attention = req.sparse_attention.empty()
                                                ? model::SparseMode::kDefault
                                                : *model::parse_sparse_mode(req.sparse_attention),
                        .processor = nullptr,
                        .diffusion_steps = req.diffusion_steps};
    if (g.grammar != nullptr)
        p.processor = std::make_shared<constrain::Constraint>(g.grammar, rt.vocab, g.eos_ids);
    if (!req.deterministic.empty()) {
        // parse_completion_request accepted only the four names, so this cannot fail.
        p.determinism = *engine::determinism_from_name(req.deterministic, "deterministic");
    }
    return p;
}

}  // namespace gannet::server
