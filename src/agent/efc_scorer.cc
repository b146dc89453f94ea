#include "agent/efc_scorer.h"

#include <algorithm>
#include <cctype>

namespace gannet::agent {
namespace {

bool is_code_like(std::string_view id) {
    if (id.find('_') != std::string_view::npos || id.find('.') != std::string_view::npos) {
        return true;
    }
    bool has_lower = false;
    bool has_inner_upper = false;
    for (size_t i = 0; i < id.size(); ++i) {
        has_lower |= std::islower(static_cast<unsigned char>(id[i])) != 0;
        has_inner_upper |= i > 0 && std::isupper(static_cast<unsigned char>(id[i])) != 0;
    }
    return has_lower && has_inner_upper;
}

}  // namespace

double estimate_task_demand(std::string_view task_statement) {
    std::unordered_set<std::string> code;
    for (const std::string& id : identifiers(task_statement)) {
        if (std::isdigit(static_cast<unsigned char>(id[0])) != 0) {
            continue;
        }
        const size_t at = task_statement.find(id + "(");
        if (is_code_like(id) || at != std::string_view::npos) {
            code.insert(id);
        }
    }
    return 1.0 + static_cast<double>(code.size());
}

EfcScorer::EfcScorer(EfcConfig config) : config_(config) {}

void EfcScorer::begin_task(std::string_view task_statement) {
    d_task_ = estimate_task_demand(task_statement);
    std::unordered_set<std::string> ids = identifiers(task_statement);
    known_.insert(ids.begin(), ids.end());
    n_chars_ += static_cast<int64_t>(task_statement.size());
}

void EfcScorer::add_action(std::string_view action) {
    const std::unordered_set<std::string> used = identifiers(action);
    const double window_chars = static_cast<double>(config_.context_tokens) * config_.chars_per_token;
    std::erase_if(pending_, [&](const Pending& p) {
        if (static_cast<double>(n_chars_ - p.end_chars) > window_chars) {
            return true;  // compacted out of the context before anything used it
        }
        const bool is_used = std::any_of(p.new_identifiers.begin(), p.new_identifiers.end(),
                                         [&](const std::string& id) { return used.contains(id); });
        if (is_used) {
            events_[p.index].is_retained = true;
            efc_ += events_[p.index].credit();
        }
        return is_used;
    });
    known_.insert(used.begin(), used.end());
    n_chars_ += static_cast<int64_t>(action.size());
}

size_t EfcScorer::add_tool_event(const ToolEvent& event) {
    EventScore s;
    std::unordered_set<std::string> fresh;
    for (const std::string& id : identifiers(event.output)) {
        if (!known_.contains(id)) {
            fresh.insert(id);
        }
    }
    known_.insert(fresh.begin(), fresh.end());
    s.n_new_identifiers = fresh.size();
    s.informative = informative_level(event, !fresh.empty());
    s.is_valid = is_valid(event);
    const MinHash sig = minhash(event.output);
    for (const MinHash& c : credited_) {
        s.max_jaccard = std::max(s.max_jaccard, jaccard(sig, c));
    }
    s.is_non_redundant = s.max_jaccard < config_.redundancy_jaccard;
    n_chars_ += static_cast<int64_t>(event.output.size());
    const size_t index = events_.size();
    events_.push_back(s);
    if (s.provisional() > 0) {
        credited_.push_back(sig);
        if (!fresh.empty()) {
            pending_.push_back(Pending{index, n_chars_, std::move(fresh)});
        }
    }
    return index;
}

bool EfcScorer::is_stalled() const {
    const size_t w = static_cast<size_t>(std::max(config_.stall_window, 1));
    if (events_.size() < w) {
        return false;
    }
    double sum = 0;
    for (size_t i = events_.size() - w; i < events_.size(); ++i) {
        sum += events_[i].provisional();
    }
    return sum < config_.stall_min_credit;
}

}  // namespace gannet::agent
