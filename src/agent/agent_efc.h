// EFC live inside `gannet agent` (docs/efc.md, "Live"): the harness feeds the same EfcScorer that
// `gannet bench efc` uses with each model reply (an action) and each tool result (an event) as they
// happen, writes each event's axis verdicts and the run's EFC into the JSONL transcript, and with
// --efc-stop replans or stops when credited feedback stalls. `gannet agent efc-replay` scores a
// transcript offline from its logged events, so the live numbers can be checked.
// Owned by src/agent/. Thread-safety: pure functions and plain values.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "agent/agent_tools.h"
#include "agent/efc_scorer.h"
#include "base/result.h"

namespace gannet::agent {

// --efc-stop: after each tool step, when the scorer is_stalled() (the last `window` results carry less
// than `min_credit` provisional credit) and `window` results have arrived since the last replan: append
// a replan note (a user message naming the stall) while fewer than `max_replans` were sent, else stop
// the agent with stop_reason "efc_stall".
struct EfcStopConfig {
    bool is_enabled = false;
    int window = 4;
    double min_credit = 0.5;
    int max_replans = 1;
};

// What the scorer reads as the agent's action: the reply's text, then each tool call as
// "name arguments" on its own line (the identifiers a later result is checked against).
std::string efc_action_text(const std::string& content, const nlohmann::json& tool_calls);

// The scorer's view of one tool call: rejected when nothing ran (unknown tool, bad arguments, refused
// by the budget), the exit code from the outcome (docs/efc.md: "Live" for the mapping).
ToolEvent efc_tool_event(const std::string& name, const std::string& arguments, const ToolOutcome& outcome);

// {"informative", "valid", "non_redundant", "max_jaccard", "provisional"} of one scored result.
nlohmann::json efc_event_json(const EventScore& s);

// The user message --efc-stop appends on a stall.
std::string efc_replan_note(int window, double credit);

// Replays every agent of a transcript into a fresh scorer ("start" -> begin_task, each answered
// "model_call" -> add_action, each "tool_call" -> add_tool_event) and returns
// {"agents": {ID: {"efc", "d_task", "efc_per_demand", "n_events", "n_credited"}}}.
// kNotFound: no such file; kDataLoss: a line that is not a JSON object, naming the line.
Result<nlohmann::json> replay_transcript_efc(const std::string& path, const EfcConfig& config);

// `gannet agent efc-replay --transcript FILE`: prints replay_transcript_efc as one JSON line.
int efc_replay_main(const std::vector<std::string>& args);

}  // namespace gannet::agent
