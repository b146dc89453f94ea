#include "server/openai_responses.h"

#include <atomic>
#include <ctime>

#include "base/log.h"
#include "json/json.h"
#include "server/openai_constrain.h"
#include "server/openai_generation.h"
#include "server/openai_routes.h"
#include "server/response_store.h"

namespace gannet::server {

using nlohmann::json;

namespace {

HttpResponse json_response(int status, const std::string& body) {
    return HttpResponse{.status = status, .headers = {{"Content-Type", "application/json"}}, .body = body};
}

// One /v1/responses call, shared by the handler and the engine thread's callbacks.
struct ResponseCall {
    ResponsesRequest req;
    std::shared_ptr<ResponseWriter> writer;
    std::string id;  // resp_<suffix>; items are msg_<suffix>, fc_<suffix>_<i>, calls call_<suffix>_<i>
    std::string suffix;
    std::string model;
    int64_t created = 0;
    bool has_tools = false;
    std::string text;              // the whole output so far
    bool is_message_open = false;  // stream without tools: the message item's added events are out
    int64_t n_events = 0;          // sequence_number of the next event
    std::shared_ptr<BudgetTicket> budget;
    std::shared_ptr<ResponseStore> store;  // null: store false
    // include message.output_text.logprobs: every generated token's, and how many a delta sent.
    std::vector<engine::TokenLogprob> logprobs;
    size_t n_logprobs_sent = 0;
};

bool wants_logprobs(const ResponseCall& c) {
    return c.req.chat.top_logprobs >= 0;
}

// Chat's logprob entries ({token, logprob, bytes, top_logprobs}) from `from` on.
json logprobs_json(const ResponseCall& c, size_t from) {
    json out = json::array();
    for (size_t i = from; i < c.logprobs.size(); ++i)
        out.push_back(logprob_entry(c.logprobs[i]));
    return out;
}

std::string event(ResponseCall& c, const char* type, json payload) {
    payload["type"] = type;
    payload["sequence_number"] = c.n_events++;
    return std::string("event: ") + type + "\ndata: " + gannet::json::dump(payload) + "\n\n";
}

json usage_of(const engine::FinishInfo& info) {
    return {{"input_tokens", info.prompt_tokens},
            {"input_tokens_details", {{"cached_tokens", info.cached_tokens}}},
            {"output_tokens", info.completion_tokens},
            {"output_tokens_details", {{"reasoning_tokens", 0}}},
            {"total_tokens", info.prompt_tokens + info.completion_tokens}};
}

// The response object; status in_progress | completed | incomplete | failed.
json response_json(const ResponseCall& c, const std::string& status, json output, json usage, json error) {
    json r = {{"id", c.id},
              {"object", "response"},
              {"created_at", c.created},
              {"status", status},
              {"error", std::move(error)},
              {"incomplete_details", nullptr},
              {"model", c.model},
              {"output", std::move(output)},
              {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
              {"truncation", "disabled"},
              {"usage", std::move(usage)}};
    if (status == "incomplete")
        r["incomplete_details"] = {{"reason", "max_output_tokens"}};
    for (const auto& [key, value] : c.req.echo.items())
        r[key] = value;
    return r;
}

json message_item(const ResponseCall& c, const std::string& text, const std::string& status) {
    json content = json::array();
    if (status != "in_progress") {
        content.push_back({{"type", "output_text"}, {"text", text}, {"annotations", json::array()}});
        if (wants_logprobs(c))
            content[0]["logprobs"] = logprobs_json(c, 0);  // all tokens, tool-call text included
    }
    return {{"type", "message"},
            {"id", "msg_" + c.suffix},
            {"status", status},
            {"role", "assistant"},
            {"content", std::move(content)}};
}

// The finished output: a message with the text outside tool calls (when any), then each call.
json output_items(const ResponseCall& c, const std::string& status) {
    ParsedToolCalls parsed;
    if (c.has_tools)
        parsed = parse_tool_calls(c.text);
    else
        parsed.content = c.text;
    json items = json::array();
    if (!parsed.content.empty() || parsed.calls.empty())
        items.push_back(message_item(c, parsed.content, status));
    for (size_t i = 0; i < parsed.calls.size(); ++i) {
        const std::string n = c.suffix + "_" + std::to_string(i);
        items.push_back({{"type", "function_call"},
                         {"id", "fc_" + n},
                         {"call_id", "call_" + n},
                         {"name", parsed.calls[i].name},
                         {"arguments", parsed.calls[i].arguments},
                         {"status", "completed"}});
    }
    return items;
}

// The output as the chat message previous_response_id continues from: the text, and the calls
// with their call_ids (a later function_call_output answers one).
json assistant_turn(const json& items) {
    json turn = {{"role", "assistant"}, {"content", nullptr}};
    for (const json& item : items) {
        if (item["type"] == "message") {
            turn["content"] = item["content"][0]["text"];
        } else {
            turn["tool_calls"].push_back({{"id", item["call_id"]},
                                          {"type", "function"},
                                          {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}});
        }
    }
    if (turn["content"].is_null() && !turn.contains("tool_calls"))
        turn["content"] = "";
    return turn;
}

std::string open_message_events(ResponseCall& c) {
    c.is_message_open = true;
    const std::string item_id = "msg_" + c.suffix;
    // Two statements: the sequence numbers must follow the order the events are sent in.
    std::string out =
        event(c, "response.output_item.added", {{"output_index", 0}, {"item", message_item(c, "", "in_progress")}});
    out += event(c, "response.content_part.added",
                 {{"item_id", item_id},
                  {"output_index", 0},
                  {"content_index", 0},
                  {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}});
    return out;
}

// The events that close item `index` (a message whose text may already have been streamed, or a
// function call sent whole).
std::string item_events(ResponseCall& c, size_t index, const json& item, bool is_text_streamed) {
    std::string out;
    const std::string item_id = item["id"];
    if (item["type"] == "function_call") {
        json added = item;
        added["arguments"] = "";
        added["status"] = "in_progress";
        out += event(c, "response.output_item.added", {{"output_index", index}, {"item", added}});
        out += event(c, "response.function_call_arguments.delta",
                     {{"item_id", item_id}, {"output_index", index}, {"delta", item["arguments"]}});
        out += event(c, "response.function_call_arguments.done",
                     {{"item_id", item_id}, {"output_index", index}, {"arguments", item["arguments"]}});
    } else {
        const json& part = item["content"][0];
        if (!is_text_streamed) {
            out += open_message_events(c);
            json delta = {{"item_id", item_id}, {"output_index", index}, {"content_index", 0}, {"delta", part["text"]}};
            if (wants_logprobs(c))
                delta["logprobs"] = part["logprobs"];
            out += event(c, "response.output_text.delta", std::move(delta));
        }
        out += event(c, "response.output_text.done",
                     {{"item_id", item_id}, {"output_index", index}, {"content_index", 0}, {"text", part["text"]}});
        out += event(c, "response.content_part.done",
                     {{"item_id", item_id}, {"output_index", index}, {"content_index", 0}, {"part", part}});
    }
    out += event(c, "response.output_item.done", {{"output_index", index}, {"item", item}});
    return out;
}

// Engine thread: the one choice ended.
void on_response_finished(ResponseCall& c, const engine::FinishInfo& info) {
    ResponseWriter& w = *c.writer;
    if (!info.status.ok()) {
        const json error = {{"code", "server_error"}, {"message", info.status.message()}};
        if (c.req.chat.is_stream) {
            w.write(
                event(c, "response.failed", {{"response", response_json(c, "failed", json::array(), nullptr, error)}}));
            w.end();
        } else {
            const OpenAiError e{
                .http_status = 500, .message = info.status.message(), .type = "server_error", .param = "", .code = ""};
            w.send(json_response(e.http_status, error_body(e)));
        }
        return;
    }
    const std::string status = info.finish_reason == "length" ? "incomplete" : "completed";
    const json items = output_items(c, status);
    const json body = response_json(c, status, items, usage_of(info), nullptr);
    if (c.store != nullptr) {
        json conversation = c.req.conversation;
        conversation.push_back(assistant_turn(items));
        if (!c.store->put(c.id, std::move(conversation), body))
            GANNET_LOG_WARN("openai", "response %s is larger than the response store; not stored", c.id.c_str());
    }
    if (!c.req.chat.is_stream) {
        w.send(json_response(200, gannet::json::dump(body)));
        return;
    }
    std::string out;
    for (size_t i = 0; i < items.size(); ++i)
        out += item_events(c, i, items[i], c.is_message_open && items[i]["type"] == "message");
    out += event(c, status == "completed" ? "response.completed" : "response.incomplete", {{"response", body}});
    w.write(std::move(out));
    w.end();
}

std::string new_suffix() {
    static std::atomic<uint64_t> counter{0};
    return std::to_string(std::time(nullptr)) + "-" + std::to_string(++counter);
}

}  // namespace

void handle_stored_response(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                            const std::shared_ptr<ResponseWriter>& writer) {
    const std::string id = request.path.substr(std::string("/v1/responses/").size());
    const bool is_delete = request.method == "DELETE";
    if (request.target.size() > request.path.size() + 1) {
        // include / stream / starting_after would change the answer: refused, not ignored.
        const OpenAiError e = invalid_param(request.target.substr(request.path.size() + 1),
                                            "query parameters of /v1/responses/{id} are not supported");
        writer->send(json_response(e.http_status, error_body(e)));
        return;
    }
    const bool is_found = is_delete ? rt->responses->erase(id) : rt->responses->response(id).has_value();
    if (!is_found) {
        const OpenAiError e{.http_status = 404,
                            .message = "No response found with id '" + id + "'.",
                            .type = "invalid_request_error",
                            .param = "response_id",
                            .code = "not_found"};
        writer->send(json_response(e.http_status, error_body(e)));
        return;
    }
    const json body =
        is_delete ? json{{"id", id}, {"object", "response.deleted"}, {"deleted", true}} : *rt->responses->response(id);
    writer->send(json_response(200, gannet::json::dump(body)));
}

void handle_responses(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                      const std::shared_ptr<ResponseWriter>& writer) {
    auto send_error = [&writer](const OpenAiError& e) {
        writer->send(json_response(e.http_status, error_body(e)));
    };
    auto call = std::make_shared<ResponseCall>();
    call->writer = writer;
    if (auto err = parse_responses_request(request.body, rt->responses.get(), call->req))
        return send_error(*err);
    if (call->req.is_store)
        call->store = rt->responses;
    CompletionRequest& req = call->req.chat;
    PreparedGeneration gen;
    if (auto err = prepare_generation(*rt, request, req, gen)) {
        err->param = responses_param(err->param);
        return send_error(*err);
    }
    call->budget = gen.budget;
    call->suffix = new_suffix();
    call->id = "resp_" + call->suffix;
    call->model = rt->model_name;
    call->created = static_cast<int64_t>(std::time(nullptr));
    call->has_tools = !req.tools_json.empty() && req.tool_choice != "none";
    engine::EngineRequest er;
    er.prompt = gen.prompt;
    er.params = generation_params(*rt, req, gen, req.seed.value_or(0x9E3779B97F4A7C15ull ^ call->created));
    er.on_text = [call](const std::string& text) {
        call->text += text;
        if (!call->req.chat.is_stream || call->has_tools)
            return;  // tool calls are parsed from the whole output, so their text waits for the end
        std::string out = call->is_message_open ? "" : open_message_events(*call);
        json delta = {{"item_id", "msg_" + call->suffix}, {"output_index", 0}, {"content_index", 0}, {"delta", text}};
        if (wants_logprobs(*call)) {  // the tokens since the last delta (text held back by stop strings waits)
            delta["logprobs"] = logprobs_json(*call, call->n_logprobs_sent);
            call->n_logprobs_sent = call->logprobs.size();
        }
        out += event(*call, "response.output_text.delta", std::move(delta));
        call->writer->write(std::move(out));
    };
    er.on_logprob = [call](const engine::TokenLogprob& lp) {
        call->logprobs.push_back(lp);
    };
    er.on_finish = [call](const engine::FinishInfo& info) {
        if (call->budget)
            call->budget->commit(static_cast<uint64_t>(info.prompt_tokens)
                                 + static_cast<uint64_t>(info.completion_tokens));
        on_response_finished(*call, info);
    };
    if (req.is_stream) {
        writer->begin_stream(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}});
        const json started = response_json(*call, "in_progress", json::array(), nullptr, nullptr);
        std::string out = event(*call, "response.created", {{"response", started}});
        out += event(*call, "response.in_progress", {{"response", started}});
        writer->write(std::move(out));
    }
    auto handle = rt->engine->submit(std::move(er));
    if (!handle.has_value()) {
        const bool is_busy = handle.error().code() == ErrorCode::kResourceExhausted;
        const OpenAiError e{.http_status = is_busy ? 503 : 400,
                            .message = handle.error().message(),
                            .type = is_busy ? "server_error" : "invalid_request_error",
                            .param = "",
                            .code = ""};
        if (!req.is_stream)
            return send_error(e);
        const json error = {{"code", is_busy ? "server_error" : "invalid_request"}, {"message", e.message}};
        writer->write(event(*call, "response.failed",
                            {{"response", response_json(*call, "failed", json::array(), nullptr, error)}}));
        writer->end();
        return;
    }
    std::weak_ptr<OpenAiRuntime> weak = rt;
    writer->on_close([weak, h = *handle] {
        if (auto r = weak.lock())
            r->engine->cancel(h);
    });
}

}  // namespace gannet::server
