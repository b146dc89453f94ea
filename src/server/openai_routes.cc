#include "server/openai_routes.h"

#include <atomic>
#include <chrono>
#include <ctime>

#include "json/json.h"
#include "server/openai_constrain.h"
#include "server/openai_json.h"

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
    if (is_stream) {
        if (call.req.include_usage) {
            json u = chunk(call, nullptr, model_name);
            u["usage"] = usage;
            out += sse_data(u);
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
    // The chat template already holds the BOS text where the model wants one.
    std::vector<int32_t> prompt =
        rt->tokenizer->encode(prompt_text, is_chat ? tokenizer::AddBos::kNo : tokenizer::AddBos::kDefault);
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
    if (req.max_tokens < 0) {
        req.max_tokens = n_ctx - n_prompt;
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

}  // namespace

void mount_openai_routes(HttpServer& http, std::shared_ptr<OpenAiRuntime> rt) {
    http.add_route("POST", "/v1/chat/completions",
                   [rt](HttpRequest req, std::shared_ptr<ResponseWriter> w) { handle_completion(rt, req, w, true); });
    http.add_route("POST", "/v1/completions",
                   [rt](HttpRequest req, std::shared_ptr<ResponseWriter> w) { handle_completion(rt, req, w, false); });
    http.add_route("GET", "/v1/models", [rt](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        json body = {
            {"object", "list"},
            {"data",
             json::array({{{"id", rt->model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "gannet"}}})}};
        w->send(json_response(200, gannet::json::dump(body)));
    });
    http.add_route("GET", "/metrics", [rt](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{.status = 200,
                             .headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
                             .body = rt->engine->metrics_text()});
    });
}

}  // namespace gannet::server
