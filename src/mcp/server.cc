// Server: transport checks, JSON-RPC envelope, era selection, header/_meta validation, result
// stamping and subscriptions/listen streams. The methods themselves are in server_methods.cc.
#include "mcp/server.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "base/log.h"
#include "mcp/server_internal.h"

namespace gannet::mcp {

namespace {

constexpr const char* kMetaVersion = "io.modelcontextprotocol/protocolVersion";
constexpr const char* kMetaCaps = "io.modelcontextprotocol/clientCapabilities";
constexpr const char* kMetaServerInfo = "io.modelcontextprotocol/serverInfo";
constexpr const char* kMetaSubscription = "io.modelcontextprotocol/subscriptionId";

const std::vector<std::string> kLegacyVersions = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

bool is_legacy_version(const std::string& v) {
    return std::find(kLegacyVersions.begin(), kLegacyVersions.end(), v) != kLegacyVersions.end();
}

std::string sse_event(const Json& message) {
    return "event: message\ndata: " + message.dump() + "\n\n";
}

const HttpHeaders& json_headers() {
    static const HttpHeaders h = {{"Content-Type", "application/json"}};
    return h;
}

const HttpHeaders& sse_headers() {
    static const HttpHeaders h = {
        {"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
    return h;
}

void send_error(HttpReply& reply, const Json& id, const RpcError& e) {
    Json msg = {{"jsonrpc", "2.0"}, {"id", id}, {"error", e.to_json()}};
    reply.send(e.http_status, json_headers(), msg.dump());
}

// Decodes the SEP-2243 "=?base64?...?=" header form; plain values pass through.
std::optional<std::string> decode_header_value(const std::string& v) {
    const std::string prefix = "=?base64?";
    const std::string suffix = "?=";
    if (v.size() >= prefix.size() + suffix.size() && v.compare(0, prefix.size(), prefix) == 0
        && v.compare(v.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::string b64 = v.substr(prefix.size(), v.size() - prefix.size() - suffix.size());
        if (b64.size() % 4 != 0) {
            return std::nullopt;  // strict: padding is part of the encoding
        }
        Result<std::string> d = base64_decode(b64);
        if (!d.has_value()) {
            return std::nullopt;
        }
        return d.value();
    }
    return v;
}

}  // namespace

void RpcResponder::notify(const Json& notification) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (is_done_ || reply_->is_closed()) {
        return;
    }
    if (!is_streaming_) {
        reply_->begin_stream(200, sse_headers());
        is_streaming_ = true;
    }
    reply_->write(sse_event(notification));
}

void RpcResponder::result(const Json& result) {
    finish(Json{{"jsonrpc", "2.0"}, {"id", id_}, {"result", result}}, 200);
}

void RpcResponder::error(const RpcError& error) {
    finish(Json{{"jsonrpc", "2.0"}, {"id", id_}, {"error", error.to_json()}}, error.http_status);
}

void RpcResponder::finish(const Json& message, int http_status) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (is_done_) {
        return;
    }
    is_done_ = true;
    if (is_streaming_) {
        reply_->write(sse_event(message));
        reply_->end();
        return;
    }
    reply_->send(http_status, json_headers(), message.dump());
}

Result<std::unique_ptr<Server>> Server::create(ServerConfig config, Registry registry, std::shared_ptr<Store> store,
                                               Auth auth, std::unique_ptr<SchemaValidatorFactory> schemas) {
    auto impl = std::make_unique<Impl>();
    impl->config = std::move(config);
    impl->registry = std::move(registry);
    impl->store = std::move(store);
    impl->auth = std::move(auth);
    impl->schemas = schemas ? std::move(schemas) : make_default_schema_validator_factory();
    impl->schema_name = impl->schemas->name();
    for (const ToolDef& tool : impl->registry.tools()) {
        Validators v;
        const Json& def = tool.definition;
        if (!def.contains("inputSchema") || !def["inputSchema"].is_object()
            || def["inputSchema"].value("type", "") != "object") {
            return make_error(ErrorCode::kInvalidArgument,
                              "mcp: tool '%s': inputSchema must be an object schema "
                              "with \"type\":\"object\"",
                              tool.name().c_str());
        }
        Result<std::shared_ptr<const SchemaValidator>> in = impl->schemas->compile(def["inputSchema"]);
        if (!in.has_value()) {
            return make_error(ErrorCode::kInvalidArgument, "mcp: tool '%s': inputSchema: %s", tool.name().c_str(),
                              in.error().message().c_str());
        }
        v.input = in.value();
        if (def.contains("outputSchema")) {
            Result<std::shared_ptr<const SchemaValidator>> out = impl->schemas->compile(def["outputSchema"]);
            if (!out.has_value()) {
                return make_error(ErrorCode::kInvalidArgument, "mcp: tool '%s': outputSchema: %s", tool.name().c_str(),
                                  out.error().message().c_str());
            }
            v.output = out.value();
        }
        impl->validators[tool.name()] = std::move(v);
    }
    GANNET_ASSIGN_OR_RETURN(std::string secret, shared_secret(*impl->store, "request-state-hmac"));
    impl->state_codec = std::make_unique<RequestStateCodec>(secret, impl->config.request_state_ttl_ms);
    impl->tasks =
        std::make_unique<TaskManager>(*impl->store, impl->config.task_ttl_ms, impl->config.task_poll_interval_ms);
    impl->workers = std::make_unique<boost::asio::thread_pool>(std::max(1, impl->config.n_workers));
    Impl* raw = impl.get();
    impl->registry.list_changed = [raw](const std::string& list) {
        raw->notify_list_changed(list);
    };
    impl->instance_id = random_hex(8);
    impl->ticker = std::thread([raw] { raw->run_ticker(); });
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
    // Hand our running tasks to the rest of the fleet now rather than after the lease runs out.
    impl_->renew_leases(/*lease_until_ms=*/0);
    {
        std::lock_guard<std::mutex> lock(impl_->ticker_mutex);
        impl_->is_stopping = true;
    }
    impl_->ticker_cv.notify_all();
    impl_->ticker.join();
    impl_->workers->stop();
    impl_->workers->join();
}

void Server::handle(HttpCall call, std::shared_ptr<HttpReply> reply) {
    try {
        impl_->handle(std::move(call), reply);
    } catch (const std::exception& e) {
        // Thread entry point: nothing may escape into the HTTP layer.
        GANNET_LOG_ERROR("mcp", "handler threw: %s", e.what());
        send_error(*reply, nullptr, internal_error("unexpected exception"));
    }
}

void Server::notify_list_changed(const std::string& list) {
    impl_->notify_list_changed(list);
}
const std::string& Server::schema_validator_name() const {
    return impl_->schema_name;
}

void Server::Impl::handle(HttpCall call, std::shared_ptr<HttpReply> reply) {
    // Transport layer: method, DNS-rebinding guard, auth, media type.
    if (call.method != "POST") {
        reply->send(405, {{"Content-Type", "application/json"}, {"Allow", "POST"}},
                    R"({"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Method not allowed."}})");
        return;
    }
    if (std::optional<std::string> why = check_host_origin(config.is_local_only, config.allowed_origins,
                                                           call.header("host"), call.header("origin"))) {
        reply->send(403, json_headers(),
                    R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Forbidden: )" + *why + R"("}})");
        return;
    }
    std::optional<std::string> tenant = auth.authenticate(call.header("authorization"));
    if (!tenant.has_value()) {
        reply->send(
            401, {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer"}},
            R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Unauthorized: missing or invalid bearer token"}})");
        return;
    }
    const std::string& content_type = call.header("content-type");
    if (content_type.rfind("application/json", 0) != 0) {
        send_error(*reply, nullptr,
                   RpcError{rpc_code::kInvalidRequest,
                            "Unsupported Media Type: Content-Type must be application/json, got '" + content_type + "'",
                            nullptr, 415});
        return;
    }

    // JSON-RPC envelope.
    Json body = Json::parse(call.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
        send_error(*reply, nullptr, parse_error("body is not valid JSON"));
        return;
    }
    if (body.is_array()) {
        send_error(*reply, nullptr, invalid_request("batch arrays are not supported; send one message per POST"));
        return;
    }
    if (!body.is_object()) {
        send_error(*reply, nullptr, invalid_request("message must be a JSON object"));
        return;
    }
    Request req;
    req.tenant = *tenant;
    if (auto it = body.find("id"); it != body.end()) {
        if (!it->is_string() && !it->is_number_integer()) {
            send_error(*reply, nullptr, invalid_request("id must be a string or an integer"));
            return;
        }
        req.id = *it;
        req.has_id = true;
    }
    if (body.value("jsonrpc", Json()) != "2.0") {
        send_error(*reply, req.id, invalid_request("jsonrpc must be \"2.0\""));
        return;
    }
    auto method = body.find("method");
    if (method == body.end()) {
        if (body.contains("result") || body.contains("error")) {
            const std::string& v = call.header("mcp-protocol-version");
            if ((v.empty() || is_legacy_version(v)) && req.id.is_string()
                && req.id.get<std::string>().rfind("gannet-", 0) == 0) {
                // A 2025-11-25 client answering one of our server-to-client requests: the waiting
                // tool may run on another server, so the answer goes through the store.
                Status s = store->put("rpc-response:" + req.tenant + ":" + req.id.get<std::string>(), body.dump(),
                                      5 * 60 * 1000);
                if (!s.ok()) {
                    send_error(*reply, req.id, internal_error("store unavailable"));
                    return;
                }
                reply->send(202, {}, "");
                return;
            }
            send_error(*reply, req.id, invalid_request("clients must not POST JSON-RPC responses to this server"));
            return;
        }
        send_error(*reply, req.id, invalid_request("missing method"));
        return;
    }
    if (!method->is_string()) {
        send_error(*reply, req.id, invalid_request("method must be a string"));
        return;
    }
    req.method = method->get<std::string>();
    if (auto p = body.find("params"); p != body.end()) {
        if (!p->is_object()) {
            send_error(*reply, req.id, invalid_params("params must be an object", 400));
            return;
        }
        req.params = *p;
    }
    if (auto m = req.params.find("_meta"); m != req.params.end()) {
        req.meta = *m;
    }

    // Era: a modern _meta claim or a non-legacy version header selects 2026-07-28 semantics.
    const std::string& header_version = call.header("mcp-protocol-version");
    bool meta_claims_version = req.meta.is_object() && req.meta.contains(kMetaVersion);
    bool is_modern = meta_claims_version || (!header_version.empty() && !is_legacy_version(header_version));
    auto out = std::make_shared<RpcResponder>(reply, req.id);
    if (!is_modern) {
        if (header_version.empty() && req.method != "initialize" && req.method.rfind("notifications/", 0) != 0) {
            out->error(header_mismatch("missing MCP-Protocol-Version header (send " + std::string(kModernVersion)
                                       + " with _meta, or initialize first for 2025-11-25)"));
            return;
        }
        req.is_legacy = true;
        req.version = header_version.empty() ? "2025-03-26" : header_version;
        dispatch_legacy(std::move(req), out);
        return;
    }
    if (header_version.empty()) {
        out->error(header_mismatch("missing MCP-Protocol-Version header"));
        return;
    }
    if (!req.meta.is_object() || !req.meta.contains(kMetaVersion) || !req.meta[kMetaVersion].is_string()
        || !req.meta.contains(kMetaCaps) || !req.meta[kMetaCaps].is_object()) {
        std::string what = !req.meta.is_object()              ? "params._meta: missing"
                           : !req.meta.contains(kMetaVersion) ? "_meta." + std::string(kMetaVersion) + ": missing"
                           : !req.meta[kMetaVersion].is_string()
                               ? "_meta." + std::string(kMetaVersion) + ": not a string"
                           : !req.meta.contains(kMetaCaps) ? "_meta." + std::string(kMetaCaps) + ": missing"
                                                           : "_meta." + std::string(kMetaCaps) + ": not an object";
        out->error(invalid_params(what, 400));
        return;
    }
    req.version = req.meta[kMetaVersion].get<std::string>();
    req.caps = req.meta[kMetaCaps];
    if (req.version != header_version) {
        out->error(header_mismatch("MCP-Protocol-Version header '" + header_version
                                   + "' does not match _meta protocolVersion '" + req.version + "'"));
        return;
    }
    if (req.version != kModernVersion) {
        out->error(unsupported_version(req.version, Json::array({kModernVersion})));
        return;
    }
    if (std::optional<RpcError> e = check_headers(call, req)) {
        out->error(*e);
        return;
    }
    if (!req.has_id) {
        reply->send(202, {}, "");  // notifications need no answer (none of ours changes state)
        return;
    }
    dispatch(std::move(req), out, reply);
}

std::optional<RpcError> Server::Impl::check_headers(const HttpCall& call, const Request& req) const {
    const std::string& method_header = call.header("mcp-method");
    if (method_header.empty()) {
        return header_mismatch("missing Mcp-Method header");
    }
    if (method_header != req.method) {
        return header_mismatch("Mcp-Method header names '" + method_header + "' but the body's method is '" + req.method
                               + "'");
    }
    const char* name_field = nullptr;
    if (req.method == "tools/call" || req.method == "prompts/get") {
        name_field = "name";
    } else if (req.method == "resources/read") {
        name_field = "uri";
    } else if (req.method == "tasks/get" || req.method == "tasks/update" || req.method == "tasks/cancel") {
        name_field = "taskId";
    }
    if (name_field == nullptr) {
        return std::nullopt;
    }
    if (req.method == "tools/call") {
        if (std::optional<RpcError> e = check_param_headers(call, req)) {
            return e;
        }
    }
    auto body_value = req.params.find(name_field);
    if (body_value == req.params.end() || !body_value->is_string()) {
        return std::nullopt;  // the method reports the missing parameter as -32602
    }
    auto header = call.headers.find("mcp-name");
    if (header == call.headers.end()) {
        return header_mismatch(std::string("missing Mcp-Name header (required for ") + req.method + ")");
    }
    std::optional<std::string> decoded = decode_header_value(header->second);
    if (!decoded.has_value()) {
        return header_mismatch("Mcp-Name header has invalid base64 encoding");
    }
    if (*decoded != body_value->get<std::string>()) {
        return header_mismatch("Mcp-Name header names '" + *decoded + "' but params." + name_field + " is '"
                               + body_value->get<std::string>() + "'");
    }
    return std::nullopt;
}

// SEP-2243 custom headers: each inputSchema property annotated "x-mcp-header": NAME whose argument is
// present must arrive as Mcp-Param-NAME with the same value (strings as-is or =?base64?...?=,
// integers compared numerically, booleans as true/false).
std::optional<RpcError> Server::Impl::check_param_headers(const HttpCall& call, const Request& req) const {
    const Json& name = req.params.value("name", Json());
    if (!name.is_string()) {
        return std::nullopt;
    }
    const ToolDef* tool = registry.find_tool(name.get<std::string>());
    const Json& args = req.params.value("arguments", Json::object());
    if (tool == nullptr || !args.is_object()) {
        return std::nullopt;
    }
    const Json& props = tool->definition["inputSchema"].value("properties", Json::object());
    if (!props.is_object()) {
        return std::nullopt;
    }
    for (const auto& [prop, schema] : props.items()) {
        if (!schema.is_object() || !schema.contains("x-mcp-header") || !schema["x-mcp-header"].is_string()) {
            continue;
        }
        auto arg = args.find(prop);
        if (arg == args.end() || arg->is_null()) {
            continue;
        }
        std::string header_name = "mcp-param-" + schema["x-mcp-header"].get<std::string>();
        std::transform(header_name.begin(), header_name.end(), header_name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        auto h = call.headers.find(header_name);
        if (h == call.headers.end()) {
            return header_mismatch("missing " + header_name + " header for argument '" + prop + "'");
        }
        std::optional<std::string> value = decode_header_value(h->second);
        if (!value.has_value()) {
            return header_mismatch(header_name + " header has invalid base64 encoding");
        }
        bool is_match = false;
        if (arg->is_string()) {
            is_match = *value == arg->get<std::string>();
        } else if (arg->is_boolean()) {
            is_match = *value == (arg->get<bool>() ? "true" : "false");
        } else if (arg->is_number()) {
            char* end = nullptr;
            double d = std::strtod(value->c_str(), &end);
            is_match = end != value->c_str() && *end == '\0' && d == arg->get<double>();
        }
        if (!is_match) {
            return header_mismatch(header_name + " header value does not match argument '" + prop + "'");
        }
    }
    return std::nullopt;
}

void Server::Impl::dispatch(Request req, std::shared_ptr<RpcResponder> out, std::shared_ptr<HttpReply> reply) {
    using Method = void (Impl::*)(Request&, std::shared_ptr<RpcResponder>);
    static const std::map<std::string, Method> kMethods = {
        {"server/discover", &Impl::on_discover},
        {"tools/list", &Impl::on_tools_list},
        {"tools/call", &Impl::on_tools_call},
        {"prompts/list", &Impl::on_prompts_list},
        {"prompts/get", &Impl::on_prompts_get},
        {"resources/list", &Impl::on_resources_list},
        {"resources/templates/list", &Impl::on_resource_templates_list},
        {"resources/read", &Impl::on_resources_read},
        {"completion/complete", &Impl::on_complete},
        {"tasks/get", &Impl::on_tasks_get},
        {"tasks/update", &Impl::on_tasks_update},
        {"tasks/cancel", &Impl::on_tasks_cancel},
    };
    if (req.method == "subscriptions/listen") {
        on_listen(req, out, std::move(reply));
        return;
    }
    auto it = kMethods.find(req.method);
    if (it == kMethods.end()) {
        out->error(method_not_found(req.method));
        return;
    }
    if (req.method.rfind("tasks/", 0) == 0) {
        bool has_ext = req.caps.contains("extensions") && req.caps["extensions"].is_object()
                       && req.caps["extensions"].contains(kTasksExtension);
        if (!has_ext) {
            out->error(missing_capability(Json{{"extensions", Json{{kTasksExtension, Json::object()}}}}));
            return;
        }
    }
    (this->*(it->second))(req, out);
}

void Server::Impl::dispatch_legacy(Request req, std::shared_ptr<RpcResponder> out) {
    if (!req.has_id) {
        out->reply().send(202, {}, "");
        return;
    }
    if (req.method == "initialize") {
        std::string asked = req.params.value("protocolVersion", "");
        Json result = {{"protocolVersion", is_legacy_version(asked) ? asked : kLegacyVersions[0]},
                       {"capabilities", server_capabilities(/*is_legacy=*/true)},
                       {"serverInfo", {{"name", config.name}, {"version", config.version}}}};
        if (!config.instructions.empty()) {
            result["instructions"] = config.instructions;
        }
        out->result(result);
        return;
    }
    if (req.method == "ping" || req.method == "logging/setLevel" || req.method == "resources/subscribe"
        || req.method == "resources/unsubscribe") {
        out->result(Json::object());
        return;
    }
    if (req.params.contains("_meta") && req.params["_meta"].is_object()) {
        req.meta = req.params["_meta"];
    }
    // 2025-11-25 clients declared capabilities at initialize, which a stateless server did not keep;
    // they get no MRTR and no tasks (both need per-request capabilities).
    req.caps = Json::object();
    static const std::map<std::string, void (Impl::*)(Request&, std::shared_ptr<RpcResponder>)> kLegacy = {
        {"tools/list", &Impl::on_tools_list},         {"tools/call", &Impl::on_tools_call},
        {"prompts/list", &Impl::on_prompts_list},     {"prompts/get", &Impl::on_prompts_get},
        {"resources/list", &Impl::on_resources_list}, {"resources/templates/list", &Impl::on_resource_templates_list},
        {"resources/read", &Impl::on_resources_read}, {"completion/complete", &Impl::on_complete},
    };
    auto it = kLegacy.find(req.method);
    if (it == kLegacy.end()) {
        RpcError e = method_not_found(req.method);
        e.http_status = 200;  // 2025-11-25 carries JSON-RPC errors with HTTP 200
        out->error(e);
        return;
    }
    (this->*(it->second))(req, out);
}

Json Server::Impl::server_capabilities(bool is_legacy) const {
    Json caps = {{"tools", {{"listChanged", true}}},
                 {"prompts", {{"listChanged", true}}},
                 {"resources", Json::object()},
                 {"completions", Json::object()}};
    if (is_legacy) {
        caps["logging"] = Json::object();
        caps["resources"] = {{"subscribe", true}};
    } else {
        caps["extensions"] = Json{{kTasksExtension, Json::object()}};
    }
    return caps;
}

Json Server::Impl::stamp(const std::string& method, Json result, bool is_legacy) const {
    if (is_legacy) {
        result.erase("resultType");
        result.erase("ttlMs");
        result.erase("cacheScope");
        return result;
    }
    if (!result.contains("resultType")) {
        result["resultType"] = "complete";
    }
    static const char* kCacheable[] = {"server/discover",          "tools/list",    "prompts/list", "resources/list",
                                       "resources/templates/list", "resources/read"};
    if (result["resultType"] == "complete") {
        for (const char* m : kCacheable) {
            if (method == m) {
                if (!result.contains("ttlMs")) {
                    result["ttlMs"] = method == "resources/read" ? 0 : config.list_ttl_ms;
                }
                if (!result.contains("cacheScope")) {
                    result["cacheScope"] = method == "resources/read" ? "private" : "public";
                }
            }
        }
    }
    if (!result.contains("_meta") || !result["_meta"].is_object()) {
        result["_meta"] = Json::object();
    }
    result["_meta"][kMetaServerInfo] = {{"name", config.name}, {"version", config.version}};
    return result;
}

void Server::Impl::on_listen(Request& req, std::shared_ptr<RpcResponder> out, std::shared_ptr<HttpReply> reply) {
    (void)out;  // the listen stream is answered directly: it stays open
    const Json& filter = req.params.value("notifications", Json::object());
    if (!filter.is_object()) {
        out->error(invalid_params("notifications must be an object"));
        return;
    }
    ListenStream s;
    s.reply = reply;
    s.subscription_id = req.id.is_string() ? req.id.get<std::string>() : req.id.dump();
    s.tenant = req.tenant;
    s.wants_tools = filter.value("toolsListChanged", false) == true;
    s.wants_prompts = filter.value("promptsListChanged", false) == true;
    s.wants_resources = filter.value("resourcesListChanged", false) == true;
    Json honoured = Json::object();
    if (s.wants_tools)
        honoured["toolsListChanged"] = true;
    if (s.wants_prompts)
        honoured["promptsListChanged"] = true;
    if (s.wants_resources)
        honoured["resourcesListChanged"] = true;
    if (auto ids = filter.find("taskIds"); ids != filter.end() && ids->is_array()) {
        Json agreed = Json::array();
        for (const auto& id : *ids) {
            if (id.is_string()) {
                s.task_ids.push_back(id.get<std::string>());
                agreed.push_back(id);
            }
        }
        honoured["taskIds"] = agreed;
    }
    Json ack = {{"jsonrpc", "2.0"},
                {"method", "notifications/subscriptions/acknowledged"},
                {"params", {{"_meta", {{kMetaSubscription, s.subscription_id}}}, {"notifications", honoured}}}};
    reply->begin_stream(200, sse_headers());
    reply->write(sse_event(ack));
    std::lock_guard<std::mutex> lock(listen_mutex);
    listen_streams.push_back(std::move(s));
}

void Server::Impl::notify_list_changed(const std::string& list) {
    std::lock_guard<std::mutex> lock(listen_mutex);
    for (auto it = listen_streams.begin(); it != listen_streams.end();) {
        if (it->reply->is_closed()) {
            it = listen_streams.erase(it);
            continue;
        }
        bool wants = (list == "tools" && it->wants_tools) || (list == "prompts" && it->wants_prompts)
                     || (list == "resources" && it->wants_resources);
        if (wants) {
            Json n = {{"jsonrpc", "2.0"},
                      {"method", "notifications/" + list + "/list_changed"},
                      {"params", {{"_meta", {{kMetaSubscription, it->subscription_id}}}}}};
            it->reply->write(sse_event(n));
        }
        ++it;
    }
}

void Server::Impl::notify_task(const std::string& tenant, const Json& task) {
    std::string id = task.value("taskId", "");
    std::lock_guard<std::mutex> lock(listen_mutex);
    for (auto& s : listen_streams) {
        if (s.tenant != tenant || s.reply->is_closed()
            || std::find(s.task_ids.begin(), s.task_ids.end(), id) == s.task_ids.end()) {
            continue;
        }
        Json params = task;
        params["_meta"] = {{kMetaSubscription, s.subscription_id}};
        s.reply->write(sse_event(Json{{"jsonrpc", "2.0"}, {"method", "notifications/tasks"}, {"params", params}}));
    }
}

void Server::Impl::run_ticker() {
    // Every second: renew the leases of our tasks. Every 15 s: a comment line on listen streams
    // (proxies drop idle streams) and forget the streams whose client went away.
    std::unique_lock<std::mutex> lock(ticker_mutex);
    int tick = 0;
    while (!ticker_cv.wait_for(lock, std::chrono::seconds(1), [this] { return is_stopping; })) {
        lock.unlock();
        try {  // thread entry: a store error that throws must not end the ticker (or the process)
            renew_leases(now_unix_ms() + kTaskLeaseMs);
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("mcp", "ticker: renewing task leases threw: %s", e.what());
        }
        lock.lock();
        if (++tick % 15 != 0) {
            continue;
        }
        std::lock_guard<std::mutex> listen_lock(listen_mutex);
        for (auto it = listen_streams.begin(); it != listen_streams.end();) {
            if (it->reply->is_closed()) {
                it = listen_streams.erase(it);
            } else {
                it->reply->write(": keep-alive\n\n");
                ++it;
            }
        }
    }
    std::lock_guard<std::mutex> listen_lock(listen_mutex);
    for (auto& s : listen_streams) {
        s.reply->end();
    }
    listen_streams.clear();
}

}  // namespace gannet::mcp
