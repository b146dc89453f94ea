// Effective Feedback Compute, scored incrementally (docs/efc.md): feed the task, then the agent's
// actions and the tool results in the order the agent saw them; each result is scored on the four
// axes (informative x valid x non-redundant x retained) and credited once a later action uses what it
// brought. The same scorer serves `gannet bench efc` (recorded trajectories) and a live agent loop
// (`--efc-stop`: ask is_stalled() after each result). Owner: efc helper. Thread-safety: none; one
// scorer per agent run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "agent/efc_axes.h"

namespace gannet::agent {

struct EfcConfig {
    double redundancy_jaccard = 0.9;  // non-redundant: MinHash Jaccard below this vs every earlier credited event
    int64_t context_tokens = 131072;  // retained: only while the event is this close (in tokens) to the using action
    double chars_per_token = 4;       // context distance from characters (the trajectories' own estimate)
    int stall_window = 8;             // is_stalled(): judged over the last this many tool results
    double stall_min_credit = 1.0;    // ... stalled when their provisional credit sums below this
};

// One scored tool result.
struct EventScore {
    double informative = 0;  // 0, 0.25, 0.5 or 1 (informative_level)
    bool is_valid = false;
    bool is_non_redundant = false;
    bool is_retained = false;  // a later action used one of its new identifiers while it was in context
    double max_jaccard = 0;    // against the earlier credited events (0 when there were none)
    size_t n_new_identifiers = 0;
    double provisional() const { return is_valid && is_non_redundant ? informative : 0.0; }  // I*V*N
    double credit() const { return is_retained ? provisional() : 0.0; }                      // I*V*N*R
};

class EfcScorer {
public:
    explicit EfcScorer(EfcConfig config = {});

    // Estimates D_task from the task statement (estimate_task_demand) and marks its identifiers as
    // known: a result that only repeats the task brings nothing new.
    void begin_task(std::string_view task_statement);

    // The agent's next action. Credits every pending result whose new identifiers it uses.
    void add_action(std::string_view action);

    // A tool result; returns its index into events().
    size_t add_tool_event(const ToolEvent& event);

    double efc() const { return efc_; }  // sum of credit() over the results so far
    double d_task() const { return d_task_; }
    double efc_per_demand() const { return efc_ / d_task_; }
    const std::vector<EventScore>& events() const { return events_; }

    // True once at least stall_window results have been seen and the last stall_window of them carry
    // less than stall_min_credit of provisional credit (retention of the newest results cannot be
    // known yet, so it is not required here): credited feedback has stalled; replan or stop.
    bool is_stalled() const;

private:
    struct Pending {
        size_t index;
        int64_t end_chars;  // position of the result's end in the transcript
        std::unordered_set<std::string> new_identifiers;
    };

    EfcConfig config_;
    double d_task_ = 1;
    double efc_ = 0;
    int64_t n_chars_ = 0;                    // transcript length so far (task, actions, results)
    std::unordered_set<std::string> known_;  // every identifier the agent has seen or written
    std::vector<EventScore> events_;
    std::vector<MinHash> credited_;  // signatures of results with provisional credit
    std::vector<Pending> pending_;   // results with provisional credit, not yet retained
};

// D_task: 1 + the number of distinct code-like identifiers in the task statement (dotted names,
// snake_case, CamelCase, names called with "("): each named code entity is one thing the agent must
// locate and check, i.e. at least one feedback event a solution needs. Fixed a priori (docs/efc.md).
double estimate_task_demand(std::string_view task_statement);

}  // namespace gannet::agent
