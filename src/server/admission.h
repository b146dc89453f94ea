// Admission control of HttpServer: how many requests are in flight, in all and per client, so that
// an overload is refused early (429/503 + Retry-After) instead of queueing without bound. Owned by
// src/server/. Thread-safe: connections on every I/O thread admit and release.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

namespace gannet::server {

class Admission {
public:
    // A held slot; releasing it (or destroying it) frees the slot. Move-only.
    class Ticket {
    public:
        Ticket() = default;
        ~Ticket() { release(); }
        Ticket(Ticket&& other) noexcept;
        Ticket& operator=(Ticket&& other) noexcept;
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        bool is_held() const { return owner_ != nullptr; }
        void release();

    private:
        friend class Admission;
        Admission* owner_ = nullptr;  // outlives the ticket: HttpServer's Impl declares it first
        std::string client_;
    };

    // max_*: 0 means unbounded.
    Admission(int max_in_flight, int max_per_client) : max_in_flight_(max_in_flight), max_per_client_(max_per_client) {}
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;

    // 0 and a held `ticket` when admitted; 503 when the server is at max_in_flight, 429 when
    // `client` is at max_per_client (the server-wide bound is checked first: that is not the
    // client's fault).
    int try_admit(const std::string& client, Ticket& ticket);
    int n_in_flight();

private:
    void release(const std::string& client);

    const int max_in_flight_;
    const int max_per_client_;
    std::mutex mutex_;
    int n_in_flight_ = 0;                              // guarded by mutex_
    std::unordered_map<std::string, int> per_client_;  // guarded by mutex_; no zero entries
};

// The client part of a peer "ADDRESS:PORT" (a client's connections share the address).
std::string client_of_peer(const std::string& peer);

}  // namespace gannet::server
