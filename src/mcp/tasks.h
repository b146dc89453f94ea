// TaskManager: the Tasks extension (io.modelcontextprotocol/tasks, SEP-2663) over the shared Store.
// A task record lives under "task:<tenant>:<id>" with the task's TTL, so another tenant's id is
// simply unknown (-32602) and any server of a fleet can answer tasks/get. Transitions are CAS loops,
// so a terminal status never changes even when a cancel and a completion race across servers.
// Owned by src/mcp/. Thread-safe (state lives in the Store).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "mcp/rpc_error.h"
#include "mcp/store.h"

namespace gannet::mcp {

inline constexpr const char* kTasksExtension = "io.modelcontextprotocol/tasks";

bool is_terminal_task_status(const std::string& status);

class TaskManager {
public:
    TaskManager(Store& store, int64_t ttl_ms, int64_t poll_interval_ms)
        : store_(store), ttl_ms_(ttl_ms), poll_interval_ms_(poll_interval_ms) {}

    // Creates a "working" task and stores it before returning (durable creation: a tasks/get that
    // follows the reply always finds it). Returns the wire Task (no internal fields).
    // `internal` fields (names starting with '_') are stored with the task but never sent.
    Result<Json> create(const std::string& tenant, const Json& internal = Json::object());
    // The stored record (internal fields included), or nullopt when unknown/expired/another tenant's.
    Result<std::optional<Json>> load(const std::string& tenant, const std::string& task_id);
    // Applies `mutate` to the record under CAS; `mutate` returns false to leave it unchanged.
    // Returns the record after the call (nullopt: unknown task).
    Result<std::optional<Json>> update(const std::string& tenant, const std::string& task_id,
                                       const std::function<bool(Json& task)>& mutate);

    // Terminal transitions; no-ops on an already terminal task.
    Status complete(const std::string& tenant, const std::string& task_id, const Json& result);
    Status fail(const std::string& tenant, const std::string& task_id, const RpcError& error);
    Status cancel(const std::string& tenant, const std::string& task_id);

    // The record as sent on the wire: a DetailedTask without internal fields.
    static Json wire_view(const Json& record);

    int64_t poll_interval_ms() const { return poll_interval_ms_; }

private:
    static bool is_well_formed_id(const std::string& task_id);
    static std::string key(const std::string& tenant, const std::string& task_id);
    Store& store_;
    int64_t ttl_ms_;
    int64_t poll_interval_ms_;
};

// ISO 8601 UTC with milliseconds, e.g. "2026-07-28T12:00:00.000Z".
std::string iso8601_utc(int64_t unix_ms);

}  // namespace gannet::mcp
