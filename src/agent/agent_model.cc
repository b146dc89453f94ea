#include "agent/agent_model.h"

#include "json/json.h"

namespace gannet::agent {

using nlohmann::json;

namespace {

bench::HttpRequest make_request(const ModelEndpoint& e, const std::string& method, const std::string& path,
                                std::string body) {
    bench::HttpRequest r;
    r.method = method;
    r.path = e.url.path_prefix + path;
    r.headers = {{"Content-Type", "application/json"}};
    if (!e.api_key.empty()) {
        r.headers.emplace_back("Authorization", "Bearer " + e.api_key);
    }
    r.body = std::move(body);
    return r;
}

bench::HttpOptions options_of(const ModelEndpoint& e) {
    bench::HttpOptions o;
    o.read_timeout_ms = e.timeout_ms;
    return o;
}

}  // namespace

Result<std::string> resolve_model(const ModelEndpoint& endpoint) {
    GANNET_ASSIGN_OR_RETURN(bench::HttpResponse r,
                            bench::http_fetch(endpoint.url, make_request(endpoint, "GET", "/models", ""),
                                              options_of(endpoint), size_t{1} << 20));
    Result<json> body = gannet::json::parse(r.body);
    if (r.status != 200 || !body.has_value() || !body->contains("data") || !(*body)["data"].is_array()
        || (*body)["data"].empty() || !(*body)["data"][0].contains("id") || !(*body)["data"][0]["id"].is_string()) {
        return make_error(ErrorCode::kDataLoss, "agent: %s/models: HTTP %d, no model listed: %.200s",
                          endpoint.url.str().c_str(), r.status, r.body.c_str());
    }
    return (*body)["data"][0]["id"].get<std::string>();
}

Result<ChatReply> chat(const ModelEndpoint& endpoint, const json& messages, const json& tools, uint64_t max_tokens,
                       double temperature, uint64_t seed, const std::string& stop) {
    json req = {{"model", endpoint.model},
                {"messages", messages},
                {"max_tokens", max_tokens},
                {"temperature", temperature},
                {"seed", seed}};
    if (!stop.empty()) {
        req["stop"] = json::array({stop});
    }
    if (tools.is_array() && !tools.empty()) {
        req["tools"] = tools;
    }
    GANNET_ASSIGN_OR_RETURN(
        bench::HttpResponse r,
        bench::http_fetch(endpoint.url, make_request(endpoint, "POST", "/chat/completions", gannet::json::dump(req)),
                          options_of(endpoint), size_t{16} << 20));
    ChatReply reply;
    reply.http_status = r.status;
    Result<json> body = gannet::json::parse(r.body);
    if (!body.has_value() || !body->is_object()) {
        return make_error(ErrorCode::kDataLoss, "agent: %s/chat/completions: HTTP %d with a non-JSON body: %.200s",
                          endpoint.url.str().c_str(), r.status, r.body.c_str());
    }
    const json& b = *body;
    if (r.status != 200) {
        const json e = b.value("error", json::object());
        reply.error_type =
            e.is_object() && e.contains("type") && e["type"].is_string() ? e["type"].get<std::string>() : "";
        reply.error_code =
            e.is_object() && e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
        reply.error_message = e.is_object() && e.contains("message") && e["message"].is_string()
                                  ? e["message"].get<std::string>()
                                  : r.body;
        return reply;
    }
    const bool has_choice = b.contains("choices") && b["choices"].is_array() && !b["choices"].empty()
                            && b["choices"][0].contains("message") && b["choices"][0]["message"].is_object();
    const bool has_usage = b.contains("usage") && b["usage"].is_object() && b["usage"].contains("prompt_tokens")
                           && b["usage"]["prompt_tokens"].is_number_unsigned()
                           && b["usage"].contains("completion_tokens")
                           && b["usage"]["completion_tokens"].is_number_unsigned();
    if (!has_choice || !has_usage) {
        // Without usage nothing could be committed exactly: refuse rather than guess.
        return make_error(ErrorCode::kDataLoss,
                          "agent: %s/chat/completions: a 200 without choices[0].message or usage: %.200s",
                          endpoint.url.str().c_str(), r.body.c_str());
    }
    const json& msg = b["choices"][0]["message"];
    reply.content = msg.contains("content") && msg["content"].is_string() ? msg["content"].get<std::string>() : "";
    if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
        reply.tool_calls = msg["tool_calls"];
    }
    const json& fr = b["choices"][0].contains("finish_reason") ? b["choices"][0]["finish_reason"] : json();
    reply.finish_reason = fr.is_string() ? fr.get<std::string>() : "";
    reply.prompt_tokens = b["usage"]["prompt_tokens"].get<uint64_t>();
    reply.completion_tokens = b["usage"]["completion_tokens"].get<uint64_t>();
    return reply;
}

}  // namespace gannet::agent
