// Private to server.cc / server_methods.cc: the Server's state, the parsed request, and the
// per-request responder that switches from a JSON body to SSE on the first notification.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "mcp/request_state.h"
#include "mcp/server.h"
#include "mcp/tasks.h"

namespace gannet::mcp {

// A task's lease: renewed every second by the server running it; 5 s without renewal = that server died.
inline constexpr int64_t kTaskLeaseMs = 5000;

// One parsed, validated JSON-RPC request.
struct Request {
    Json id;  // string or integer; null for notifications
    bool has_id = false;
    std::string method;
    Json params = Json::object();
    Json meta = Json::object();
    Json caps = Json::object();  // clientCapabilities
    std::string tenant;
    bool is_legacy = false;
    std::string version;
};

// Answers one JSON-RPC request: a single JSON body, or (after the first notification) an SSE stream
// ending with the response. Thread-safe; later calls after the answer are ignored.
class RpcResponder {
public:
    RpcResponder(std::shared_ptr<HttpReply> reply, Json id) : reply_(std::move(reply)), id_(std::move(id)) {}

    void notify(const Json& notification);
    // Any JSON-RPC message on the stream (switching to SSE): server-to-client requests of 2025-11-25.
    void send_message(const Json& message) { notify(message); }
    void result(const Json& result);
    void error(const RpcError& error);
    bool is_closed() const { return reply_->is_closed(); }
    HttpReply& reply() { return *reply_; }

private:
    void finish(const Json& message, int http_status);

    std::mutex mutex_;
    std::shared_ptr<HttpReply> reply_;
    Json id_;
    bool is_streaming_ = false;  // guarded by mutex_
    bool is_done_ = false;       // guarded by mutex_
};

struct ListenStream {
    std::shared_ptr<HttpReply> reply;
    std::string subscription_id;
    bool wants_tools = false;
    bool wants_prompts = false;
    bool wants_resources = false;
    std::string tenant;
    std::vector<std::string> task_ids;
};

struct Validators {
    std::shared_ptr<const SchemaValidator> input;
    std::shared_ptr<const SchemaValidator> output;
};

struct Server::Impl {
    ServerConfig config;
    Registry registry;
    std::shared_ptr<Store> store;
    Auth auth;
    std::unique_ptr<SchemaValidatorFactory> schemas;
    std::string schema_name;
    std::map<std::string, Validators> validators;  // by tool name; read-only after create()
    std::unique_ptr<RequestStateCodec> state_codec;
    std::unique_ptr<TaskManager> tasks;
    std::unique_ptr<boost::asio::thread_pool> workers;

    std::mutex listen_mutex;
    std::list<ListenStream> listen_streams;  // guarded by listen_mutex
    std::mutex ticker_mutex;
    std::condition_variable ticker_cv;
    bool is_stopping = false;  // guarded by ticker_mutex
    std::thread ticker;        // keep-alive comments on listen streams, task lease renewal

    // Task leases: the server running a task renews "_lease_until" in the store; a task whose lease
    // ran out (its server died) is claimed and re-run by the next server that reads it.
    std::string instance_id;
    std::mutex owned_mutex;
    std::set<std::pair<std::string, std::string>> owned_tasks;  // (tenant, task id); guarded by owned_mutex

    // server.cc: transport and envelope.
    void handle(HttpCall call, std::shared_ptr<HttpReply> reply);
    std::optional<RpcError> check_headers(const HttpCall& call, const Request& req) const;
    std::optional<RpcError> check_param_headers(const HttpCall& call, const Request& req) const;
    void dispatch(Request req, std::shared_ptr<RpcResponder> out, std::shared_ptr<HttpReply> reply);
    void dispatch_legacy(Request req, std::shared_ptr<RpcResponder> out);
    Json stamp(const std::string& method, Json result, bool is_legacy) const;
    Json server_capabilities(bool is_legacy) const;
    void notify_list_changed(const std::string& list);
    void notify_task(const std::string& tenant, const Json& task);
    void run_ticker();

    // server_methods.cc: the methods.
    void on_discover(Request& req, std::shared_ptr<RpcResponder> out);
    void on_tools_list(Request& req, std::shared_ptr<RpcResponder> out);
    void on_tools_call(Request& req, std::shared_ptr<RpcResponder> out);
    void on_prompts_list(Request& req, std::shared_ptr<RpcResponder> out);
    void on_prompts_get(Request& req, std::shared_ptr<RpcResponder> out);
    void on_resources_list(Request& req, std::shared_ptr<RpcResponder> out);
    void on_resource_templates_list(Request& req, std::shared_ptr<RpcResponder> out);
    void on_resources_read(Request& req, std::shared_ptr<RpcResponder> out);
    void on_complete(Request& req, std::shared_ptr<RpcResponder> out);
    void on_listen(Request& req, std::shared_ptr<RpcResponder> out, std::shared_ptr<HttpReply> reply);
    void on_tasks_get(Request& req, std::shared_ptr<RpcResponder> out);
    void on_tasks_update(Request& req, std::shared_ptr<RpcResponder> out);
    void on_tasks_cancel(Request& req, std::shared_ptr<RpcResponder> out);

    // Runs a tools/call, prompts/get or resources/read handler and answers (MRTR included).
    void run_call(const CallFn& fn, Cost cost, std::shared_ptr<CallContext> ctx, Request req,
                  std::shared_ptr<RpcResponder> out, const ToolDef* tool);
    void answer_outcome(CallOutcome outcome, const CallContext& ctx, const Request& req, RpcResponder& out,
                        const ToolDef* tool);
    Json finish_tool_result(Json result, const ToolDef* tool) const;
    void start_task(const ToolDef& tool, std::shared_ptr<CallContext> ctx, Request req,
                    std::shared_ptr<RpcResponder> out);
    void run_task_guarded(const ToolDef* tool, std::shared_ptr<CallContext> ctx, std::string task_id);
    void run_task(const ToolDef* tool, std::shared_ptr<CallContext> ctx, std::string task_id);
    void prepare_task_context(CallContext& ctx, const std::string& task_id);
    void renew_leases(int64_t lease_until_ms);
    // Claims and re-runs `task` when its lease ran out; returns the record to answer with.
    Json maybe_recover(const std::string& tenant, Json task);
    std::shared_ptr<CallContext> make_context(const Request& req, const std::string& name,
                                              std::shared_ptr<RpcResponder> out);
};

}  // namespace gannet::mcp
