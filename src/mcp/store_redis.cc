// Redis Store over hiredis (synchronous): a small pool of connections so worker threads do not queue
// behind one socket; a broken connection is dropped and redialled on the next call. CAS is a Lua
// script, which Redis runs atomically.
#include <mutex>
#include <vector>

#include <hiredis/hiredis.h>

#include "mcp/store.h"

namespace gannet::mcp {

namespace {

struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

constexpr const char* kCasScript =
    "local cur = redis.call('GET', KEYS[1]) "
    "if (ARGV[1] == '0' and cur == false) or (ARGV[1] == '1' and cur == ARGV[2]) then "
    "  if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) "
    "  else redis.call('SET', KEYS[1], ARGV[3]) end "
    "  return 1 "
    "end "
    "return 0";

class RedisStore final : public Store {
public:
    RedisStore(std::string host, int port) : host_(std::move(host)), port_(port) {}

    Result<ContextPtr> dial() {
        timeval tv{2, 0};
        ContextPtr c(redisConnectWithTimeout(host_.c_str(), port_, tv));
        if (!c || c->err) {
            return make_error(ErrorCode::kUnavailable, "store: redis %s:%d: %s", host_.c_str(), port_,
                              c ? c->errstr : "out of memory");
        }
        redisSetTimeout(c.get(), timeval{5, 0});
        return c;
    }

    // Runs one command on a pooled connection; argv-style so values are binary-safe.
    Result<ReplyPtr> command(const std::vector<std::string>& args) {
        ContextPtr c;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!pool_.empty()) {
                c = std::move(pool_.back());
                pool_.pop_back();
            }
        }
        if (!c) {
            GANNET_ASSIGN_OR_RETURN(c, dial());
        }
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        ReplyPtr reply(static_cast<redisReply*>(
            redisCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
        if (!reply) {
            // The connection is unusable (server restarted, timeout); one retry on a fresh one.
            GANNET_ASSIGN_OR_RETURN(c, dial());
            reply.reset(static_cast<redisReply*>(
                redisCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), lens.data())));
            if (!reply) {
                return make_error(ErrorCode::kUnavailable, "store: redis %s: %s", args[0].c_str(), c->errstr);
            }
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            return make_error(ErrorCode::kInternal, "store: redis %s: %s", args[0].c_str(), reply->str);
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (pool_.size() < 16) {
            pool_.push_back(std::move(c));
        }
        return reply;
    }

    Result<std::optional<std::string>> get(const std::string& key) override {
        GANNET_ASSIGN_OR_RETURN(ReplyPtr r, command({"GET", key}));
        if (r->type == REDIS_REPLY_NIL) {
            return std::optional<std::string>();
        }
        return std::optional<std::string>(std::string(r->str, r->len));
    }

    Status put(const std::string& key, const std::string& value, int64_t ttl_ms) override {
        if (ttl_ms > 0) {
            GANNET_ASSIGN_OR_RETURN(ReplyPtr r, command({"SET", key, value, "PX", std::to_string(ttl_ms)}));
            return Status();
        }
        GANNET_ASSIGN_OR_RETURN(ReplyPtr r, command({"SET", key, value}));
        return Status();
    }

    Result<bool> compare_and_set(const std::string& key, const std::optional<std::string>& expected,
                                 const std::string& value, int64_t ttl_ms) override {
        GANNET_ASSIGN_OR_RETURN(ReplyPtr r, command({"EVAL", kCasScript, "1", key, expected ? "1" : "0",
                                                     expected.value_or(""), value, std::to_string(ttl_ms)}));
        return r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    }

    Status erase(const std::string& key) override {
        GANNET_ASSIGN_OR_RETURN(ReplyPtr r, command({"DEL", key}));
        return Status();
    }

    std::string describe() const override { return "redis://" + host_ + ":" + std::to_string(port_); }

private:
    std::string host_;
    int port_;
    std::mutex mutex_;
    std::vector<ContextPtr> pool_;  // guarded by mutex_
};

}  // namespace

Result<std::unique_ptr<Store>> open_redis_store(const std::string& host, int port) {
    auto store = std::make_unique<RedisStore>(host, port);
    GANNET_ASSIGN_OR_RETURN(ReplyPtr r, store->command({"PING"}));
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace gannet::mcp
