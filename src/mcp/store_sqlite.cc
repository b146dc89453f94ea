// SQLite Store: one table kv(key, value, expires_ms) in WAL mode. One connection per process behind
// a mutex (SQLite serialises writers anyway); busy_timeout lets several processes share the file.
#include <chrono>
#include <filesystem>
#include <mutex>

#include <sqlite3.h>

#include "mcp/request_state.h"
#include "mcp/store.h"

namespace gannet::mcp {

namespace {

struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

class SqliteStore final : public Store {
public:
    SqliteStore(DbPtr db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

    Result<std::optional<std::string>> get(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        return get_locked(key);
    }

    Status put(const std::string& key, const std::string& value, int64_t ttl_ms) override {
        std::lock_guard<std::mutex> lock(mutex_);
        return put_locked(key, value, ttl_ms);
    }

    Result<bool> compare_and_set(const std::string& key, const std::optional<std::string>& expected,
                                 const std::string& value, int64_t ttl_ms) override {
        std::lock_guard<std::mutex> lock(mutex_);
        // BEGIN IMMEDIATE takes the write lock up front, so the read and the write below are atomic
        // against other processes sharing the file too.
        GANNET_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
        Result<std::optional<std::string>> cur = get_locked(key);
        if (!cur.has_value()) {
            exec("ROLLBACK").ignore();
            return cur.error();
        }
        if (cur.value() != expected) {
            exec("ROLLBACK").ignore();
            return false;
        }
        Status s = put_locked(key, value, ttl_ms);
        if (!s.ok()) {
            exec("ROLLBACK").ignore();
            return s;
        }
        GANNET_RETURN_IF_ERROR(exec("COMMIT"));
        return true;
    }

    Status erase(const std::string& key) override {
        std::lock_guard<std::mutex> lock(mutex_);
        GANNET_ASSIGN_OR_RETURN(StmtPtr st, prepare("DELETE FROM kv WHERE key = ?1"));
        sqlite3_bind_text(st.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
        return step_done(st.get(), "delete");
    }

    std::string describe() const override { return "sqlite:" + path_; }

    Status exec(const char* sql) {
        char* err = nullptr;
        int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            std::string msg = err ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            return make_error(ErrorCode::kUnavailable, "store: sqlite %s: %s", sql, msg.c_str());
        }
        return Status();
    }

private:
    Result<StmtPtr> prepare(const char* sql) {
        sqlite3_stmt* st = nullptr;
        int rc = sqlite3_prepare_v2(db_.get(), sql, -1, &st, nullptr);
        if (rc != SQLITE_OK) {
            return make_error(ErrorCode::kUnavailable, "store: sqlite prepare: %s", sqlite3_errmsg(db_.get()));
        }
        return StmtPtr(st);
    }

    Status step_done(sqlite3_stmt* st, const char* what) {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            return make_error(ErrorCode::kUnavailable, "store: sqlite %s: %s", what, sqlite3_errmsg(db_.get()));
        }
        return Status();
    }

