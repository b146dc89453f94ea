// libFuzzer target: JSON-RPC / MCP messages through mcp::Server::handle(), the entry point of
// POST /mcp, with the conformance tool pack (tools with input schemas, prompts, resources, tasks)
// and a SQLite store in a temp dir. The first byte picks the headers: those a 2026-07-28 client
// derives from the body (MCP-Protocol-Version, Mcp-Method, Mcp-Name), a 2025-11-25 client's, or
// none; the rest is the body. Every request must be answered (within 2 s) with a status; nothing
// may crash, hang or leak. Seeds: fuzz/corpus/mcp_fuzz/.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "json/json.h"
#include "mcp/server.h"
#include "mcp/tool_packs.h"

namespace {

using gannet::mcp::HttpHeaders;

// Collects one answer; wait() returns once send() or end() was called, or after the deadline (a
// stream left open is then closed as a vanished client would).
class FuzzReply final : public gannet::mcp::HttpReply {
public:
    void send(int status, HttpHeaders, std::string body) override { finish(status, body.size()); }
    void begin_stream(int status, HttpHeaders) override {
        std::lock_guard<std::mutex> lock(mutex_);
        status_ = status;
    }
    void write(std::string chunk) override {
        std::lock_guard<std::mutex> lock(mutex_);
        n_bytes_ += chunk.size();
    }
    void end() override { finish(status_, 0); }
    bool is_closed() const override {
        std::lock_guard<std::mutex> lock(mutex_);
        return is_closed_;
    }
    void on_close(std::function<void()> fn) override {
        std::lock_guard<std::mutex> lock(mutex_);
        on_close_.push_back(std::move(fn));
    }
    void wait() {
        std::vector<std::function<void()>> callbacks;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            if (!cv_.wait_for(lock, std::chrono::seconds(2), [&] { return is_done_; })) {
                is_closed_ = true;
                callbacks.swap(on_close_);
            }
        }
        for (auto& fn : callbacks) {
            fn();
        }
    }

private:
    void finish(int status, size_t n_bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        status_ = status;
        n_bytes_ += n_bytes;
        is_done_ = true;
        cv_.notify_all();
    }

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    int status_ = 0;
    size_t n_bytes_ = 0;
    bool is_done_ = false;
    bool is_closed_ = false;
    std::vector<std::function<void()>> on_close_;
};

gannet::mcp::Server& server() {
    static std::unique_ptr<gannet::mcp::Server> s = [] {
        gannet::mcp::Registry registry;
        gannet::mcp::add_conformance_pack(registry);
        const std::string db =
            (std::filesystem::temp_directory_path() / ("gannet_mcp_fuzz_" + std::to_string(getpid()) + ".db")).string();
        std::filesystem::remove(db);
        std::shared_ptr<gannet::mcp::Store> store(gannet::mcp::open_sqlite_store(db).value());
        gannet::mcp::ServerConfig config;
        config.n_workers = 2;
        return gannet::mcp::Server::create(config, std::move(registry), store, gannet::mcp::Auth(), nullptr).value();
    }();
    return *s;
}

// The headers a modern client sends for this body (when it is a JSON-RPC object).
void add_derived_headers(const std::string& body, gannet::mcp::HttpCall& call) {
    call.headers["mcp-protocol-version"] = gannet::mcp::kModernVersion;
    gannet::Result<nlohmann::json> doc = gannet::json::parse(body);
    if (!doc.has_value() || !doc->is_object()) {
        return;
    }
    auto method = doc->find("method");
    if (method != doc->end() && method->is_string()) {
        call.headers["mcp-method"] = method->get<std::string>();
    }
    auto params = doc->find("params");
    if (params != doc->end() && params->is_object()) {
        for (const char* key : {"name", "uri", "taskId"}) {
            auto it = params->find(key);
            if (it != params->end() && it->is_string()) {
                call.headers["mcp-name"] = it->get<std::string>();
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    gannet::mcp::HttpCall call;
    call.method = "POST";
    call.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    call.headers["content-type"] = "application/json";
    call.headers["accept"] = "application/json, text/event-stream";
    call.headers["host"] = "127.0.0.1";
    switch (data[0] % 3) {
        case 0: add_derived_headers(call.body, call); break;
        case 1: call.headers["mcp-protocol-version"] = "2025-11-25"; break;
        default: break;
    }
    auto reply = std::make_shared<FuzzReply>();
    server().handle(std::move(call), reply);
    reply->wait();
    return 0;
}
