#include "server/openai_routes.h"

#include <atomic>
#include <chrono>
#include <ctime>

#include "base/log.h"
#include "json/json.h"
#include "mcp/auth.h"
#include "server/budget_gate.h"
#include "server/openai_constrain.h"
#include "server/openai_json.h"
#include "tokenizer/prompt.h"

namespace gannet::server {

using nlohmann::json;

namespace {

HttpResponse json_response(int status, const std::string& body) {
    return HttpResponse{.status = status, .headers = {{"Content-Type", "application/json"}}, .body = body};
}

void send_error(ResponseWriter& w, const OpenAiError& e) {
    w.send(json_response(e.http_status, error_body(e)));
}

std::string new_id(const char* prefix) {
    static std::atomic<uint64_t> counter{0};
    return std::string(prefix) + std::to_string(std::time(nullptr)) + "-" + std::to_string(++counter);
}

// One of the request's n choices.
struct Choice {
    std::string text;  // non-streaming: the whole output; streaming with tools: buffered
    bool is_role_sent = false;
    bool is_done = false;
    engine::FinishInfo info;
    std::vector<engine::TokenLogprob> logprobs;
    size_t n_logprobs_sent = 0;  // streaming: entries already in a chunk
    std::shared_ptr<constrain::Constraint> constraint;
};

// Shared state of one request between the engine thread's callbacks and the I/O side.
struct Call {
    CompletionRequest req;
    std::shared_ptr<ResponseWriter> writer;
    std::string id;
    int64_t created = 0;
    std::vector<Choice> choices;
    int32_t n_done = 0;
    bool is_failed = false;
    std::shared_ptr<BudgetTicket> budget;  // --budgets: this request's reservation (then n is 1)
};

json chat_logprobs(const Choice& ch, size_t from) {
    json content = json::array();
    for (size_t i = from; i < ch.logprobs.size(); ++i)
        content.push_back(logprob_entry(ch.logprobs[i]));
    return {{"content", content}, {"refusal", nullptr}};
}

json choice_delta(Call& c, size_t index, json delta, json finish) {
    Choice& choice = c.choices[index];
    json lp = nullptr;
    if (c.req.top_logprobs >= 0 && choice.n_logprobs_sent < choice.logprobs.size()) {
        std::vector<engine::TokenLogprob> fresh(
            choice.logprobs.begin() + static_cast<std::ptrdiff_t>(choice.n_logprobs_sent), choice.logprobs.end());
        lp = c.req.is_chat ? chat_logprobs(choice, choice.n_logprobs_sent) : legacy_logprobs(fresh);
        choice.n_logprobs_sent = choice.logprobs.size();
    }
    json ch = {{"index", index}, {"delta", std::move(delta)}, {"logprobs", lp}, {"finish_reason", std::move(finish)}};
    if (!c.req.is_chat) {
        ch = {{"index", index},
              {"text", ch["delta"].value("content", "")},
              {"logprobs", lp},
              {"finish_reason", ch["finish_reason"]}};
    }
    return ch;
}

json chunk(const Call& c, json choice, const std::string& model) {
    return {{"id", c.id},
            {"object", c.req.is_chat ? "chat.completion.chunk" : "text_completion"},
            {"created", c.created},
            {"model", model},
            {"system_fingerprint", "gannet"},
            {"choices", choice.is_null() ? json::array() : json::array({std::move(choice)})}};
}

json tool_calls_json(const std::vector<tokenizer::ToolCall>& calls, bool is_stream) {
    json arr = json::array();
    for (size_t i = 0; i < calls.size(); ++i) {
        json tc = {{"id", calls[i].id},
                   {"type", "function"},
                   {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
        if (is_stream)
            tc["index"] = i;
        arr.push_back(std::move(tc));
    }
    return arr;
}

// The grammar's verdict on a finished constrained choice: {"valid": ..., "error": ...}, or null
// when the output was unconstrained. Token masks enforce what they can; this is the exact check.
json schema_check(const Choice& ch) {
    if (ch.constraint == nullptr)
        return nullptr;
    const Status s = ch.constraint->validate(ch.constraint->text());
    json j = {{"valid", s.ok()}};
    if (!s.ok())
        j["error"] = s.message();
    return j;
}

// Engine thread: one choice ended; the last one to end completes the response.
void on_choice_finished(Call& call, size_t index, bool has_tools, const std::string& model_name) {
    ResponseWriter& w = *call.writer;
    Choice& ch = call.choices[index];
    if (call.is_failed)
        return;
    if (!ch.info.status.ok()) {
        call.is_failed = true;
        if (w.is_closed())
            return;
        const OpenAiError e{
            .http_status = 500, .message = ch.info.status.message(), .type = "server_error", .param = "", .code = ""};
        if (call.req.is_stream) {
            w.write(sse_data(json::parse(error_body(e))));
            w.end();
        } else {
            send_error(w, e);
        }
        return;
    }
    const bool is_stream = call.req.is_stream;
    std::string out;
    if (is_stream) {
        // This choice's last chunks go out now; [DONE] waits for the others.
        ParsedToolCalls parsed = has_tools ? parse_tool_calls(ch.text) : ParsedToolCalls{};
        if (call.req.is_chat && !ch.is_role_sent) {
            ch.is_role_sent = true;
            out += sse_data(
                chunk(call, choice_delta(call, index, {{"role", "assistant"}, {"content", ""}}, nullptr), model_name));
        }
        if (has_tools) {
            json delta = json::object();
            if (!parsed.content.empty())
                delta["content"] = parsed.content;
            if (!parsed.calls.empty())
                delta["tool_calls"] = tool_calls_json(parsed.calls, true);
            if (!delta.empty())
                out += sse_data(chunk(call, choice_delta(call, index, delta, nullptr), model_name));
        }
        const std::string finish = parsed.calls.empty() ? ch.info.finish_reason : "tool_calls";
        out += sse_data(chunk(call, choice_delta(call, index, json::object(), finish), model_name));
    }
    if (++call.n_done < static_cast<int32_t>(call.choices.size())) {
        if (!out.empty())
            w.write(std::move(out));
        return;
    }
    int32_t completion_tokens = 0;
    for (const Choice& c : call.choices)
        completion_tokens += c.info.completion_tokens;
    const json usage = usage_json(ch.info.prompt_tokens, completion_tokens, ch.info.cached_tokens);
    GANNET_LOG_DEBUG("openai", "req=%s user=%s n=%zu prompt_tokens=%d completion_tokens=%d finish=%s", call.id.c_str(),
                     call.req.user.empty() ? "-" : call.req.user.c_str(), call.choices.size(), ch.info.prompt_tokens,
                     completion_tokens, ch.info.finish_reason.c_str());
    if (is_stream) {
        if (call.req.include_usage) {
            json u = chunk(call, nullptr, model_name);
            u["usage"] = usage;
            out += sse_data(u);
        }
        if (call.budget) {
            out += call.budget->final_event(ch.info.finish_reason, usage);
        }
        out += sse_done();
        w.write(std::move(out));
        w.end();
        return;
    }
    json choices = json::array();
    for (size_t i = 0; i < call.choices.size(); ++i) {
        const Choice& c = call.choices[i];
        ParsedToolCalls parsed;
        if (has_tools)
            parsed = parse_tool_calls(c.text);
        else
            parsed.content = c.text;
        const std::string finish = parsed.calls.empty() ? c.info.finish_reason : "tool_calls";
        json lp = nullptr;
        if (call.req.top_logprobs >= 0)
            lp = call.req.is_chat ? chat_logprobs(c, 0) : legacy_logprobs(c.logprobs);
        json item;
        if (call.req.is_chat) {
            json msg = {{"role", "assistant"}, {"content", parsed.content}, {"refusal", nullptr}};
            if (!parsed.calls.empty()) {
                msg["tool_calls"] = tool_calls_json(parsed.calls, false);
                if (parsed.content.empty())
                    msg["content"] = nullptr;
            }
            item = {{"index", i}, {"message", msg}, {"logprobs", lp}, {"finish_reason", finish}};
        } else {
            item = {{"index", i}, {"text", parsed.content}, {"logprobs", lp}, {"finish_reason", finish}};
        }
        if (c.constraint != nullptr)
            item["schema_check"] = schema_check(c);
        choices.push_back(std::move(item));
    }
    json body = {{"id", call.id},
                 {"object", call.req.is_chat ? "chat.completion" : "text_completion"},
                 {"created", call.created},
                 {"model", model_name},
                 {"system_fingerprint", "gannet"},
                 {"choices", choices},
                 {"usage", usage}};
    if (std::optional<json> cut = call.budget ? call.budget->final_error(ch.info.finish_reason) : std::nullopt) {
        body["error"] = std::move(*cut);  // billed output delivered; the budget's cut made explicit
    }
    w.send(json_response(200, gannet::json::dump(body)));
}

void handle_completion(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                       const std::shared_ptr<ResponseWriter>& writer, bool is_chat) {
    auto call = std::make_shared<Call>();
    call->writer = writer;
    if (auto err = parse_completion_request(request.body, is_chat, call->req)) {
        send_error(*writer, *err);
        return;
    }
    CompletionRequest& req = call->req;
    if (req.model != rt->model_name) {
        send_error(*writer, {.http_status = 404,
                             .message = "The model '" + req.model + "' does not exist",
                             .type = "invalid_request_error",
                             .param = "model",
                             .code = "model_not_found"});
        return;
    }
    std::string prompt_text;
    if (is_chat) {
        tokenizer::ChatRenderOptions ro;
        if (req.tool_choice != "none")
            ro.tools_json = req.tools_json;
        auto rendered = rt->chat_template->render(req.messages, ro);
        if (!rendered.has_value()) {
            send_error(*writer, {.http_status = 400,
                                 .message = rendered.error().message(),
                                 .type = "invalid_request_error",
                                 .param = "messages",
                                 .code = ""});
            return;
        }
        prompt_text = *rendered;
    } else {
        prompt_text = req.prompt;
    }
    // The one BOS rule (tokenizer/prompt.h): rendered chat text gets BOS unless the template wrote it.
    std::vector<int32_t> prompt = tokenizer::encode_prompt(
        *rt->tokenizer, prompt_text, is_chat ? tokenizer::PromptKind::kRendered : tokenizer::PromptKind::kPlain);
    if (prompt.empty()) {
        send_error(*writer, {.http_status = 400,
                             .message = "the prompt is empty",
                             .type = "invalid_request_error",
                             .param = is_chat ? "messages" : "prompt",
                             .code = ""});
        return;
    }
    const int32_t n_ctx = rt->engine->config().n_ctx;
    const int32_t n_prompt = static_cast<int32_t>(prompt.size());
    if (rt->max_tokens_limit > 0 && req.max_tokens > rt->max_tokens_limit) {
        send_error(*writer, {.http_status = 400,
                             .message = "max_tokens is " + std::to_string(req.max_tokens)
                                        + ", this server allows at most " + std::to_string(rt->max_tokens_limit),
                             .type = "invalid_request_error",
                             .param = "max_tokens",
                             .code = ""});
        return;
    }
    const bool is_max_tokens_set = req.max_tokens >= 0;
    if (req.max_tokens < 0) {
        req.max_tokens = n_ctx - n_prompt;
        if (rt->max_tokens_limit > 0) {
            req.max_tokens = std::min(req.max_tokens, rt->max_tokens_limit);
        }
    }
    if (n_prompt + req.max_tokens > n_ctx || req.max_tokens < 1) {
        send_error(
            *writer,
            {.http_status = 400,
             .message = "This model's maximum context length is " + std::to_string(n_ctx)
                        + " tokens. However, you requested " + std::to_string(n_prompt + std::max(req.max_tokens, 1))
                        + " tokens (" + std::to_string(n_prompt) + " in the messages, "
                        + std::to_string(std::max(req.max_tokens, 1))
                        + " in the completion). Please reduce the length of the messages or completion.",
             .type = "invalid_request_error",
             .param = "messages",
             .code = "context_length_exceeded"});
        return;
    }
    if (rt->budgets) {
        if (req.n > 1) {
            // One reservation covers one prompt and one completion; n choices are refused, not under-billed.
            send_error(*writer,
                       {.http_status = 400,
                        .message = "n is " + std::to_string(req.n) + ": this server takes n = 1 with --budgets",
                        .type = "invalid_request_error",
                        .param = "n",
                        .code = ""});
            return;
        }
        if (auto err = rt->budgets->admit(request, n_prompt, is_max_tokens_set, &req.max_tokens, &call->budget)) {
            send_error(*writer, *err);
            return;
        }
    }
    call->id = new_id(is_chat ? "chatcmpl-" : "cmpl-");
    call->created = static_cast<int64_t>(std::time(nullptr));
    const bool has_tools = is_chat && !req.tools_json.empty() && req.tool_choice != "none";
    const std::string model_name = rt->model_name;
    auto grammar = request_grammar(req, *rt->chat_template);
    if (!grammar.has_value()) {
        const bool is_tool = req.tool_choice == "required" || req.tool_choice == "named";
        send_error(*writer, {.http_status = 400,
                             .message = grammar.error().message(),
                             .type = "invalid_request_error",
                             .param = is_tool ? "tools" : "response_format",
                             .code = ""});
        return;
    }
    model::SparseMode sparse = model::SparseMode::kDefault;
    if (!req.sparse_attention.empty()) {
        sparse = model::parse_sparse_mode(req.sparse_attention).value();  // checked by the parser
        Status st = rt->model->check_sparse_mode(sparse);
        if (st.ok() && rt->is_cuda && sparse != model::SparseMode::kOff) {
            st = make_error(ErrorCode::kUnimplemented, "sparse attention runs on the CPU only; this server uses cuda");
        }
        if (!st.ok()) {
            send_error(*writer, {.http_status = 400,
                                 .message = "'sparse_attention' \"" + req.sparse_attention + "\": " + st.message(),
                                 .type = "invalid_request_error",
                                 .param = "sparse_attention",
                                 .code = ""});
            return;
        }
    }
    std::vector<int32_t> eos_ids;
    if (*grammar != nullptr) {
        std::call_once(rt->vocab_once, [&] { rt->vocab = constrain::TokenVocab::build(*rt->tokenizer); });
        for (int32_t e : {rt->tokenizer->eos_id(), rt->tokenizer->eot_id()}) {
            if (e >= 0)
                eos_ids.push_back(e);
        }
    }
    call->choices.resize(static_cast<size_t>(req.n));
    if (req.is_stream) {
        writer->begin_stream(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}});
    }
    const uint64_t base_seed = req.seed.value_or(0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(call->created));
    std::vector<uint64_t> handles;
    for (int32_t i = 0; i < req.n; ++i) {
        const size_t index = static_cast<size_t>(i);
        engine::EngineRequest er;
        er.prompt = prompt;  // the n copies share the prompt's KV blocks through the prefix cache
        er.params = {.max_tokens = req.max_tokens,
                     .temperature = req.temperature,
                     .top_p = req.top_p,
                     .seed = base_seed + index,
                     .stop = req.stop,
                     .ignore_eos = req.ignore_eos && *grammar == nullptr,
                     .logit_bias = req.logit_bias,
                     .frequency_penalty = req.frequency_penalty,
                     .presence_penalty = req.presence_penalty,
                     .top_logprobs = req.top_logprobs,
                     .sparse_attention = sparse,
                     .processor = nullptr};
        if (*grammar != nullptr) {
            call->choices[index].constraint = std::make_shared<constrain::Constraint>(*grammar, rt->vocab, eos_ids);
            er.params.processor = call->choices[index].constraint;
        }
        er.on_logprob = [call, index](const engine::TokenLogprob& lp) {
            call->choices[index].logprobs.push_back(lp);
        };
        er.on_text = [call, index, has_tools, model_name](const std::string& text) {
            Choice& ch = call->choices[index];
            if (!call->req.is_stream || has_tools) {
                ch.text += text;
                return;
            }
            std::string out;
            if (call->req.is_chat && !ch.is_role_sent) {
                ch.is_role_sent = true;
                out += sse_data(chunk(
                    *call, choice_delta(*call, index, {{"role", "assistant"}, {"content", ""}}, nullptr), model_name));
            }
            out += sse_data(chunk(*call, choice_delta(*call, index, {{"content", text}}, nullptr), model_name));
            call->writer->write(std::move(out));
        };
        er.on_finish = [call, index, has_tools, model_name](const engine::FinishInfo& info) {
            if (call->budget) {  // n is 1 under budgets: this is the request's whole usage
                call->budget->commit(static_cast<uint64_t>(info.prompt_tokens)
                                     + static_cast<uint64_t>(info.completion_tokens));
            }
            call->choices[index].info = info;
            call->choices[index].is_done = true;
            on_choice_finished(*call, index, has_tools, model_name);
        };
        auto handle = rt->engine->submit(std::move(er));
        if (!handle.has_value()) {
            for (uint64_t h : handles)
                rt->engine->cancel(h);
            const bool is_busy = handle.error().code() == ErrorCode::kResourceExhausted;
            const OpenAiError e{.http_status = is_busy ? 503 : 400,
                                .message = handle.error().message(),
                                .type = is_busy ? "server_error" : "invalid_request_error",
                                .param = "",
                                .code = ""};
            call->is_failed = true;
            if (req.is_stream) {
                writer->write(sse_data(json::parse(error_body(e))));
                writer->end();
            } else {
                send_error(*writer, e);
            }
            return;
        }
        handles.push_back(*handle);
    }
    std::weak_ptr<OpenAiRuntime> weak = rt;
    writer->on_close([weak, handles] {
        if (auto r = weak.lock()) {
            for (uint64_t h : handles)
                r->engine->cancel(h);
        }
    });
}

// /v1 gets the Host/Origin guard /mcp has (mcp::check_host_origin): on a loopback server, no
// cross-site post from a browser page and no DNS-rebound Host reaches the model.
Handler guarded(const HttpServer& http, Handler handler) {
    const std::string& host = http.config().host;
    const bool is_local_only = host == "127.0.0.1" || host == "localhost" || host == "::1";
    return [is_local_only, handler = std::move(handler)](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
        if (std::optional<std::string> why =
                mcp::check_host_origin(is_local_only, {}, req.header("host"), req.header("origin"))) {
            send_error(*w, {.http_status = 403,
                            .message = "Forbidden: " + *why,
                            .type = "invalid_request_error",
                            .param = "",
                            .code = "forbidden"});
            return;
        }
        handler(std::move(req), std::move(w));
    };
}

json model_json(const OpenAiRuntime& rt) {
    return {{"id", rt.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "gannet"}};
}

}  // namespace

void mount_openai_routes(HttpServer& http, std::shared_ptr<OpenAiRuntime> rt) {
    http.add_route("POST", "/v1/chat/completions",
                   guarded(http, [rt](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
                       handle_completion(rt, req, w, true);
                   }));
    http.add_route("POST", "/v1/completions", guarded(http, [rt](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
                       handle_completion(rt, req, w, false);
                   }));
    http.add_route("GET", "/v1/models", guarded(http, [rt](HttpRequest, std::shared_ptr<ResponseWriter> w) {
                       json body = {{"object", "list"}, {"data", json::array({model_json(*rt)})}};
                       w->send(json_response(200, gannet::json::dump(body)));
                   }));
    // GET /v1/models/{id}: the served model, or OpenAI's 404 for any other id.
    http.add_prefix_route("GET", "/v1/models/", guarded(http, [rt](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
                              const std::string id = req.path.substr(std::string("/v1/models/").size());
                              if (id != rt->model_name) {
                                  send_error(*w, {.http_status = 404,
                                                  .message = "The model '" + id + "' does not exist",
                                                  .type = "invalid_request_error",
                                                  .param = "model",
                                                  .code = "model_not_found"});
                                  return;
                              }
                              w->send(json_response(200, gannet::json::dump(model_json(*rt))));
                          }));
    http.add_route("GET", "/metrics", [rt](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{.status = 200,
                             .headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
                             .body = rt->engine->metrics_text() + (rt->budgets ? rt->budgets->metrics_text() : "")});
    });
}

}  // namespace gannet::server