    Result<std::optional<std::string>> get_locked(const std::string& key) {
        GANNET_ASSIGN_OR_RETURN(StmtPtr st, prepare("SELECT value, expires_ms FROM kv WHERE key = ?1"));
        sqlite3_bind_text(st.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
        int rc = sqlite3_step(st.get());
        if (rc == SQLITE_DONE) {
            return std::optional<std::string>();
        }
        if (rc != SQLITE_ROW) {
            return make_error(ErrorCode::kUnavailable, "store: sqlite get: %s", sqlite3_errmsg(db_.get()));
        }
        int64_t expires = sqlite3_column_int64(st.get(), 1);
        if (expires > 0 && expires <= now_unix_ms()) {
            return std::optional<std::string>();
        }
        const void* blob = sqlite3_column_blob(st.get(), 0);
        int n = sqlite3_column_bytes(st.get(), 0);
        return std::optional<std::string>(std::string(static_cast<const char*>(blob), static_cast<size_t>(n)));
    }

    Status put_locked(const std::string& key, const std::string& value, int64_t ttl_ms) {
        GANNET_ASSIGN_OR_RETURN(
            StmtPtr st, prepare("INSERT INTO kv(key, value, expires_ms) VALUES(?1, ?2, ?3) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms"));
        sqlite3_bind_text(st.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st.get(), 2, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(st.get(), 3, ttl_ms > 0 ? now_unix_ms() + ttl_ms : 0);
        GANNET_RETURN_IF_ERROR(step_done(st.get(), "put"));
        // Expired rows are swept now and then rather than on every read.
        if (++n_puts_ % 256 == 0) {
            GANNET_ASSIGN_OR_RETURN(StmtPtr sweep, prepare("DELETE FROM kv WHERE expires_ms > 0 AND expires_ms <= ?1"));
            sqlite3_bind_int64(sweep.get(), 1, now_unix_ms());
            GANNET_RETURN_IF_ERROR(step_done(sweep.get(), "sweep"));
        }
        return Status();
    }

    std::mutex mutex_;
    DbPtr db_;  // guarded by mutex_
    std::string path_;
    uint64_t n_puts_ = 0;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
    if (path != ":memory:") {
        std::error_code ec;
        std::filesystem::path parent = std::filesystem::path(path).parent_path();
        if (!parent.empty()) {
            std::filesystem::create_directories(parent, ec);
        }
    }
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             nullptr);
    DbPtr db(raw);
    if (rc != SQLITE_OK) {
        return make_error(ErrorCode::kUnavailable, "store: cannot open sqlite '%s': %s", path.c_str(),
                          raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    }
    sqlite3_busy_timeout(db.get(), 5000);
    auto store = std::make_unique<SqliteStore>(std::move(db), path);
    GANNET_RETURN_IF_ERROR(store->exec("PRAGMA journal_mode=WAL"));
    GANNET_RETURN_IF_ERROR(store->exec("PRAGMA synchronous=NORMAL"));
    GANNET_RETURN_IF_ERROR(
        store->exec("CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_ms INTEGER)"));
    return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> open_store(const std::string& spec) {
    if (spec.rfind("sqlite:", 0) == 0) {
        std::string path = spec.substr(7);
        if (path.empty()) {
            return make_error(ErrorCode::kInvalidArgument, "store: 'sqlite:' needs a path, e.g. sqlite:/tmp/mcp.db");
        }
        return open_sqlite_store(path);
    }
    if (spec.rfind("redis://", 0) == 0) {
        std::string rest = spec.substr(8);
        while (!rest.empty() && rest.back() == '/') {
            rest.pop_back();
        }
        size_t colon = rest.rfind(':');
        std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
        int port = 6379;
        if (colon != std::string::npos) {
            try {
                size_t used = 0;
                port = std::stoi(rest.substr(colon + 1), &used);
                if (used != rest.size() - colon - 1 || port <= 0 || port > 65535) {
                    throw std::invalid_argument("port");
                }
            } catch (const std::exception&) {
                return make_error(ErrorCode::kInvalidArgument, "store: bad redis port in '%s'", spec.c_str());
            }
        }
        if (host.empty()) {
            return make_error(ErrorCode::kInvalidArgument, "store: redis url '%s' has no host", spec.c_str());
        }
        return open_redis_store(host, port);
    }
    return make_error(ErrorCode::kInvalidArgument, "store: unknown store '%s' (expected sqlite:PATH or redis://HOST:PORT)",
                      spec.c_str());
}

Result<std::string> shared_secret(Store& store, const std::string& name) {
    const std::string key = "gannet:secret:" + name;
    GANNET_ASSIGN_OR_RETURN(std::optional<std::string> cur, store.get(key));
    if (cur.has_value() && cur->size() >= 32) {
        return *cur;
    }
    GANNET_ASSIGN_OR_RETURN(bool swapped, store.compare_and_set(key, std::nullopt, random_hex(32), 0));
    (void)swapped;  // lost the race: another server minted it; read theirs
    GANNET_ASSIGN_OR_RETURN(std::optional<std::string> now, store.get(key));
    if (!now.has_value()) {
        return make_error(ErrorCode::kUnavailable, "store: secret '%s' vanished after creation", name.c_str());
    }
    return *now;
}

}  // namespace gannet::mcp
