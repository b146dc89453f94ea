#include "agent/agent_tools.h"

#include "json/json.h"

namespace gannet::agent {

using nlohmann::json;

namespace {

std::string truncate(std::string text, size_t max_bytes) {
    if (text.size() > max_bytes) {
        const size_t n = text.size();
        text.resize(max_bytes);
        text += "\n[truncated: " + std::to_string(n) + " bytes in all]";
    }
    return text;
}

// The text a model reads from a CallToolResult: its text contents, else the structured content.
std::string result_text(const json& result) {
    std::string text;
    if (result.contains("content") && result["content"].is_array()) {
        for (const json& c : result["content"]) {
            if (c.is_object() && c.value("type", "") == "text" && c.contains("text") && c["text"].is_string()) {
                text += (text.empty() ? "" : "\n") + c["text"].get<std::string>();
            }
        }
    }
    if (text.empty() && result.contains("structuredContent")) {
        text = gannet::json::dump(result["structuredContent"]);
    }
    return text;
}

}  // namespace

Result<AgentTools> AgentTools::connect(const std::string& mcp_url, const std::string& bearer_token) {
    mcp::ClientOptions options;
    options.url = mcp_url;
    options.bearer_token = bearer_token;
    options.client_name = "gannet-agent";
    GANNET_ASSIGN_OR_RETURN(mcp::Client client, mcp::Client::create(options));
    GANNET_RETURN_IF_ERROR(client.connect());
    GANNET_ASSIGN_OR_RETURN(json listed, client.list_tools());
    AgentTools tools(std::move(client));
    const json& list = listed.is_object() && listed.contains("tools") ? listed["tools"] : listed;
    if (!list.is_array()) {
        return make_error(ErrorCode::kDataLoss, "agent: %s: tools/list did not return a tools array", mcp_url.c_str());
    }
    for (const json& t : list) {
        if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
            continue;
        }
        const std::string name = t["name"].get<std::string>();
        const json schema = t.value("inputSchema", json{{"type", "object"}});
        Result<jsonschema::Validator> v = jsonschema::Validator::compile(schema);
        if (!v.has_value()) {
            return make_error(ErrorCode::kInvalidArgument, "agent: tool '%s': inputSchema does not compile: %s",
                              name.c_str(), v.error().message().c_str());
        }
        tools.validators_.emplace(name, std::move(*v));
        tools.openai_tools_.push_back(
            {{"type", "function"},
             {"function", {{"name", name}, {"description", t.value("description", "")}, {"parameters", schema}}}});
    }
    return tools;
}

Result<ToolOutcome> AgentTools::call(const std::string& name, const std::string& arguments_json,
                                     size_t max_result_bytes) {
    ToolOutcome out;
    auto it = validators_.find(name);
    if (it == validators_.end()) {
        out.is_error = true;
        out.text = "error: no tool named '" + name + "'";
        return out;
    }
    Result<json> args = gannet::json::parse(arguments_json.empty() ? "{}" : arguments_json);
    if (!args.has_value()) {
        out.is_error = true;
        out.text = "error: the arguments of '" + name + "' are not JSON: " + args.error().message();
        return out;
    }
    jsonschema::ValidationResult vr = it->second.validate(*args, jsonschema::OutputFormat::kBasic);
    if (!vr.valid) {
        out.is_error = true;
        out.text = "error: the arguments of '" + name + "' do not match its inputSchema:";
        for (const jsonschema::OutputUnit& u : vr.errors) {
            out.text +=
                "\n  " + (u.instance_location.empty() ? std::string("/") : u.instance_location) + ": " + u.error;
        }
        out.text = truncate(std::move(out.text), max_result_bytes);
        return out;
    }
    mcp::ToolCall call;
    call.name = name;
    call.arguments = std::move(*args);
    Result<mcp::CallResult> r = client_.call_tool(call);
    out.is_called = true;
    if (!r.has_value()) {
        // A JSON-RPC error (e.g. the server's budget refusing the tool) is the model's to read; a
        // server that is gone or silent is the harness's failure.
        const ErrorCode code = r.error().code();
        if (code != ErrorCode::kUnavailable && code != ErrorCode::kDeadlineExceeded) {
            out.is_error = true;
            out.text = "error: " + r.error().message();
            return out;
        }
        return r.error();
    }
    if (r->kind != mcp::CallKind::kComplete) {
        out.is_error = true;
        out.text = "error: tool '" + name + "' asked for input or started a task; this harness answers neither";
        return out;
    }
    out.is_error = r->result.value("isError", false);
    const std::string full = result_text(r->result);
    out.is_truncated = full.size() > max_result_bytes;
    out.text = truncate(full, max_result_bytes);
    out.exit_code = out.is_error ? 1 : 0;
    const json sc = r->result.value("structuredContent", json::object());
    if (sc.is_object() && sc.contains("exitCode") && sc["exitCode"].is_number_integer()) {
        out.exit_code = sc["exitCode"].get<int>();
    }
    out.is_timed_out =
        sc.is_object() && sc.contains("isTimedOut") && sc["isTimedOut"].is_boolean() && sc["isTimedOut"].get<bool>();
    return out;
}

}  // namespace gannet::agent
