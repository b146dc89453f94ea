// Store: the small shared key-value store behind everything that must outlive one request (task
// state, legacy sessions, the fleet's requestState key). Any server of a fleet reads what another
// wrote, so no request ever depends on process memory. Implementations: SQLite (a file; survives
// restarts; several processes on one host may share it) and Redis (a fleet across hosts).
// Owned by src/mcp/. Thread-safe: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"

namespace gannet::mcp {

class Store {
public:
    virtual ~Store() = default;

    // The value, or nullopt when absent or expired. kUnavailable when the backend is unreachable.
    virtual Result<std::optional<std::string>> get(const std::string& key) = 0;
    // ttl_ms <= 0 means no expiry.
    virtual Status put(const std::string& key, const std::string& value, int64_t ttl_ms) = 0;
    // Atomically replaces the value only if the current one equals `expected` (nullopt: the key is
    // absent or expired). Returns whether it swapped. This is the only read-modify-write primitive:
    // task state transitions are CAS loops over it, so two servers never both win a transition.
    virtual Result<bool> compare_and_set(const std::string& key, const std::optional<std::string>& expected,
                                         const std::string& value, int64_t ttl_ms) = 0;
    virtual Status erase(const std::string& key) = 0;
    // "sqlite:/path/file.db", "redis://host:port", for logs.
    virtual std::string describe() const = 0;
};

// Opens "sqlite:PATH" (":memory:" allowed) or "redis://HOST:PORT". kInvalidArgument for an unknown
// scheme; kUnavailable when the file cannot be opened or Redis does not answer PING.
Result<std::unique_ptr<Store>> open_store(const std::string& spec);
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);
Result<std::unique_ptr<Store>> open_redis_store(const std::string& host, int port);

// The fleet-wide secret for requestState HMACs: the first server to start mints it, the others read it.
Result<std::string> shared_secret(Store& store, const std::string& name);

}  // namespace gannet::mcp
