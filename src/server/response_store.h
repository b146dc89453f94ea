// ResponseStore: the responses /v1/responses keeps (store, the API's default), in memory, for
// previous_response_id (the stored conversation continues) and GET / DELETE /v1/responses/{id}.
// Bounded by bytes and count; the oldest go first (an evicted or unknown id is a 400/404 to the
// client, never a crash). Nothing survives a restart. Owner: server. Thread-safety: every method
// is safe from any thread (one mutex; entries are copied in and out).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace gannet::server {

class ResponseStore {
public:
    explicit ResponseStore(size_t max_bytes = size_t{64} << 20, size_t max_entries = 4096)
        : max_bytes_(max_bytes), max_entries_(max_entries) {}

    // conversation: the chat messages up to and including this response's output (instructions
    // excluded: they do not carry over, as in OpenAI's API). An entry larger than max_bytes alone
    // is not kept (returns false).
    bool put(const std::string& id, nlohmann::json conversation, nlohmann::json response);
    std::optional<nlohmann::json> conversation(const std::string& id) const;
    std::optional<nlohmann::json> response(const std::string& id) const;
    bool erase(const std::string& id);
    size_t size() const;

private:
    struct Entry {
        nlohmann::json conversation;
        nlohmann::json response;
        size_t size_bytes = 0;
    };
    void evict_locked();

    size_t max_bytes_;
    size_t max_entries_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;
    std::deque<std::string> order_;  // insertion order; erased ids are skipped when evicting
    size_t n_bytes_ = 0;
};

}  // namespace gannet::server
