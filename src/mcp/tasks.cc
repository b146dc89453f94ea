#include "mcp/tasks.h"

#include <ctime>

#include "mcp/request_state.h"

namespace gannet::mcp {

bool is_terminal_task_status(const std::string& status) {
    return status == "completed" || status == "failed" || status == "cancelled";
}

std::string iso8601_utc(int64_t unix_ms) {
    time_t secs = static_cast<time_t>(unix_ms / 1000);
    tm utc{};
    gmtime_r(&secs, &utc);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
    return str_printf("%s.%03dZ", buf, static_cast<int>(unix_ms % 1000));
}

// Ids are minted as hex; anything else (a ':' above all) could splice a key across the tenant
// boundary: tenant "a" asking for "b:ID" would read "task:a:b:ID", tenant "a:b"'s task ID.
bool TaskManager::is_well_formed_id(const std::string& task_id) {
    if (task_id.empty() || task_id.size() > 64) {
        return false;
    }
    for (char c : task_id) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string TaskManager::key(const std::string& tenant, const std::string& task_id) {
    return "task:" + tenant + ":" + task_id;
}

Result<Json> TaskManager::create(const std::string& tenant, const Json& internal) {
    int64_t now = now_unix_ms();
    std::string id = random_hex(16);  // 128 bits: unguessable
    Json task = {{"taskId", id},
                 {"status", "working"},
                 {"createdAt", iso8601_utc(now)},
                 {"lastUpdatedAt", iso8601_utc(now)},
                 {"ttlMs", ttl_ms_},
                 {"pollIntervalMs", poll_interval_ms_}};
    Json record = task;
    for (const auto& [k, v] : internal.items()) {
        record[k] = v;
    }
    // The record outlives its TTL by a minute so a poll at the deadline still reads it.
    GANNET_ASSIGN_OR_RETURN(bool created,
                            store_.compare_and_set(key(tenant, id), std::nullopt, record.dump(), ttl_ms_ + 60000));
    if (!created) {
        return make_error(ErrorCode::kInternal, "tasks: id collision for %s", id.c_str());
    }
    return task;
}

Result<std::optional<Json>> TaskManager::load(const std::string& tenant, const std::string& task_id) {
    if (!is_well_formed_id(task_id)) {
        return std::optional<Json>();  // unknown, like another tenant's id
    }
    GANNET_ASSIGN_OR_RETURN(std::optional<std::string> raw, store_.get(key(tenant, task_id)));
    if (!raw.has_value()) {
        return std::optional<Json>();
    }
    Json task = Json::parse(*raw, nullptr, /*allow_exceptions=*/false);
    if (!task.is_object()) {
        return make_error(ErrorCode::kDataLoss, "tasks: corrupt record for %s", task_id.c_str());
    }
    return std::optional<Json>(std::move(task));
}

Result<std::optional<Json>> TaskManager::update(const std::string& tenant, const std::string& task_id,
                                                const std::function<bool(Json& task)>& mutate) {
    if (!is_well_formed_id(task_id)) {
        return std::optional<Json>();
    }
    const std::string k = key(tenant, task_id);
    for (int attempt = 0; attempt < 64; ++attempt) {
        GANNET_ASSIGN_OR_RETURN(std::optional<std::string> raw, store_.get(k));
        if (!raw.has_value()) {
            return std::optional<Json>();
        }
        Json task = Json::parse(*raw, nullptr, /*allow_exceptions=*/false);
        if (!task.is_object()) {
            return make_error(ErrorCode::kDataLoss, "tasks: corrupt record for %s", task_id.c_str());
        }
        if (!mutate(task)) {
            return std::optional<Json>(std::move(task));
        }
        task["lastUpdatedAt"] = iso8601_utc(now_unix_ms());
        // Keep the original expiry: TTL runs from creation.
        int64_t ttl_left = ttl_ms_ + 60000;
        GANNET_ASSIGN_OR_RETURN(bool swapped, store_.compare_and_set(k, raw, task.dump(), ttl_left));
        if (swapped) {
            return std::optional<Json>(std::move(task));
        }
    }
    return make_error(ErrorCode::kUnavailable, "tasks: too much contention updating %s", task_id.c_str());
}

Status TaskManager::complete(const std::string& tenant, const std::string& task_id, const Json& result) {
    return update(tenant, task_id,
                  [&](Json& t) {
                      if (is_terminal_task_status(t.value("status", ""))) {
                          return false;
                      }
                      t["status"] = "completed";
                      t["result"] = result;
                      t.erase("inputRequests");
                      return true;
                  })
        .error();
}

Status TaskManager::fail(const std::string& tenant, const std::string& task_id, const RpcError& error) {
    return update(tenant, task_id,
                  [&](Json& t) {
                      if (is_terminal_task_status(t.value("status", ""))) {
                          return false;
                      }
                      t["status"] = "failed";
                      t["error"] = error.to_json();
                      t["statusMessage"] = error.message;
                      t.erase("inputRequests");
                      return true;
                  })
        .error();
}

Status TaskManager::cancel(const std::string& tenant, const std::string& task_id) {
    return update(tenant, task_id,
                  [&](Json& t) {
                      if (is_terminal_task_status(t.value("status", ""))) {
                          return false;
                      }
                      t["status"] = "cancelled";
                      t["statusMessage"] = "cancelled by request";
                      t.erase("inputRequests");
                      return true;
                  })
        .error();
}

Json TaskManager::wire_view(const Json& record) {
    Json out = Json::object();
    for (const auto& [k, v] : record.items()) {
        if (!k.empty() && k[0] != '_') {
            out[k] = v;
        }
    }
    return out;
}

}  // namespace gannet::mcp
