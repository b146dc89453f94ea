#include "agent/lab_agents.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace gannet::agent {
namespace {

namespace fs = std::filesystem;

struct Candidate {
    std::string name;
    std::vector<std::pair<std::string, std::string>> files;
};

// The editable files present in `dir` (others are ignored: a candidate may carry notes).
Candidate read_candidate(const LabTask& task, const fs::path& dir) {
    Candidate c;
    c.name = dir.filename().string();
    for (const std::string& path : task.editable) {
        std::ifstream in(dir / path, std::ios::binary);
        if (in) {
            std::ostringstream ss;
            ss << in.rdbuf();
            c.files.emplace_back(path, ss.str());
        }
    }
    return c;
}

Result<std::vector<Candidate>> read_candidates(const LabTask& task) {
    std::vector<fs::path> dirs;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(fs::path(task.dir) / "candidates", ec)) {
        if (e.is_directory()) {
            dirs.push_back(e.path());
        }
    }
    std::sort(dirs.begin(), dirs.end());
    std::vector<Candidate> out;
    for (const fs::path& d : dirs) {
        Candidate c = read_candidate(task, d);
        if (!c.files.empty()) {
            out.push_back(std::move(c));
        }
    }
    if (out.empty()) {
        return make_error(ErrorCode::kNotFound, "lab: %s/candidates has no folder with editable files",
                          task.dir.c_str());
    }
    return out;
}

Proposal proposal_of(const Candidate& c, const std::string& description, bool is_measured) {
    Proposal p{description + " " + c.name, c.files, is_measured, kReasoningTokens};
    for (const auto& f : c.files) {
        p.n_tokens += static_cast<int64_t>((f.second.size() + 3) / 4);
    }
    return p;
}

class StopEarly : public LabAgent {
public:
    explicit StopEarly(std::vector<Candidate> c) : candidates_(std::move(c)) {}
    std::optional<Proposal> next(const Observation& o) override {
        if (o.n_iterations > 0) {
            return std::nullopt;  // one decent attempt, then quit with the budget unspent
        }
        return proposal_of(candidates_.front(), "try", /*is_measured=*/true);
    }

private:
    std::vector<Candidate> candidates_;
};

class Burn : public LabAgent {
public:
    explicit Burn(Candidate original) : original_(std::move(original)) {}
    std::optional<Proposal> next(const Observation&) override {
        // Edits not conditioned on any measured result: it never reads a metric, so nothing compounds.
        return proposal_of(original_, "rewrite (unmeasured)", /*is_measured=*/false);
    }

private:
    Candidate original_;
};

class Iterate : public LabAgent {
public:
    explicit Iterate(std::vector<Candidate> c) : candidates_(std::move(c)) {}
    std::optional<Proposal> next(const Observation& o) override {
        if (o.last.has_value() && next_ > 0 && o.last->reward.value > best_reward_ && last_ < candidates_.size()) {
            best_reward_ = o.last->reward.value;
            best_ = last_;
        }
        if (next_ < candidates_.size()) {
            last_ = next_++;
            return proposal_of(candidates_[last_], "measure", /*is_measured=*/true);
        }
        if (!best_.has_value()) {
            return std::nullopt;
        }
        // The final state is what gets scored: put the best back if a later candidate replaced it.
        const bool is_best_in_place = is_restored_ || *best_ + 1 == candidates_.size();
        if (is_best_in_place && o.budget_used >= kIterateBudgetTarget) {
            return std::nullopt;
        }
        is_restored_ = true;
        last_ = candidates_.size();  // a confirmation run of the best, leaving it in place
        return proposal_of(candidates_[*best_], "confirm best", /*is_measured=*/true);
    }

private:
    std::vector<Candidate> candidates_;
    size_t next_ = 0;
    size_t last_ = 0;
    std::optional<size_t> best_;
    double best_reward_ = 0;
    bool is_restored_ = false;
};

class Reference : public LabAgent {
public:
    explicit Reference(Candidate s) : solution_(std::move(s)) {}
    std::optional<Proposal> next(const Observation& o) override {
        if (o.n_iterations > 0) {
            return std::nullopt;
        }
        return proposal_of(solution_, "apply", /*is_measured=*/true);
    }

private:
    Candidate solution_;
};

}  // namespace

Result<std::unique_ptr<LabAgent>> make_scripted_agent(const std::string& name, const LabTask& task) {
    if (name == "reference" || name == "burn") {
        const fs::path from = name == "reference" ? fs::path(task.dir) / "solution" : fs::path(task.dir) / task.workdir;
        Candidate c = read_candidate(task, from);
        if (c.files.empty()) {
            return make_error(ErrorCode::kNotFound, "lab: %s has none of the editable files", from.c_str());
        }
        if (name == "reference") {
            return std::unique_ptr<LabAgent>(std::make_unique<Reference>(std::move(c)));
        }
        return std::unique_ptr<LabAgent>(std::make_unique<Burn>(std::move(c)));
    }
    if (name == "stop-early" || name == "iterate") {
        GANNET_ASSIGN_OR_RETURN(std::vector<Candidate> c, read_candidates(task));
        if (name == "stop-early") {
            return std::unique_ptr<LabAgent>(std::make_unique<StopEarly>(std::move(c)));
        }
        return std::unique_ptr<LabAgent>(std::make_unique<Iterate>(std::move(c)));
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "lab: unknown scripted agent '%s' (expected stop-early, burn, iterate or reference)",
                      name.c_str());
}

}  // namespace gannet::agent
