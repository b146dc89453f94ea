// MCP client: HTTP/1.1 exchange over a POSIX socket (Connection: close, so the body ends at EOF;
// chunked bodies are decoded), SSE demultiplexing, era negotiation, MRTR and tasks.
#include "mcp/client.h"

#include <netdb.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>
#include <thread>

namespace gannet::mcp {
namespace {

constexpr const char* kTasksExtension = "io.modelcontextprotocol/tasks";

bool is_legacy_version(const std::string& v) {
    return v == "2025-11-25" || v == "2025-06-18" || v == "2025-03-26" || v == "2024-11-05";
}

// Header values that are not plain printable ASCII go base64-wrapped (mcp.md §1.1 "Header value encoding").
std::string encode_header_value(const std::string& v) {
    bool is_plain = !v.empty() && v.front() != ' ' && v.back() != ' ' && v.rfind("=?base64?", 0) != 0;
    for (unsigned char c : v) {
        is_plain = is_plain && c >= 0x20 && c < 0x7f;
    }
    if (is_plain) {
        return v;
    }
    std::string out(4 * ((v.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(v.data()), static_cast<int>(v.size()));
    out.resize(static_cast<size_t>(n));
    return "=?base64?" + out + "?=";
}

struct HttpResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;

    std::string header(const std::string& name) const {
        for (const auto& [k, v] : headers) {
            if (k == name) {
                return v;
            }
        }
        return "";
    }
};

Result<std::string> dechunk(const std::string& in) {
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t eol = in.find("\r\n", pos);
        if (eol == std::string::npos) {
            return make_error(ErrorCode::kDataLoss, "mcp client: truncated chunked body");
        }
        size_t n = std::strtoul(in.substr(pos, eol - pos).c_str(), nullptr, 16);
        pos = eol + 2;
        if (n == 0) {
            return out;
        }
        if (pos + n > in.size()) {
            return make_error(ErrorCode::kDataLoss, "mcp client: truncated chunk");
        }
        out.append(in, pos, n);
        pos += n + 2;
    }
}

Result<HttpResponse> parse_http(const std::string& raw) {
    size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos || raw.rfind("HTTP/1.", 0) != 0) {
        return make_error(ErrorCode::kDataLoss, "mcp client: malformed HTTP response (%zu bytes)", raw.size());
    }
    HttpResponse r;
    r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
    std::istringstream head(raw.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    while (std::getline(head, line)) {
        size_t colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        size_t b = line.find_first_not_of(' ', colon + 1);
        size_t e = line.find_last_not_of(" \r");
        r.headers.emplace_back(name, b == std::string::npos ? "" : line.substr(b, e - b + 1));
    }
    r.body = raw.substr(head_end + 4);
    if (r.header("transfer-encoding").find("chunked") != std::string::npos) {
        GANNET_ASSIGN_OR_RETURN(r.body, dechunk(r.body));
    } else if (!r.header("content-length").empty()) {
        size_t n = std::strtoul(r.header("content-length").c_str(), nullptr, 10);
        if (r.body.size() < n) {
            return make_error(ErrorCode::kDataLoss, "mcp client: body %zu of %zu bytes", r.body.size(), n);
        }
        r.body.resize(n);
    }
    return r;
}

// One blocking exchange; the socket closes on every return path.
Result<HttpResponse> http_post(const std::string& host, const std::string& port, const std::string& request,
                               int timeout_ms) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addrs = nullptr;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &addrs); rc != 0) {
        return make_error(ErrorCode::kUnavailable, "mcp client: resolve %s: %s", host.c_str(), gai_strerror(rc));
    }
    int fd = -1;
    for (addrinfo* a = addrs; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            continue;
        }
        timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(addrs);
    if (fd < 0) {
        return make_error(ErrorCode::kUnavailable, "mcp client: cannot connect to %s:%s", host.c_str(), port.c_str());
    }
    for (size_t sent = 0; sent < request.size();) {
        ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            close(fd);
            return make_error(ErrorCode::kUnavailable, "mcp client: send failed");
        }
        sent += static_cast<size_t>(n);
    }
    std::string raw;
    char buf[16384];
    while (true) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            close(fd);
            return make_error(errno == EAGAIN ? ErrorCode::kDeadlineExceeded : ErrorCode::kUnavailable,
                              "mcp client: no complete response within %d ms", timeout_ms);
        }
        raw.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return parse_http(raw);
}

