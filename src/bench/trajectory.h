// Recorded agent trajectories in the shared format (../shared/data/agent-trajectories/README.md):
// a `<name>.steps.jsonl` numeric trace plus a `<name>.text.jsonl.gz` (or plain `.text.jsonl`) with
// the messages, joined by "id". Owner: bench helper. Thread-safety: loaded once, then read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace gannet::bench {

struct Message {
    std::string role;  // "system" | "user" | "assistant"
    std::string content;
};

struct TrajectoryStep {
    size_t n_messages_request = 0;         // request k = messages[0, n_messages_request); the next one is its answer
    int64_t n_tokens_output = 0;           // provider-reported output tokens (incl. hidden reasoning)
    int64_t n_tokens_output_est = 0;       // ceil(visible output chars / 4)
    int64_t n_tokens_prompt_recorded = 0;  // provider-reported prompt tokens (Gemini tokenizer)
    int64_t next_request_gap_ms = -1;      // recorded gap to the next call (upper bound on tool time); -1 if none
};

// The recorded outcome of a trajectory, when its steps file has one ("resolved": true/false).
enum class Outcome { kUnknown, kResolved, kUnresolved };

struct Trajectory {
    std::string id;
    Outcome outcome = Outcome::kUnknown;
    std::vector<Message> messages;
    std::vector<TrajectoryStep> steps;
};

struct TrajectoryLoadOptions {
    size_t max_trajectories = 0;  // 0 = all; otherwise the first N of the steps file, in file order
};

// Reads every `*.steps.jsonl` in `dir` (sorted by name) with its `*.text.jsonl[.gz]` beside it.
// Errors: kNotFound (dir, or no steps file, or a missing text file), kInvalidArgument for a malformed
// line (message names file and 1-based line), kDataLoss when the text and the steps disagree
// (unknown id, assistant-message count differs from n_steps).
Result<std::vector<Trajectory>> load_trajectories(const std::string& dir, const TrajectoryLoadOptions& options = {});

}  // namespace gannet::bench
