#include "server/openai_embeddings.h"

#include <cstring>

#include "json/json.h"
#include "server/budget_gate.h"
#include "server/openai_routes.h"
#include "server/request_schema.h"
#include "tokenizer/prompt.h"

namespace gannet::server {

using nlohmann::json;

namespace {

HttpResponse json_response(int status, const std::string& body) {
    return HttpResponse{.status = status, .headers = {{"Content-Type", "application/json"}}, .body = body};
}

// A token-id array: ints >= 0 (the vocabulary bound is the model's, checked by the handler).
std::optional<OpenAiError> token_array(const json& a, const std::string& param, std::vector<int32_t>& out) {
    if (a.empty())
        return invalid_param(param, "'" + param + "' is an empty array of tokens; each input needs at least one");
    for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_number_integer() || a[i].get<int64_t>() < 0 || a[i].get<int64_t>() > INT32_MAX) {
            return invalid_type(param + "[" + std::to_string(i) + "]", "a token id (an integer >= 0)", a[i]);
        }
        out.push_back(static_cast<int32_t>(a[i].get<int64_t>()));
    }
    return std::nullopt;
}

// input: "text" | ["text", ...] | [id, ...] | [[id, ...], ...] (OpenAI's four forms, not mixed).
std::optional<OpenAiError> parse_input(const json& in, std::vector<EmbeddingsRequest::Input>& out) {
    if (in.is_string()) {
        if (in.get<std::string>().empty())
            return invalid_param("input", "'input' is an empty string; each input needs at least one token");
        out.push_back({.text = in.get<std::string>(), .tokens = {}, .is_tokens = false});
        return std::nullopt;
    }
    if (!in.is_array())
        return invalid_type("input", "a string, an array of strings or an array of token arrays", in);
    if (in.empty())
        return invalid_param("input", "'input' is an empty array");
    if (in.size() > kMaxEmbeddingInputs) {
        return invalid_param("input", "'input' has " + std::to_string(in.size()) + " entries, at most "
                                          + std::to_string(kMaxEmbeddingInputs));
    }
    if (in[0].is_number_integer()) {
        EmbeddingsRequest::Input one{.text = "", .tokens = {}, .is_tokens = true};
        if (auto err = token_array(in, "input", one.tokens))
            return err;
        out.push_back(std::move(one));
        return std::nullopt;
    }
    const bool is_text = in[0].is_string();
    for (size_t i = 0; i < in.size(); ++i) {
        const std::string at = "input[" + std::to_string(i) + "]";
        if (is_text) {
            if (!in[i].is_string())
                return invalid_type(at, "a string (as input[0])", in[i]);
            if (in[i].get<std::string>().empty())
                return invalid_param(at, "'" + at + "' is an empty string; each input needs at least one token");
            out.push_back({.text = in[i].get<std::string>(), .tokens = {}, .is_tokens = false});
        } else {
            if (!in[i].is_array())
                return invalid_type(at, "an array of token ids (as input[0])", in[i]);
            EmbeddingsRequest::Input one{.text = "", .tokens = {}, .is_tokens = true};
            if (auto err = token_array(in[i], at, one.tokens))
                return err;
            out.push_back(std::move(one));
        }
    }
    return std::nullopt;
}

OpenAiError model_error(int status, const std::string& message, const std::string& code) {
    return {.http_status = status,
            .message = message,
            .type = status >= 500 ? "server_error" : "invalid_request_error",
            .param = status >= 500 ? "" : "model",
            .code = code};
}

json embeddings_body(const EmbeddingsRequest& req, const std::string& model, const Embeddings& vectors,
                     int64_t n_tokens) {
    json data = json::array();
    for (size_t i = 0; i < vectors.size(); ++i) {
        json v;
        if (req.is_base64) {
            // OpenAI's base64 form: the float32 array's bytes (little-endian on every host we build for).
            std::string bytes(vectors[i].size() * sizeof(float), '\0');
            std::memcpy(bytes.data(), vectors[i].data(), bytes.size());
            v = base64_encode(bytes);
        } else {
            v = vectors[i];
        }
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(v)}});
    }
    return {{"object", "list"},
            {"data", std::move(data)},
            {"model", model},
            {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}}};
}

}  // namespace

Result<Embedder*> embedder_of(OpenAiRuntime& rt) {
    std::call_once(rt.embedder_once, [&rt] {
        auto e = Embedder::create(rt.model_path, rt.engine->config().n_ctx, rt.n_threads);
        if (e.has_value())
            rt.embedder = std::move(*e);
        else
            rt.embedder_status = e.error();
    });
    if (rt.embedder == nullptr)
        return rt.embedder_status;
    return rt.embedder.get();
}

std::string base64_encode(const std::string& bytes) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        const size_t n = std::min<size_t>(3, bytes.size() - i);
        uint32_t acc = 0;
        for (size_t k = 0; k < 3; ++k)
            acc = (acc << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
        for (size_t k = 0; k < 4; ++k)
            out.push_back(k <= n ? kAlphabet[(acc >> (18 - 6 * k)) & 0x3f] : '=');
    }
    return out;
}