// The JSON-RPC messages of a body: the body itself, or each SSE event's joined data lines.
std::vector<std::string> split_payloads(const HttpResponse& http) {
    if (http.header("content-type").rfind("text/event-stream", 0) != 0) {
        return {http.body};
    }
    std::vector<std::string> payloads;
    std::istringstream in(http.body);
    std::string line, data;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.rfind("data:", 0) == 0) {
            data += (data.empty() ? "" : "\n") + line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
        } else if (line.empty() && !data.empty()) {
            payloads.push_back(std::move(data));
            data.clear();
        }
    }
    if (!data.empty()) {
        payloads.push_back(std::move(data));
    }
    return payloads;
}

RpcError error_from_json(const Json& e) {
    RpcError r;
    r.code = e.value("code", 0);
    r.message = e.value("message", "");
    r.data = e.contains("data") ? e["data"] : Json();
    return r;
}

}  // namespace

Status rpc_status(const std::string& method, const RpcError& error) {
    ErrorCode code = ErrorCode::kInternal;
    switch (error.code) {
        case rpc_code::kInvalidParams: code = ErrorCode::kInvalidArgument; break;
        case rpc_code::kMethodNotFound: code = ErrorCode::kNotFound; break;
        case rpc_code::kMissingRequiredClientCapability: code = ErrorCode::kPermissionDenied; break;
        case rpc_code::kUnsupportedProtocolVersion: code = ErrorCode::kUnimplemented; break;
        default: break;
    }
    return make_error(code, "mcp %s: %d %s", method.c_str(), error.code, error.message.c_str());
}

Result<Client> Client::create(ClientOptions options) {
    const std::string prefix = "http://";
    if (options.url.rfind(prefix, 0) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "mcp client: url must start with http://: '%s'",
                          options.url.c_str());
    }
    if (options.versions.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "mcp client: no protocol versions given");
    }
    Client c;
    std::string rest = options.url.substr(prefix.size());
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    c.path_ = slash == std::string::npos ? "/" : rest.substr(slash);
    size_t colon = authority.rfind(':');
    c.host_ = authority.substr(0, colon);
    c.port_ = colon == std::string::npos ? "80" : authority.substr(colon + 1);
    if (c.host_.empty() || c.port_.empty()
        || !std::all_of(c.port_.begin(), c.port_.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
        return make_error(ErrorCode::kInvalidArgument, "mcp client: bad host or port in '%s'", options.url.c_str());
    }
    c.options_ = std::move(options);
    return c;
}

Result<Client::Reply> Client::post(const std::string& method, const Json& params, const std::string& version,
                                   bool is_notification) {
    Json msg{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}};
    long id = next_id_++;  // a new id for every send, retries included (MRTR, broken streams)
    if (!is_notification) {
        msg["id"] = id;
    }
    std::string body = msg.dump();
    std::string req = "POST " + path_ + " HTTP/1.1\r\nHost: " + host_ + ":" + port_ +
                      "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                      "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (!version.empty()) {
        req += "MCP-Protocol-Version: " + version + "\r\n";
    }
    if (!version.empty() && !is_legacy_version(version)) {
        req += "Mcp-Method: " + method + "\r\n";
        if (params.contains("name") && (method == "tools/call" || method == "prompts/get")) {
            req += "Mcp-Name: " + encode_header_value(params["name"].get<std::string>()) + "\r\n";
        } else if (params.contains("taskId")) {
            req += "Mcp-Name: " + encode_header_value(params["taskId"].get<std::string>()) + "\r\n";
        }
    }
    if (!session_id_.empty()) {
        req += "Mcp-Session-Id: " + session_id_ + "\r\n";
    }
    if (!options_.bearer_token.empty()) {
        req += "Authorization: Bearer " + options_.bearer_token + "\r\n";
    }
    req += "\r\n" + body;
    GANNET_ASSIGN_OR_RETURN(HttpResponse http, http_post(host_, port_, req, options_.timeout_ms));
    Reply reply;
    reply.http_status = http.status;
    reply.session_id = http.header("mcp-session-id");
    if (http.body.empty()) {
        return reply;  // 202 Accepted for a notification
    }
    std::vector<std::string> payloads = split_payloads(http);
    for (const std::string& p : payloads) {
        Json m = Json::parse(p, nullptr, /*allow_exceptions=*/false);
        if (m.is_discarded() || !m.is_object()) {
            return make_error(ErrorCode::kDataLoss, "mcp %s: HTTP %d with a non-JSON body: %.200s", method.c_str(),
                              http.status, p.c_str());
        }
        if (m.contains("method") && !m.contains("id")) {
            reply.notifications.push_back(std::move(m));
        } else if (!m.contains("id") || m["id"] == id || m["id"].is_null()) {
            reply.message = std::move(m);
        }
    }
    if (reply.message.is_null() && !is_notification) {
        return make_error(ErrorCode::kDataLoss, "mcp %s: HTTP %d without a response for id %ld", method.c_str(),
                          http.status, id);
    }
    return reply;
}

