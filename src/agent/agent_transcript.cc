#include "agent/agent_transcript.h"

#include "json/json.h"

namespace gannet::agent {

Status AgentTranscript::open(const std::string& path) {
    if (path.empty()) {
        return Status();
    }
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "agent: --transcript %s: cannot create the file", path.c_str());
    }
    std::lock_guard lock(mu_);
    if (file_ != nullptr) {
        std::fclose(file_);
    }
    file_ = f;
    t0_ = std::chrono::steady_clock::now();
    return Status();
}

AgentTranscript::~AgentTranscript() {
    if (file_ != nullptr) {
        std::fclose(file_);
    }
}

void AgentTranscript::write(const std::string& agent_id, const std::string& event, nlohmann::json fields) {
    const double t_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
    nlohmann::json line = {{"t_ms", t_ms}, {"agent", agent_id}, {"event", event}};
    line.update(fields);
    const std::string text = gannet::json::dump(line) + "\n";
    std::lock_guard lock(mu_);
    if (file_ != nullptr) {
        std::fwrite(text.data(), 1, text.size(), file_);
        std::fflush(file_);  // a crashed run still leaves every finished event on disk
    }
}

}  // namespace gannet::agent