std::optional<OpenAiError> parse_embeddings_request(const std::string& body, EmbeddingsRequest& out) {
    auto parsed = gannet::json::parse(body, {.max_size_bytes = 8 << 20, .max_depth = 64});
    if (!parsed.has_value())
        return invalid_param("", "We could not parse the JSON body of your request: " + parsed.error().message());
    const json& j = *parsed;
    if (!j.is_object())
        return invalid_type("", "an object", j);
    for (const auto& [key, value] : j.items()) {
        if (key != "model" && key != "input" && key != "encoding_format" && key != "dimensions" && key != "user")
            return invalid_param(
                key, "Unrecognized request argument supplied: " + key + " (gannet serve does not implement it)");
    }
    if (auto err = check_request_schema(RequestKind::kEmbeddings, j))
        return err;
    if (!j.contains("model") || !j["model"].is_string())
        return invalid_type("model", "a string", j.value("model", json()));
    out.model = j["model"].get<std::string>();
    if (!j.contains("input"))
        return invalid_param("input", "Missing required parameter: 'input'.");
    if (auto err = parse_input(j["input"], out.inputs))
        return err;
    if (j.contains("encoding_format") && !j["encoding_format"].is_null()) {
        const json& f = j["encoding_format"];
        if (!f.is_string() || (f != "float" && f != "base64"))
            return invalid_param("encoding_format", "'encoding_format' must be 'float' or 'base64'");
        out.is_base64 = f == "base64";
    }
    if (j.contains("dimensions") && !j["dimensions"].is_null()) {
        if (!j["dimensions"].is_number_integer() || j["dimensions"].get<int64_t>() < 1)
            return invalid_type("dimensions", "a positive integer", j["dimensions"]);
        out.dimensions = j["dimensions"].get<int64_t>();
    }
    if (j.contains("user") && !j["user"].is_null()) {
        if (!j["user"].is_string())
            return invalid_type("user", "a string", j["user"]);
        out.user = j["user"].get<std::string>();
    }
    return std::nullopt;
}

void handle_embeddings(const std::shared_ptr<OpenAiRuntime>& rt, const HttpRequest& request,
                       const std::shared_ptr<ResponseWriter>& writer) {
    auto send_error = [&writer](const OpenAiError& e) {
        writer->send(json_response(e.http_status, error_body(e)));
    };
    auto req = std::make_shared<EmbeddingsRequest>();
    if (auto err = parse_embeddings_request(request.body, *req))
        return send_error(*err);
    if (req->model != rt->model_name)
        return send_error(model_error(404, "The model '" + req->model + "' does not exist", "model_not_found"));
    if (rt->device != "cpu") {
        // The embedder runs the CPU forward; a --device cuda server keeps its CPU for the engine.
        return send_error(model_error(
            501, "embeddings: not implemented on --device " + rt->device + " yet; serve the model with --device cpu",
            "unsupported_device"));
    }
    Result<Embedder*> embedder = embedder_of(*rt);
    if (!embedder.has_value()) {
        return send_error(model_error(
            400, "The model '" + rt->model_name + "' does not support embeddings: " + embedder.error().message(),
            "model_not_supported"));
    }
    Embedder& e = **embedder;
    if (req->dimensions.has_value() && *req->dimensions != e.dim()) {
        return send_error(invalid_param(
            "dimensions", "'dimensions' is " + std::to_string(*req->dimensions) + "; the model '" + rt->model_name
                              + "' gives " + std::to_string(e.dim()) + " (no shortening: it was not trained for it)"));
    }
    std::vector<std::vector<int32_t>> inputs;
    int64_t n_tokens = 0;
    for (size_t i = 0; i < req->inputs.size(); ++i) {
        const EmbeddingsRequest::Input& in = req->inputs[i];
        std::vector<int32_t> ids =
            in.is_tokens ? in.tokens : tokenizer::encode_prompt(*rt->tokenizer, in.text, tokenizer::PromptKind::kPlain);
        const std::string at = req->inputs.size() == 1 ? "input" : "input[" + std::to_string(i) + "]";
        for (int32_t id : ids) {
            if (id >= e.n_vocab()) {
                return send_error(invalid_param(at, "token id " + std::to_string(id) + " is out of range [0, "
                                                        + std::to_string(e.n_vocab()) + ")"));
            }
        }
        if (ids.empty() || static_cast<int64_t>(ids.size()) > e.n_ctx()) {
            OpenAiError err =
                invalid_param(at, "'" + at + "' is " + std::to_string(ids.size()) + " tokens; this server embeds 1 to "
                                      + std::to_string(e.n_ctx()) + " tokens per input");
            err.code = "context_length_exceeded";
            return send_error(err);
        }
        n_tokens += static_cast<int64_t>(ids.size());
        inputs.push_back(std::move(ids));
    }
    // --budgets: the input tokens are billed as a prompt with no completion.
    std::shared_ptr<BudgetTicket> ticket;
    if (rt->budgets) {
        int32_t no_output = 0;
        if (auto err = rt->budgets->admit(request, static_cast<int32_t>(n_tokens), /*is_max_tokens_set=*/true,
                                          &no_output, &ticket))
            return send_error(*err);
    }
    const std::string model_name = rt->model_name;
    Status queued =
        e.submit(std::move(inputs), [writer, req, model_name, n_tokens, ticket](Result<Embeddings> vectors) {
            if (ticket && vectors.has_value())
                ticket->commit(static_cast<uint64_t>(n_tokens));
            if (!vectors.has_value()) {
                const OpenAiError err{.http_status = 500,
                                      .message = vectors.error().message(),
                                      .type = "server_error",
                                      .param = "",
                                      .code = ""};
                writer->send(json_response(err.http_status, error_body(err)));
                return;
            }
            writer->send(json_response(200, gannet::json::dump(embeddings_body(*req, model_name, *vectors, n_tokens))));
        });
    if (!queued.ok())
        send_error({.http_status = 503, .message = queued.message(), .type = "server_error", .param = "", .code = ""});
}

}  // namespace gannet::server
