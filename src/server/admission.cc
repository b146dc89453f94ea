#include "server/admission.h"

#include <utility>

namespace gannet::server {

Admission::Ticket::Ticket(Ticket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), client_(std::move(other.client_)) {}

Admission::Ticket& Admission::Ticket::operator=(Ticket&& other) noexcept {
    if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        client_ = std::move(other.client_);
    }
    return *this;
}

void Admission::Ticket::release() {
    if (Admission* owner = std::exchange(owner_, nullptr)) {
        owner->release(client_);
    }
}

int Admission::try_admit(const std::string& client, Ticket& ticket) {
    ticket.release();
    std::lock_guard<std::mutex> lock(mutex_);
    if (max_in_flight_ > 0 && n_in_flight_ >= max_in_flight_) {
        return 503;
    }
    int& n_client = per_client_[client];
    if (max_per_client_ > 0 && n_client >= max_per_client_) {
        return 429;
    }
    ++n_client;
    ++n_in_flight_;
    ticket.owner_ = this;
    ticket.client_ = client;
    return 0;
}

int Admission::n_in_flight() {
    std::lock_guard<std::mutex> lock(mutex_);
    return n_in_flight_;
}

void Admission::release(const std::string& client) {
    std::lock_guard<std::mutex> lock(mutex_);
    --n_in_flight_;
    auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second <= 0) {
        per_client_.erase(it);
    }
}

std::string client_of_peer(const std::string& peer) {
    const size_t colon = peer.rfind(':');
    return colon == std::string::npos ? peer : peer.substr(0, colon);
}

}  // namespace gannet::server
