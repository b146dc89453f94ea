// The Tasks extension on the server: tools/call answering with a task, the background run of the
// tool (including input_required rounds through tasks/update), tasks/get, tasks/update and
// tasks/cancel. All task state is in the Store, so any server of a fleet answers for any task;
// only the tool's execution lives on the server that created it.
#include <boost/asio/post.hpp>

#include <chrono>
#include <thread>

#include "base/log.h"
#include "mcp/server_internal.h"

namespace gannet::mcp {

namespace {

constexpr int kTaskPollMs = 100;  // how often a running task checks the store for cancel/input

std::optional<RpcError> require_task_id(const Json& params, std::string* out) {
    auto it = params.find("taskId");
    if (it == params.end() || !it->is_string()) {
        return invalid_params("taskId: missing or not a string");
    }
    *out = it->get<std::string>();
    return std::nullopt;
}

}  // namespace

void Server::Impl::start_task(const ToolDef& tool, std::shared_ptr<CallContext> ctx, Request req,
                              std::shared_ptr<RpcResponder> out) {
    if (tool.before_task) {
        CallOutcome pre = tool.before_task(*ctx);
        if (pre.error.has_value() || !pre.input_requests.is_null()) {
            answer_outcome(std::move(pre), *ctx, req, *out, &tool);
            return;
        }
    }
    Json internal = {{"_tool", tool.name()},
                     {"_args", ctx->arguments},
                     {"_inputResponses", ctx->input_responses.is_object() ? ctx->input_responses : Json::object()},
                     {"_owner", instance_id},
                     {"_lease_until", now_unix_ms() + kTaskLeaseMs}};
    Result<Json> task = tasks->create(req.tenant, internal);
    if (!task.has_value()) {
        GANNET_LOG_ERROR("mcp", "tasks: create failed: %s", task.error().message().c_str());
        out->error(internal_error("cannot create task: store unavailable"));
        return;
    }
    std::string task_id = task.value()["taskId"].get<std::string>();
    prepare_task_context(*ctx, task_id);
    {
        std::lock_guard<std::mutex> lock(owned_mutex);
        owned_tasks.insert({req.tenant, task_id});
    }
    const ToolDef* tool_ptr = &tool;
    boost::asio::post(*workers, [this, tool_ptr, ctx, task_id] { run_task_guarded(tool_ptr, ctx, task_id); });
    Json result = TaskManager::wire_view(task.value());
    result["resultType"] = "task";
    out->result(stamp(req.method, result, /*is_legacy=*/false));
}

void Server::Impl::prepare_task_context(CallContext& ctx, const std::string& task_id) {
    // The task is no longer tied to an HTTP exchange: cancellation comes from tasks/cancel (read
    // from the store, at most every kTaskPollMs), and progress/log notifications are not delivered.
    std::string tenant = ctx.tenant;
    auto last_check = std::make_shared<std::chrono::steady_clock::time_point>();
    auto cancelled = std::make_shared<bool>(false);
    TaskManager* manager = tasks.get();
    ctx.notify = [](const Json&) {
    };
    ctx.request_client = nullptr;
    ctx.is_cancelled = [manager, tenant, task_id, last_check, cancelled] {
        auto now = std::chrono::steady_clock::now();
        if (*cancelled || now - *last_check < std::chrono::milliseconds(kTaskPollMs)) {
            return *cancelled;
        }
        *last_check = now;
        Result<std::optional<Json>> t = manager->load(tenant, task_id);
        *cancelled = t.has_value() && (!t.value().has_value() || t.value()->value("status", "") == "cancelled");
        return *cancelled;
    };
}

void Server::Impl::renew_leases(int64_t lease_until_ms) {
    std::vector<std::pair<std::string, std::string>> owned;
    {
        std::lock_guard<std::mutex> lock(owned_mutex);
        owned.assign(owned_tasks.begin(), owned_tasks.end());
    }
    for (const auto& [tenant, id] : owned) {
        tasks
            ->update(tenant, id,
                     [&](Json& t) {
                         if (is_terminal_task_status(t.value("status", "")) || t.value("_owner", "") != instance_id) {
                             return false;
                         }
                         t["_lease_until"] = lease_until_ms;
                         return true;
                     })
            .error()
            .ignore();
    }
}

Json Server::Impl::maybe_recover(const std::string& tenant, Json task) {
    if (is_terminal_task_status(task.value("status", "")) || task.value("_lease_until", int64_t{0}) > now_unix_ms()) {
        return task;
    }
    const ToolDef* tool = registry.find_tool(task.value("_tool", ""));
    std::string id = task.value("taskId", "");
    bool is_claimed = false;
    Result<std::optional<Json>> claimed = tasks->update(tenant, id, [&](Json& t) {
        if (is_terminal_task_status(t.value("status", "")) || t.value("_lease_until", int64_t{0}) > now_unix_ms()) {
            return false;  // someone else got there first, or it finished
        }
        if (tool == nullptr) {
            t["status"] = "failed";
            t["error"] = internal_error("the server running this task stopped").to_json();
            return true;
        }
        t["_owner"] = instance_id;
        t["_lease_until"] = now_unix_ms() + kTaskLeaseMs;
        t["status"] = "working";
        t.erase("inputRequests");
        is_claimed = true;
        return true;
    });
    if (!claimed.has_value() || !claimed.value().has_value()) {
        return task;
    }
    if (is_claimed) {
        GANNET_LOG_INFO("mcp", "tasks: %s: lease expired, re-running '%s' here", id.c_str(), tool->name().c_str());
        auto ctx = std::make_shared<CallContext>();
        ctx->tenant = tenant;
        ctx->method = "tools/call";
        ctx->name = tool->name();
        ctx->arguments = claimed.value()->value("_args", Json::object());
        ctx->input_responses = claimed.value()->value("_inputResponses", Json::object());
        ctx->request_state = claimed.value()->value("_state", Json());
        ctx->client_capabilities = Json{{"extensions", Json{{kTasksExtension, Json::object()}}}};
        ctx->announce_list_changed = [this](const std::string& list) {
            notify_list_changed(list);
        };
        prepare_task_context(*ctx, id);
        {
            std::lock_guard<std::mutex> lock(owned_mutex);
            owned_tasks.insert({tenant, id});
        }
        boost::asio::post(*workers, [this, tool, ctx, id] { run_task_guarded(tool, ctx, id); });
    }
    return *claimed.value();
}

// Thread entry of a task on a worker: what escapes is logged and fails the task, never std::terminate.
void Server::Impl::run_task_guarded(const ToolDef* tool, std::shared_ptr<CallContext> ctx, std::string task_id) {
    try {
        run_task(tool, ctx, task_id);
    } catch (const std::exception& e) {
        GANNET_LOG_ERROR("mcp", "tasks: %s: '%s' threw: %s", task_id.c_str(), tool->name().c_str(), e.what());
        tasks->fail(ctx->tenant, task_id, internal_error(tool->name() + " failed")).ignore();
    }
}

void Server::Impl::run_task(const ToolDef* tool, std::shared_ptr<CallContext> ctx, std::string task_id) {
    const std::string& tenant = ctx->tenant;
    struct Release {
        Server::Impl* impl;
        std::pair<std::string, std::string> key;
        ~Release() {
            std::lock_guard<std::mutex> lock(impl->owned_mutex);
            impl->owned_tasks.erase(key);
        }
    } release{this, {ctx->tenant, task_id}};
    for (;;) {
        CallOutcome outcome;
        try {
            outcome = tool->fn(*ctx);
        } catch (const std::exception& e) {
            outcome = CallOutcome::fail(internal_error(tool->name() + " failed"));
        }
        Status s;
        if (outcome.error.has_value()) {
            s = tasks->fail(tenant, task_id, *outcome.error);
        } else if (outcome.input_requests.is_null()) {
            s = tasks->complete(tenant, task_id, stamp("tools/call", finish_tool_result(outcome.result, tool), false));
        } else {
            // input_required: publish the requests, then wait for tasks/update to answer them all.
            Result<std::optional<Json>> t = tasks->update(tenant, task_id, [&](Json& task) {
                if (is_terminal_task_status(task.value("status", ""))) {
                    return false;
                }
                task["status"] = "input_required";
                task["inputRequests"] = outcome.input_requests;
                task["_state"] = outcome.next_state;
                return true;
            });
            if (t.has_value() && t.value().has_value()) {
                notify_task(tenant, TaskManager::wire_view(*t.value()));
            }
            bool resumed = false;
            while (!resumed) {
                std::this_thread::sleep_for(std::chrono::milliseconds(kTaskPollMs));
                Result<std::optional<Json>> cur = tasks->load(tenant, task_id);
                if (!cur.has_value()) {
                    continue;  // store hiccup: try again
                }
                if (!cur.value().has_value() || is_terminal_task_status(cur.value()->value("status", ""))) {
                    return;  // cancelled or expired while waiting
                }
                if (cur.value()->value("status", "") == "working") {
                    ctx->input_responses = cur.value()->value("_inputResponses", Json::object());
                    ctx->request_state = cur.value()->value("_state", Json());
                    resumed = true;
                }
            }
            continue;
        }
        if (!s.ok()) {
            GANNET_LOG_ERROR("mcp", "tasks: %s: %s", task_id.c_str(), s.message().c_str());
        }
        Result<std::optional<Json>> t = tasks->load(tenant, task_id);
        if (t.has_value() && t.value().has_value()) {
            notify_task(tenant, TaskManager::wire_view(*t.value()));
        }
        return;
    }
}

void Server::Impl::on_tasks_get(Request& req, std::shared_ptr<RpcResponder> out) {
    std::string id;
    if (auto e = require_task_id(req.params, &id)) {
        out->error(*e);
        return;
    }
    Result<std::optional<Json>> task = tasks->load(req.tenant, id);
    if (!task.has_value()) {
        out->error(internal_error("task store unavailable"));
        return;
    }
    if (!task.value().has_value()) {
        out->error(invalid_params("unknown task '" + id + "'"));
        return;
    }
    Json result = TaskManager::wire_view(maybe_recover(req.tenant, *task.value()));
    out->result(stamp(req.method, result, false));
}

void Server::Impl::on_tasks_update(Request& req, std::shared_ptr<RpcResponder> out) {
    std::string id;
    if (auto e = require_task_id(req.params, &id)) {
        out->error(*e);
        return;
    }
    Json responses = req.params.value("inputResponses", Json());
    if (!responses.is_object()) {
        out->error(invalid_params("inputResponses: missing or not an object"));
        return;
    }
    Result<std::optional<Json>> task = tasks->update(req.tenant, id, [&](Json& t) {
        if (t.value("status", "") != "input_required" || !t.contains("inputRequests")) {
            return false;  // nothing pending: unknown or late answers are ignored
        }
        Json& pending = t["inputRequests"];
        bool changed = false;
        for (const auto& [k, v] : responses.items()) {
            if (pending.contains(k)) {
                t["_inputResponses"][k] = v;
                pending.erase(k);
                changed = true;
            }
        }
        if (pending.empty()) {
            t.erase("inputRequests");
            t["status"] = "working";
        }
        return changed;
    });
    if (!task.has_value()) {
        out->error(internal_error("task store unavailable"));
        return;
    }
    if (!task.value().has_value()) {
        out->error(invalid_params("unknown task '" + id + "'"));
        return;
    }
    out->result(stamp(req.method, Json::object(), false));
}

void Server::Impl::on_tasks_cancel(Request& req, std::shared_ptr<RpcResponder> out) {
    std::string id;
    if (auto e = require_task_id(req.params, &id)) {
        out->error(*e);
        return;
    }
    Result<std::optional<Json>> task = tasks->load(req.tenant, id);
    if (!task.has_value()) {
        out->error(internal_error("task store unavailable"));
        return;
    }
    if (!task.value().has_value()) {
        out->error(invalid_params("unknown task '" + id + "'"));
        return;
    }
    Status s = tasks->cancel(req.tenant, id);
    if (!s.ok()) {
        out->error(internal_error("task store unavailable"));
        return;
    }
    Result<std::optional<Json>> after = tasks->load(req.tenant, id);
    if (after.has_value() && after.value().has_value()) {
        notify_task(req.tenant, TaskManager::wire_view(*after.value()));
    }
    out->result(stamp(req.method, Json::object(), false));
}

}  // namespace gannet::mcp
