#include "server/openai_routes.h"

#include <atomic>
#include <chrono>
#include <ctime>

#include "json/json.h"
#include "mcp/auth.h"
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

// Shared state of one request between the engine thread's callbacks and the I/O side.
struct Call {
    CompletionRequest req;
    std::shared_ptr<ResponseWriter> writer;
    std::string id;
    int64_t created = 0;
    std::string text;                      // non-streaming: the whole output; streaming with tools: buffered
    std::shared_ptr<BudgetTicket> budget;  // --budgets: this request's reservation
    bool is_role_sent = false;
};

json choice_delta(const Call& c, json delta, json finish) {
    json ch = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", std::move(finish)}};
    if (!c.req.is_chat) {
        ch = {{"index", 0},
              {"text", ch["delta"].value("content", "")},
              {"logprobs", nullptr},
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
        if (auto err = rt->budgets->admit(request, n_prompt, is_max_tokens_set, &req.max_tokens, &call->budget)) {
            send_error(*writer, *err);
            return;
        }
    }
    call->id = new_id(is_chat ? "chatcmpl-" : "cmpl-");
    call->created = static_cast<int64_t>(std::time(nullptr));
    const bool has_tools = is_chat && !req.tools_json.empty() && req.tool_choice != "none";
    const std::string model_name = rt->model_name;

    engine::EngineRequest er;
    er.prompt = std::move(prompt);
    er.params = {.max_tokens = req.max_tokens,
                 .temperature = req.temperature,
                 .top_p = req.top_p,
                 .seed = req.seed.value_or(0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(call->created)),
                 .stop = req.stop,
                 .ignore_eos = req.ignore_eos};
    if (req.is_stream) {
        writer->begin_stream(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}});
    }
    er.on_text = [call, has_tools, model_name](const std::string& text) {
        if (!call->req.is_stream || has_tools) {
            call->text += text;
            return;
        }
        std::string out;
        if (call->req.is_chat && !call->is_role_sent) {
            call->is_role_sent = true;
            out += sse_data(
                chunk(*call, choice_delta(*call, {{"role", "assistant"}, {"content", ""}}, nullptr), model_name));
        }
        out += sse_data(chunk(*call, choice_delta(*call, {{"content", text}}, nullptr), model_name));
        call->writer->write(std::move(out));
    };
    er.on_finish = [call, has_tools, model_name](const engine::FinishInfo& info) {
        ResponseWriter& w = *call->writer;
        if (call->budget) {
            call->budget->commit(static_cast<uint64_t>(info.prompt_tokens)
                                 + static_cast<uint64_t>(info.completion_tokens));
        }
        if (!info.status.ok()) {
            if (w.is_closed())
                return;
            const OpenAiError e{
                .http_status = 500, .message = info.status.message(), .type = "server_error", .param = "", .code = ""};
            if (call->req.is_stream) {
                w.write(sse_data(json::parse(error_body(e))));
                w.end();
            } else {
                send_error(w, e);
            }
            return;
        }
        ParsedToolCalls parsed;
        if (has_tools) {
            parsed = parse_tool_calls(call->text);
        } else {
            parsed.content = call->text;
        }
        const std::string finish = parsed.calls.empty() ? info.finish_reason : "tool_calls";
        const json usage = usage_json(info.prompt_tokens, info.completion_tokens, info.cached_tokens);
        if (call->req.is_stream) {
            std::string out;
            if (call->req.is_chat && !call->is_role_sent) {
                out += sse_data(
                    chunk(*call, choice_delta(*call, {{"role", "assistant"}, {"content", ""}}, nullptr), model_name));
            }
            if (has_tools) {
                json delta = json::object();
                if (!parsed.content.empty())
                    delta["content"] = parsed.content;
                if (!parsed.calls.empty())
                    delta["tool_calls"] = tool_calls_json(parsed.calls, true);
                if (!delta.empty())
                    out += sse_data(chunk(*call, choice_delta(*call, delta, nullptr), model_name));
            }
            out += sse_data(chunk(*call, choice_delta(*call, json::object(), finish), model_name));
            if (call->req.include_usage) {
                json u = chunk(*call, nullptr, model_name);
                u["usage"] = usage;
                out += sse_data(u);
            }
            if (call->budget) {
                out += call->budget->final_event(finish, usage);
            }
            out += sse_done();
            w.write(std::move(out));
            w.end();
            return;
        }
        json body;
        if (call->req.is_chat) {
            json msg = {{"role", "assistant"}, {"content", parsed.content}, {"refusal", nullptr}};
            if (!parsed.calls.empty()) {
                msg["tool_calls"] = tool_calls_json(parsed.calls, false);
                if (parsed.content.empty())
                    msg["content"] = nullptr;
            }
            body = {{"id", call->id},
                    {"object", "chat.completion"},
                    {"created", call->created},
                    {"model", model_name},
                    {"system_fingerprint", "gannet"},
                    {"choices",
                     json::array({{{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", finish}}})},
                    {"usage", usage}};
        } else {
            body = {{"id", call->id},
                    {"object", "text_completion"},
                    {"created", call->created},
                    {"model", model_name},
                    {"system_fingerprint", "gannet"},
                    {"choices",
                     json::array(
                         {{{"index", 0}, {"text", parsed.content}, {"logprobs", nullptr}, {"finish_reason", finish}}})},
                    {"usage", usage}};
        }
        if (std::optional<json> cut = call->budget ? call->budget->final_error(finish) : std::nullopt) {
            body["error"] = std::move(*cut);  // billed output delivered; the budget's cut made explicit
        }
        w.send(json_response(200, gannet::json::dump(body)));
    };
    auto handle = rt->engine->submit(std::move(er));
    if (!handle.has_value()) {
        const bool is_busy = handle.error().code() == ErrorCode::kResourceExhausted;
        const OpenAiError e{.http_status = is_busy ? 503 : 400,
                            .message = handle.error().message(),
                            .type = is_busy ? "server_error" : "invalid_request_error",
                            .param = "",
                            .code = ""};
        if (req.is_stream) {
            writer->write(sse_data(json::parse(error_body(e))));
            writer->end();
        } else {
            send_error(*writer, e);
        }
        return;
    }
    std::weak_ptr<OpenAiRuntime> weak = rt;
    const uint64_t h = *handle;
    writer->on_close([weak, h] {
        if (auto r = weak.lock())
            r->engine->cancel(h);
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