Status Client::probe_modern(const std::string& version, std::vector<std::string>* supported) {
    Json params{{"_meta",
                 {{"io.modelcontextprotocol/protocolVersion", version},
                  {"io.modelcontextprotocol/clientCapabilities", Json::object()},
                  {"io.modelcontextprotocol/clientInfo", {{"name", options_.client_name}, {"version", "0.1.0"}}}}}};
    GANNET_ASSIGN_OR_RETURN(Reply reply, post("server/discover", params, version, /*is_notification=*/false));
    if (reply.message.contains("result")) {
        version_ = version;
        server_info_ = reply.message["result"].value("serverInfo", Json::object());
        return Status();
    }
    last_error_ = reply.message.contains("error") ? error_from_json(reply.message["error"]) : RpcError{};
    if (last_error_.code == rpc_code::kUnsupportedProtocolVersion && last_error_.data.contains("supported")
        && last_error_.data["supported"].is_array()) {
        for (const Json& v : last_error_.data["supported"]) {
            if (v.is_string()) {
                supported->push_back(v.get<std::string>());
            }
        }
    }
    return rpc_status("server/discover", last_error_);
}

Status Client::start_legacy(const std::string& version) {
    Json params{{"protocolVersion", version},
                {"capabilities", Json::object()},
                {"clientInfo", {{"name", options_.client_name}, {"version", "0.1.0"}}}};
    GANNET_ASSIGN_OR_RETURN(Reply reply, post("initialize", params, "", /*is_notification=*/false));
    if (!reply.message.contains("result")) {
        last_error_ = reply.message.contains("error") ? error_from_json(reply.message["error"]) : RpcError{};
        return rpc_status("initialize", last_error_);
    }
    const Json& result = reply.message["result"];
    version_ = result.value("protocolVersion", "");
    if (std::find(options_.versions.begin(), options_.versions.end(), version_) == options_.versions.end()) {
        return make_error(ErrorCode::kUnimplemented, "mcp initialize: server offers %s, which we do not speak",
                          version_.c_str());
    }
    server_info_ = result.value("serverInfo", Json::object());
    session_id_ = reply.session_id;
    is_legacy_ = true;
    GANNET_ASSIGN_OR_RETURN(Reply ack, post("notifications/initialized", Json::object(), version_,
                                            /*is_notification=*/true));
    if (ack.http_status >= 300) {
        return make_error(ErrorCode::kInternal, "mcp notifications/initialized: HTTP %d", ack.http_status);
    }
    return Status();
}

Status Client::connect() {
    if (is_connected_) {
        return Status();
    }
    // Modern first, in preference order; -32022 names what the server serves, so a later modern
    // version of ours that it lists is tried next. Any other failure falls back to the legacy era.
    std::vector<std::string> modern, legacy;
    for (const std::string& v : options_.versions) {
        (is_legacy_version(v) ? legacy : modern).push_back(v);
    }
    std::vector<std::string> supported;
    Status last;
    for (size_t i = 0; i < modern.size(); ++i) {
        if (!supported.empty() && std::find(supported.begin(), supported.end(), modern[i]) == supported.end()) {
            continue;
        }
        last = probe_modern(modern[i], &supported);
        if (last.ok()) {
            is_connected_ = true;
            return last;
        }
        if (last.code() == ErrorCode::kUnavailable || last.code() == ErrorCode::kDeadlineExceeded) {
            return last;
        }
    }
    if (legacy.empty()) {
        return make_error(ErrorCode::kUnimplemented, "mcp client: no common protocol version (%s)",
                          last.ok() ? "no modern version" : last.message().c_str());
    }
    GANNET_RETURN_IF_ERROR(start_legacy(legacy.front()));
    is_connected_ = true;
    return Status();
}

