// What an MCP server offers: tools, prompts, resources and resource templates, each a JSON
// definition (sent verbatim in */list, so 2020-12 schemas survive untouched) plus a handler.
// Owned by src/mcp/. Build a Registry before the Server starts; it is read-only afterwards and
// then safe to share between threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "mcp/rpc_error.h"

namespace gannet::mcp {

// Everything a handler may look at for one request. Lives for the duration of the handler call.
struct CallContext {
    std::string tenant;         // the authenticated principal ("" when auth is off)
    std::string method;         // "tools/call", "prompts/get", "resources/read"
    std::string name;           // tool or prompt name, or resource uri
    Json meta;                  // the request's params._meta (object)
    Json client_capabilities;   // _meta clientCapabilities (object; {} if none)
    Json arguments;             // tools/call and prompts/get arguments (object; {} if none)
    Json input_responses;       // MRTR inputResponses (object or null)
    Json request_state;         // verified, decoded requestState payload, or null if none was sent
    bool is_legacy = false;     // served to a 2025-11-25 client (no MRTR, no resultType)

    // Sends a notification on this request's response stream (switching it to SSE). Only
    // notifications/progress (when progress_token is set) and notifications/message (when the
    // request set a logLevel) may be sent; the server drops anything else.
    std::function<void(const Json& notification)> notify;
    Json progress_token;  // null when the request carried none
    bool has_log_level = false;
    // True once the client went away or the task was cancelled; long handlers poll it.
    std::function<bool()> is_cancelled;
    // 2025-11-25 only: sends a server-to-client request (sampling, elicitation, roots) on this
    // request's SSE stream and waits for the client's answer, which may arrive at any server of the
    // fleet (it travels through the Store). Null for 2026-07-28 requests, which use MRTR instead.
    // kDeadlineExceeded after 60 s; kCancelled if the client went away; kInvalidArgument for an error reply.
    std::function<Result<Json>(const std::string& method, const Json& params)> request_client;
    // Announces a changed list ("tools", "prompts") on this server's subscriptions/listen streams.
    std::function<void(const std::string& list)> announce_list_changed;

    bool has_capability(const std::string& capability) const {
        return client_capabilities.is_object() && client_capabilities.contains(capability);
    }
    bool is_cancelled_now() const { return is_cancelled && is_cancelled(); }
};

// A handler's answer: a result object, an MRTR round, or a JSON-RPC error.
struct CallOutcome {
    Json result = Json::object();       // CallToolResult / GetPromptResult / ReadResourceResult body
    std::optional<RpcError> error;
    // MRTR: when input_requests is non-null the answer is {"resultType":"input_required", ...};
    // next_state (any JSON) is signed by the server into requestState.
    Json input_requests;
    Json next_state;

    static CallOutcome ok(Json result) { return CallOutcome{std::move(result), std::nullopt, nullptr, nullptr}; }
    static CallOutcome fail(RpcError e) { return CallOutcome{Json::object(), std::move(e), nullptr, nullptr}; }
    static CallOutcome need_input(Json requests, Json state = nullptr) {
        return CallOutcome{Json::object(), std::nullopt, std::move(requests), std::move(state)};
    }
    // A tool execution error the model can read (isError:true), not a protocol error.
    static CallOutcome tool_error(const std::string& text);
};

using CallFn = std::function<CallOutcome(CallContext& ctx)>;

enum class TaskSupport { kForbidden, kOptional, kRequired };
enum class Cost { kCheap, kBlocking };  // cheap handlers run on the I/O thread; blocking ones on workers

struct ToolDef {
    Json definition;  // {"name", "description", "inputSchema", "outputSchema"?, "annotations"?, ...}
    CallFn fn;
    TaskSupport task_support = TaskSupport::kForbidden;
    Cost cost = Cost::kBlocking;
    // Optional MRTR phase that runs synchronously before a task is created (SEP-2663: resolve
    // input_required before the task exists). An ok() outcome means "go ahead and create the task".
    CallFn before_task;
    std::string name() const { return definition.value("name", ""); }
};

struct PromptDef {
    Json definition;  // {"name", "description", "arguments"?: [...]}
    CallFn fn;
};

struct ResourceDef {
    Json definition;  // {"uri", "name", "mimeType"?, ...}
    CallFn fn;        // ctx.name is the uri
};

struct ResourceTemplateDef {
    Json definition;  // {"uriTemplate", "name", ...}
    CallFn fn;        // ctx.arguments holds the template variables
};

// Called when tools/call completes a trigger that changes a list ("tools" or "prompts").
using ListChangedFn = std::function<void(const std::string& list)>;

class Registry {
public:
    void add_tool(ToolDef tool);
    void add_prompt(PromptDef prompt);
    void add_resource(ResourceDef resource);
    void add_resource_template(ResourceTemplateDef tmpl);

    const ToolDef* find_tool(const std::string& name) const;
    const PromptDef* find_prompt(const std::string& name) const;
    const ResourceDef* find_resource(const std::string& uri) const;
    // First template whose pattern matches `uri`; fills `vars` with the {name} values.
    const ResourceTemplateDef* match_template(const std::string& uri, Json* vars) const;

    // In registration order: tools/list order is deterministic (CONF tools-list-deterministic-order).
    const std::vector<ToolDef>& tools() const { return tools_; }
    const std::vector<PromptDef>& prompts() const { return prompts_; }
    const std::vector<ResourceDef>& resources() const { return resources_; }
    const std::vector<ResourceTemplateDef>& resource_templates() const { return templates_; }

    // Set by the Server so trigger tools can announce list changes to listen streams.
    ListChangedFn list_changed;

private:
    std::vector<ToolDef> tools_;
    std::vector<PromptDef> prompts_;
    std::vector<ResourceDef> resources_;
    std::vector<ResourceTemplateDef> templates_;
    std::map<std::string, size_t> tool_index_;
    std::map<std::string, size_t> prompt_index_;
    std::map<std::string, size_t> resource_index_;
};

// Matches "test://template/{id}/data" against a uri; each {var} matches one non-empty segment
// without '/'. Exposed for tests.
bool match_uri_template(const std::string& pattern, const std::string& uri, Json* vars);

}  // namespace gannet::mcp
