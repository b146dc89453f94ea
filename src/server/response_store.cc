#include "server/response_store.h"

#include "json/json.h"

namespace gannet::server {

bool ResponseStore::put(const std::string& id, nlohmann::json conversation, nlohmann::json response) {
    // The serialized sizes stand for the memory held (the DOM is a small multiple of them).
    const size_t size_bytes = gannet::json::dump(conversation).size() + gannet::json::dump(response).size();
    if (size_bytes > max_bytes_)
        return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(id); it != entries_.end()) {
        n_bytes_ -= it->second.size_bytes;
        entries_.erase(it);
    }
    entries_[id] = Entry{std::move(conversation), std::move(response), size_bytes};
    order_.push_back(id);
    n_bytes_ += size_bytes;
    evict_locked();
    return true;
}

void ResponseStore::evict_locked() {
    while ((n_bytes_ > max_bytes_ || entries_.size() > max_entries_) && !order_.empty()) {
        auto it = entries_.find(order_.front());
        order_.pop_front();
        if (it == entries_.end())
            continue;  // erased already
        n_bytes_ -= it->second.size_bytes;
        entries_.erase(it);
    }
    // Erased ids leave stale order_ entries behind; keep the deque from outgrowing the map.
    if (order_.size() > 2 * max_entries_ + 16) {
        std::deque<std::string> live;
        for (const std::string& id : order_) {
            if (entries_.count(id) != 0)
                live.push_back(id);
        }
        order_ = std::move(live);
    }
}

std::optional<nlohmann::json> ResponseStore::conversation(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end())
        return std::nullopt;
    return it->second.conversation;
}

std::optional<nlohmann::json> ResponseStore::response(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end())
        return std::nullopt;
    return it->second.response;
}

bool ResponseStore::erase(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end())
        return false;
    n_bytes_ -= it->second.size_bytes;
    entries_.erase(it);
    return true;
}

size_t ResponseStore::size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
}

}  // namespace gannet::server