Result<Json> Client::request(const std::string& method, Json params, std::vector<Json>* notifications) {
    GANNET_RETURN_IF_ERROR(connect());
    if (!is_legacy_) {
        Json caps = options_.capabilities.is_object() ? options_.capabilities : Json::object();
        if (options_.has_tasks) {
            caps["extensions"][kTasksExtension] = Json::object();
        }
        params["_meta"]["io.modelcontextprotocol/protocolVersion"] = version_;
        params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = caps;
    }
    GANNET_ASSIGN_OR_RETURN(Reply reply, post(method, params, version_, /*is_notification=*/false));
    if (notifications) {
        *notifications = std::move(reply.notifications);
    }
    if (reply.message.contains("error")) {
        last_error_ = error_from_json(reply.message["error"]);
        return rpc_status(method, last_error_);
    }
    if (!reply.message.contains("result") || !reply.message["result"].is_object()) {
        last_error_ = RpcError{};
        return make_error(ErrorCode::kDataLoss, "mcp %s: response has neither result nor error", method.c_str());
    }
    return std::move(reply.message["result"]);
}

Result<Json> Client::list_tools() {
    Json tools = Json::array();
    std::string cursor;
    for (int page = 0; page < 1000; ++page) {  // bounded: a server looping on one cursor must not hang us
        Json params = Json::object();
        if (!cursor.empty()) {
            params["cursor"] = cursor;
        }
        GANNET_ASSIGN_OR_RETURN(Json result, request("tools/list", params, nullptr));
        for (Json& t : result.value("tools", Json::array())) {
            tools.push_back(std::move(t));
        }
        cursor = result.value("nextCursor", "");
        if (cursor.empty()) {
            return tools;
        }
    }
    return make_error(ErrorCode::kDataLoss, "mcp tools/list: more than 1000 pages");
}

Result<CallResult> Client::call_tool(const ToolCall& call) {
    Json params{{"name", call.name}, {"arguments", call.arguments}};
    if (!call.input_responses.is_null()) {
        params["inputResponses"] = call.input_responses;
    }
    if (!call.request_state.empty()) {
        params["requestState"] = call.request_state;
    }
    if (!call.progress_token.is_null()) {
        params["_meta"]["progressToken"] = call.progress_token;
    }
    CallResult out;
    GANNET_ASSIGN_OR_RETURN(out.result, request("tools/call", std::move(params), &out.notifications));
    // An absent resultType is a legacy result: complete (mcp.md §2.2). Unknown values are invalid.
    std::string type = out.result.value("resultType", "complete");
    if (type == "complete") {
        out.kind = CallKind::kComplete;
    } else if (type == "input_required") {
        out.kind = CallKind::kInputRequired;
    } else if (type == "task") {
        out.kind = CallKind::kTask;
    } else {
        return make_error(ErrorCode::kDataLoss, "mcp tools/call: unknown resultType '%s'", type.c_str());
    }
    return out;
}

Result<Json> Client::get_task(const std::string& task_id) {
    if (is_legacy_) {
        return make_error(ErrorCode::kUnimplemented, "mcp tasks/get: the %s era has no tasks extension",
                          version_.c_str());
    }
    return request("tasks/get", Json{{"taskId", task_id}}, nullptr);
}

Result<Json> Client::wait_task(const std::string& task_id, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        GANNET_ASSIGN_OR_RETURN(Json task, get_task(task_id));
        std::string status = task.value("status", "");
        if (status == "completed" || status == "failed" || status == "cancelled" || status == "input_required") {
            return task;
        }
        // Honour the server's pacing, within [10 ms, 5 s] so a bad value can neither spin nor stall.
        int poll_ms = std::clamp(task.value("pollIntervalMs", 100), 10, 5000);
        if (std::chrono::steady_clock::now() + std::chrono::milliseconds(poll_ms) > deadline) {
            return make_error(ErrorCode::kDeadlineExceeded, "mcp task %s still '%s' after %d ms", task_id.c_str(),
                              status.c_str(), timeout_ms);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    }
}

Status Client::update_task(const std::string& task_id, const Json& input_responses) {
    if (is_legacy_) {
        return make_error(ErrorCode::kUnimplemented, "mcp tasks/update: legacy era");
    }
    return request("tasks/update", Json{{"taskId", task_id}, {"inputResponses", input_responses}}, nullptr).error();
}

Status Client::cancel_task(const std::string& task_id) {
    if (is_legacy_) {
        return make_error(ErrorCode::kUnimplemented, "mcp tasks/cancel: legacy era");
    }
    return request("tasks/cancel", Json{{"taskId", task_id}}, nullptr).error();
}

}  // namespace gannet::mcp
