#include "bench/chat_stream.h"

#include "bench/sse_parser.h"
#include "json/json.h"

namespace gannet::bench {
namespace {

using Json = nlohmann::json;

int64_t int_or(const Json& obj, const char* key, int64_t fallback) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_number() ? it->get<int64_t>() : fallback;
}

bool has_text(const Json& delta, const char* key) {
    auto it = delta.find(key);
    return it != delta.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

// Whether a delta stands for one generated token. llama.cpp sends an empty "content" for a token
// whose bytes it holds back (an incomplete UTF-8 sequence), so an empty string still counts; the
// opening {"role": "assistant", "content": ""} of OpenAI and vLLM does not.
bool is_token_delta(const Json& delta) {
    if (has_text(delta, "content") || has_text(delta, "reasoning_content")) {
        return true;
    }
    auto content = delta.find("content");
    return content != delta.end() && content->is_string() && !delta.contains("role");
}

void apply_usage(const Json& doc, StepSample* s) {
    auto u = doc.find("usage");
    if (u != doc.end() && u->is_object()) {
        s->n_tokens_usage = int_or(*u, "completion_tokens", s->n_tokens_usage);
        s->n_tokens_prompt = int_or(*u, "prompt_tokens", s->n_tokens_prompt);
        auto details = u->find("prompt_tokens_details");
        if (details != u->end() && details->is_object()) {
            s->n_tokens_cached = int_or(*details, "cached_tokens", s->n_tokens_cached);
        }
    }
    // llama.cpp reports cache reuse only as "timings.prompt_n" (prompt tokens it had to compute).
    auto t = doc.find("timings");
    if (s->n_tokens_cached < 0 && s->n_tokens_prompt >= 0 && t != doc.end() && t->is_object()) {
        const int64_t n_computed = int_or(*t, "prompt_n", -1);
        if (n_computed >= 0 && n_computed <= s->n_tokens_prompt) {
            s->n_tokens_cached = s->n_tokens_prompt - n_computed;
        }
    }
}

}  // namespace

double StepSample::tpot_ms() const {
    const int64_t n = n_tokens();
    return n >= 2 && n_chunks >= 2 ? decode_ms / static_cast<double>(n - 1) : -1.0;
}

std::string chat_request_body(const ChatRequest& r) {
    Json messages = Json::array();
    for (const Message& m : r.messages) {
        messages.push_back({{"role", m.role}, {"content", m.content}});
    }
    Json body = {{"model", r.model},
                 {"messages", std::move(messages)},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}},
                 {"max_tokens", r.max_tokens}};
    if (r.is_ignore_eos) {
        body["ignore_eos"] = true;
    }
    return json::dump(body);
}

Status apply_chat_event(std::string_view data, double t_ms, StepSample* s, bool* is_done) {
    if (data == "[DONE]") {
        *is_done = true;
        return Status();
    }
    Result<Json> doc = json::parse(data);
    if (!doc.has_value() || !doc->is_object()) {
        return make_error(ErrorCode::kDataLoss, "bench: malformed stream chunk '%.80s'", std::string(data).c_str());
    }
    if (auto e = doc->find("error"); e != doc->end()) {
        std::string msg = e->is_object() && e->contains("message") && (*e)["message"].is_string()
                              ? (*e)["message"].get<std::string>()
                              : json::dump(*e);
        return make_error(ErrorCode::kInternal, "bench: server error in stream: %s", msg.c_str());
    }
    auto choices = doc->find("choices");
    if (choices != doc->end() && choices->is_array() && !choices->empty() && (*choices)[0].is_object()) {
        const Json& c = (*choices)[0];
        auto delta = c.find("delta");
        if (delta != c.end() && delta->is_object() && is_token_delta(*delta)) {
            if (s->n_chunks == 0) {
                s->ttft_ms = t_ms;
            } else {
                s->itl_ms.push_back(static_cast<float>(t_ms - (s->ttft_ms + s->decode_ms)));
            }
            s->decode_ms = t_ms - s->ttft_ms;
            ++s->n_chunks;
        }
        auto fr = c.find("finish_reason");
        if (fr != c.end() && fr->is_string()) {
            s->finish_reason = fr->get<std::string>();
            // Every token was held back (llama.cpp does while the text could still become a stop
            // string): the answer reaches the client only now, so this is its first token.
            if (s->n_chunks == 0) {
                s->ttft_ms = t_ms;
            }
        }
    }
    apply_usage(*doc, s);
    return Status();
}

Result<StepSample> stream_chat(const Url& url, const ChatRequest& request, const HttpOptions& options) {
    HttpRequest http;
    http.method = "POST";
    http.path = url.path_prefix + "/chat/completions";
    http.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
    if (!request.api_key.empty()) {
        http.headers.emplace_back("Authorization", "Bearer " + request.api_key);
    }
    http.body = chat_request_body(request);

    StepSample sample;
    bool is_done = false;
    int status = 0;
    std::string error_body;  // collected instead of parsed when the status is not 200
    Status event_status;
    SseParser parser([&](const SseEvent& e) {
        if (!event_status.ok() || is_done) {
            return;
        }
        const double t_ms = std::chrono::duration<double, std::milli>(Clock::now() - sample.t_start).count();
        if (e.type == "error") {
            event_status = make_error(ErrorCode::kInternal, "bench: server error in stream: %.300s", e.data.c_str());
            return;
        }
        event_status = apply_chat_event(e.data, t_ms, &sample, &is_done);
    });
    sample.t_start = Clock::now();
    Status s = http_stream(
        url, http, options,
        [&](const HttpResponseHead& h) {
            status = h.status;
            return Status();
        },
        [&](std::string_view bytes) {
            if (status != 200) {
                if (error_body.size() < 2048) {
                    error_body.append(bytes.substr(0, 2048 - error_body.size()));
                }
                return Status();
            }
            parser.feed(bytes);
            return event_status;
        });
    if (status != 200 && status != 0) {  // the status says more than a transport error reading its body
        return make_error(status == 400 || status == 422 ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable,
                          "bench: POST %s: HTTP %d: %.300s", http.path.c_str(), status, error_body.c_str());
    }
    GANNET_RETURN_IF_ERROR(s);
    parser.finish();
    GANNET_RETURN_IF_ERROR(event_status);
    sample.e2e_ms = std::chrono::duration<double, std::milli>(Clock::now() - sample.t_start).count();
    return sample;
}

}  // namespace gannet::bench
