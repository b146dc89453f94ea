// AgentTranscript: the JSONL record of an agent run, one event per line (model calls with their
// reservations and usage, tool calls with arguments and results, delegation, the final outcome).
// Sub-agents write to the same file, tagged with their agent id ("0", "0.1", ...).
// Owned by src/agent/. Thread-safe: write() serialises lines under a mutex.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"

namespace gannet::agent {

class AgentTranscript {
public:
    AgentTranscript() = default;  // discards everything until open()
    ~AgentTranscript();
    // An empty path writes nothing. kInvalidArgument (naming the path) when the file cannot be created.
    Status open(const std::string& path);
    AgentTranscript(const AgentTranscript&) = delete;
    AgentTranscript& operator=(const AgentTranscript&) = delete;

    // Adds "t_ms" (since open), "agent" and "event" to `fields` and appends one line.
    void write(const std::string& agent_id, const std::string& event, nlohmann::json fields);

private:
    std::mutex mu_;
    FILE* file_ = nullptr;  // guarded by mu_; null: discard
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

}  // namespace gannet::agent
