// The MCP methods: discovery, lists, tools/call (schema checks, MRTR, tasks), prompts, resources,
// completion and the tasks extension. Called by Server::Impl::dispatch with a validated Request.
#include <boost/asio/post.hpp>

#include <chrono>
#include <thread>

#include "base/log.h"
#include "mcp/server_internal.h"

namespace gannet::mcp {

namespace {

// A required string parameter, or the -32602 that names it.
std::optional<RpcError> require_string(const Json& params, const char* field, std::string* out) {
    auto it = params.find(field);
    if (it == params.end()) {
        return invalid_params(std::string(field) + ": missing");
    }
    if (!it->is_string()) {
        return invalid_params(std::string(field) + ": expected a string, got " + it->type_name());
    }
    *out = it->get<std::string>();
    return std::nullopt;
}

std::string join_errors(const std::vector<std::string>& errors) {
    std::string s;
    for (size_t i = 0; i < errors.size() && i < 8; ++i) {
        s += (i ? "; " : "") + errors[i];
    }
    if (errors.size() > 8) {
        s += str_printf("; and %zu more", errors.size() - 8);
    }
    return s;
}

bool has_tasks_extension(const Json& caps) {
    return caps.contains("extensions") && caps["extensions"].is_object()
           && caps["extensions"].contains(kTasksExtension);
}

}  // namespace

void Server::Impl::on_discover(Request& req, std::shared_ptr<RpcResponder> out) {
    Json result = {{"supportedVersions", Json::array({kModernVersion})},
                   {"capabilities", server_capabilities(/*is_legacy=*/false)}};
    if (!config.instructions.empty()) {
        result["instructions"] = config.instructions;
    }
    out->result(stamp(req.method, result, req.is_legacy));
}

void Server::Impl::on_tools_list(Request& req, std::shared_ptr<RpcResponder> out) {
    Json tools = Json::array();
    for (const ToolDef& t : registry.tools()) {
        Json def = t.definition;
        if (!req.is_legacy && t.task_support != TaskSupport::kForbidden) {
            def["execution"] = {{"taskSupport", t.task_support == TaskSupport::kRequired ? "required" : "optional"}};
        }
        tools.push_back(std::move(def));
    }
    out->result(stamp(req.method, Json{{"tools", tools}}, req.is_legacy));
}

void Server::Impl::on_prompts_list(Request& req, std::shared_ptr<RpcResponder> out) {
    Json prompts = Json::array();
    for (const PromptDef& p : registry.prompts()) {
        prompts.push_back(p.definition);
    }
    out->result(stamp(req.method, Json{{"prompts", prompts}}, req.is_legacy));
}

void Server::Impl::on_resources_list(Request& req, std::shared_ptr<RpcResponder> out) {
    Json resources = Json::array();
    for (const ResourceDef& r : registry.resources()) {
        resources.push_back(r.definition);
    }
    out->result(stamp(req.method, Json{{"resources", resources}}, req.is_legacy));
}

void Server::Impl::on_resource_templates_list(Request& req, std::shared_ptr<RpcResponder> out) {
    Json templates = Json::array();
    for (const ResourceTemplateDef& t : registry.resource_templates()) {
        templates.push_back(t.definition);
    }
    out->result(stamp(req.method, Json{{"resourceTemplates", templates}}, req.is_legacy));
}

void Server::Impl::on_complete(Request& req, std::shared_ptr<RpcResponder> out) {
    auto ref = req.params.find("ref");
    auto arg = req.params.find("argument");
    if (ref == req.params.end() || !ref->is_object() || !ref->contains("type")) {
        out->error(invalid_params("ref: missing or not an object with a type"));
        return;
    }
    if (arg == req.params.end() || !arg->is_object() || !arg->contains("name")) {
        out->error(invalid_params("argument: missing or not an object with a name"));
        return;
    }
    Json result = {{"completion", {{"values", Json::array()}, {"total", 0}, {"hasMore", false}}}};
    out->result(stamp(req.method, result, req.is_legacy));
}

std::shared_ptr<CallContext> Server::Impl::make_context(const Request& req, const std::string& name,
                                                        std::shared_ptr<RpcResponder> out) {
    auto ctx = std::make_shared<CallContext>();
    ctx->tenant = req.tenant;
    ctx->method = req.method;
    ctx->name = name;
    ctx->meta = req.meta.is_object() ? req.meta : Json::object();
    ctx->client_capabilities = req.caps;
    ctx->is_legacy = req.is_legacy;
    ctx->progress_token = ctx->meta.value("progressToken", Json());
    // 2025-11-25 sends log notifications by default (logging/setLevel only filters them).
    ctx->has_log_level = ctx->meta.contains("io.modelcontextprotocol/logLevel") || req.is_legacy;
    std::weak_ptr<RpcResponder> weak = out;
    bool can_progress = !ctx->progress_token.is_null();
    bool can_log = ctx->has_log_level;
    ctx->notify = [weak, can_progress, can_log](const Json& n) {
        std::string m = n.value("method", "");
        bool allowed = (m == "notifications/progress" && can_progress) || (m == "notifications/message" && can_log);
        if (auto o = weak.lock(); o && allowed) {
            o->notify(n);
        }
    };
    ctx->is_cancelled = [weak] {
        auto o = weak.lock();
        return !o || o->is_closed();
    };
    ctx->announce_list_changed = [this](const std::string& list) {
        notify_list_changed(list);
    };
    if (req.is_legacy) {
        std::string tenant = req.tenant;
        ctx->request_client = [this, weak, tenant](const std::string& method, const Json& params) -> Result<Json> {
            std::string id = "gannet-" + random_hex(12);
            {
                auto o = weak.lock();
                if (!o || o->is_closed()) {
                    return make_error(ErrorCode::kCancelled, "client went away");
                }
                o->send_message(Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
            }
            const std::string key = "rpc-response:" + tenant + ":" + id;
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (std::chrono::steady_clock::now() < deadline) {
                GANNET_ASSIGN_OR_RETURN(std::optional<std::string> raw, store->get(key));
                if (raw.has_value()) {
                    store->erase(key).ignore();
                    Json msg = Json::parse(*raw, nullptr, /*allow_exceptions=*/false);
                    if (msg.is_object() && msg.contains("result")) {
                        return msg["result"];
                    }
                    std::string err = msg.is_object() && msg.contains("error") ? msg["error"].dump() : "malformed";
                    return make_error(ErrorCode::kInvalidArgument, "client answered %s with an error: %s",
                                      method.c_str(), err.c_str());
                }
                auto o = weak.lock();
                if (!o || o->is_closed()) {
                    return make_error(ErrorCode::kCancelled, "client went away");
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            return make_error(ErrorCode::kDeadlineExceeded, "no answer to %s within 60 s", method.c_str());
        };
    }
    return ctx;
}

void Server::Impl::on_tools_call(Request& req, std::shared_ptr<RpcResponder> out) {
    std::string name;
    if (auto e = require_string(req.params, "name", &name)) {
        out->error(*e);
        return;
    }
    const ToolDef* tool = registry.find_tool(name);
    if (tool == nullptr) {
        out->error(invalid_params("unknown tool '" + name + "'"));
        return;
    }
    auto ctx = make_context(req, name, out);
    if (auto a = req.params.find("arguments"); a != req.params.end() && !a->is_null()) {
        if (!a->is_object()) {
            out->error(invalid_params(std::string("arguments: expected an object, got ") + a->type_name()));
            return;
        }
        ctx->arguments = *a;
    } else {
        ctx->arguments = Json::object();
    }
    if (auto ir = req.params.find("inputResponses"); ir != req.params.end() && !ir->is_null()) {
        if (!ir->is_object()) {
            out->error(invalid_params("inputResponses: expected an object"));
            return;
        }
        for (const auto& [k, v] : ir->items()) {
            if (!v.is_object()) {
                out->error(invalid_params("inputResponses." + k + ": expected a result object, got " + v.type_name()));
                return;
            }
        }
        ctx->input_responses = *ir;
    }
    if (auto rs = req.params.find("requestState"); rs != req.params.end() && !rs->is_null()) {
        if (!rs->is_string()) {
            out->error(invalid_params("requestState: expected a string"));
            return;
        }
        Result<Json> state =
            state_codec->verify(rs->get<std::string>(), StateBinding{req.tenant, req.method, name}, now_unix_ms());
        if (!state.has_value()) {
            out->error(invalid_params(state.error().message()));
            return;
        }
        ctx->request_state = state.value();
    }
    const Validators& v = validators.at(name);
    std::vector<std::string> errors = v.input->validate(ctx->arguments);
    if (!errors.empty()) {
        // A tool execution error, so the model can read it and retry with fixed arguments.
        out->result(
            stamp(req.method,
                  CallOutcome::tool_error("invalid arguments for tool '" + name + "': " + join_errors(errors)).result,
                  req.is_legacy));
        return;
    }
    bool wants_task = !req.is_legacy && has_tasks_extension(req.caps);
    if (tool->task_support != TaskSupport::kForbidden && wants_task) {
        start_task(*tool, ctx, req, out);
        return;
    }
    if (tool->task_support == TaskSupport::kRequired) {
        out->error(missing_capability(Json{{"extensions", Json{{kTasksExtension, Json::object()}}}}));
        return;
    }
    run_call(tool->fn, tool->cost, ctx, req, out, tool);
}

void Server::Impl::run_call(const CallFn& fn, Cost cost, std::shared_ptr<CallContext> ctx, Request req,
                            std::shared_ptr<RpcResponder> out, const ToolDef* tool) {
    auto job = [this, &fn, ctx, req = std::move(req), out, tool]() {
        CallOutcome outcome;
        try {
            outcome = fn(*ctx);
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("mcp", "%s '%s' threw: %s", req.method.c_str(), ctx->name.c_str(), e.what());
            outcome = CallOutcome::fail(internal_error(ctx->name + " failed"));
        }
        if (ctx->is_cancelled_now()) {
            return;  // the client went away: nothing more is sent for this request
        }
        // This may run on a worker thread: what escapes answering is an error reply, not std::terminate.
        try {
            answer_outcome(std::move(outcome), *ctx, req, *out, tool);
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("mcp", "%s '%s': answering threw: %s", req.method.c_str(), ctx->name.c_str(), e.what());
            out->error(internal_error(ctx->name + " failed"));
        }
    };
    if (cost == Cost::kCheap) {
        job();
    } else {
        boost::asio::post(*workers, std::move(job));
    }
}

void Server::Impl::answer_outcome(CallOutcome outcome, const CallContext& ctx, const Request& req, RpcResponder& out,
                                  const ToolDef* tool) {
    if (outcome.error.has_value()) {
        out.error(*outcome.error);
        return;
    }
    if (!outcome.input_requests.is_null()) {
        if (req.is_legacy) {
            out.error(invalid_params("'" + ctx.name + "' needs client input, which requires protocol version "
                                     + kModernVersion));
            return;
        }
        Json r = {{"resultType", "input_required"}, {"inputRequests", outcome.input_requests}};
        if (!outcome.next_state.is_null()) {
            r["requestState"] =
                state_codec->sign(outcome.next_state, StateBinding{req.tenant, req.method, ctx.name}, now_unix_ms());
        }
        out.result(stamp(req.method, r, req.is_legacy));
        return;
    }
    Json result = tool ? finish_tool_result(std::move(outcome.result), tool) : std::move(outcome.result);
    out.result(stamp(req.method, std::move(result), req.is_legacy));
}

Json Server::Impl::finish_tool_result(Json result, const ToolDef* tool) const {
    bool is_error = result.value("isError", false) == true;
    if (result.contains("structuredContent") && !is_error) {
        const Validators& v = validators.at(tool->name());
        if (v.output) {
            std::vector<std::string> errors = v.output->validate(result["structuredContent"]);
            if (!errors.empty()) {
                GANNET_LOG_WARN("mcp", "tool=%s output violates its outputSchema: %s", tool->name().c_str(),
                                join_errors(errors).c_str());
                return CallOutcome::tool_error("tool '" + tool->name()
                                               + "' produced output that does not match its outputSchema: "
                                               + join_errors(errors))
                    .result;
            }
        }
        // SEP-2106: clients that ignore structuredContent still get the value as text.
        if (!result.contains("content") || !result["content"].is_array() || result["content"].empty()) {
            result["content"] = Json::array({Json{{"type", "text"}, {"text", result["structuredContent"].dump()}}});
        }
    }
    if (!result.contains("content")) {
        result["content"] = Json::array();
    }
    return result;
}

void Server::Impl::on_prompts_get(Request& req, std::shared_ptr<RpcResponder> out) {
    std::string name;
    if (auto e = require_string(req.params, "name", &name)) {
        out->error(*e);
        return;
    }
    const PromptDef* prompt = registry.find_prompt(name);
    if (prompt == nullptr) {
        out->error(invalid_params("unknown prompt '" + name + "'"));
        return;
    }
    auto ctx = make_context(req, name, out);
    ctx->arguments = req.params.value("arguments", Json::object());
    if (!ctx->arguments.is_object()) {
        out->error(invalid_params("arguments: expected an object of strings"));
        return;
    }
    for (const auto& a : prompt->definition.value("arguments", Json::array())) {
        std::string arg = a.value("name", "");
        if (a.value("required", false) == true && !ctx->arguments.contains(arg)) {
            out->error(invalid_params("prompt '" + name + "': missing required argument '" + arg + "'"));
            return;
        }
    }
    if (auto ir = req.params.find("inputResponses"); ir != req.params.end() && ir->is_object()) {
        ctx->input_responses = *ir;
    }
    if (auto rs = req.params.find("requestState"); rs != req.params.end() && rs->is_string()) {
        Result<Json> state =
            state_codec->verify(rs->get<std::string>(), StateBinding{req.tenant, req.method, name}, now_unix_ms());
        if (!state.has_value()) {
            out->error(invalid_params(state.error().message()));
            return;
        }
        ctx->request_state = state.value();
    }
    run_call(prompt->fn, Cost::kCheap, ctx, req, out, nullptr);
}

void Server::Impl::on_resources_read(Request& req, std::shared_ptr<RpcResponder> out) {
    std::string uri;
    if (auto e = require_string(req.params, "uri", &uri)) {
        out->error(*e);
        return;
    }
    auto ctx = make_context(req, uri, out);
    if (const ResourceDef* r = registry.find_resource(uri)) {
        run_call(r->fn, Cost::kCheap, ctx, req, out, nullptr);
        return;
    }
    Json vars;
    if (const ResourceTemplateDef* t = registry.match_template(uri, &vars)) {
        ctx->arguments = vars;
        run_call(t->fn, Cost::kCheap, ctx, req, out, nullptr);
        return;
    }
    RpcError e = invalid_params("Resource not found: " + uri);
    e.data = Json{{"uri", uri}};
    out->error(e);
}

}  // namespace gannet::mcp
