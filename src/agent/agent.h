// `gannet agent`: a small agent harness in the style of mini-swe-agent. The model is called over
// the OpenAI API (any endpoint), tools over MCP (any server; our workspace pack by default); tool
// arguments are validated against the tool's inputSchema before the call, results are appended to
// the conversation, the run stops at an answer, the step limit or the budget, and every event goes
// to a JSONL transcript. Sub-agents by delegation: a parent split()s its affine budget into its
// children, which run concurrently, and merges back what they leave; a budget is never copied.
// Every model call first splits off its reservation (estimated prompt + output cap) and sends the
// output cap as max_tokens, so the server enforces what the harness reserved.
// Owned by src/agent/. Thread-safety: run_agent() may run concurrently on different budgets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_efc.h"
#include "agent/agent_model.h"
#include "agent/agent_transcript.h"
#include "base/result.h"
#include "budget/budget.h"
#include "budget/estimator.h"

namespace gannet::agent {

struct AgentConfig {
    ModelEndpoint endpoint;
    std::string mcp_url;              // empty: no tools
    std::string system_prompt;        // empty: the default one
    int64_t max_steps = 8;            // model calls per agent
    uint64_t max_output_tokens = 64;  // output cap per model call (the static output reservation)
    int n_children = 0;               // delegation fan-out of the root agent
    double temperature = 0.7;
    uint64_t seed = 1;
    uint64_t tool_cost = 0;  // tokens each tool call costs (mirror the server's tool_costs)
    size_t max_tool_result_bytes = 600;
    const budget::PromptEstimator* prompt_estimator = nullptr;  // null: bytes x 2.0
    budget::P99OutputEstimator* output_estimator = nullptr;     // null: max_output_tokens (static)
    AgentTranscript* transcript = nullptr;                      // null: none
    EfcStopConfig efc_stop;  // the EFC scorer always runs; this decides whether a stall replans/stops
};

struct AgentOutcome {
    std::string agent_id;  // "0", "0.1", ...
    std::string answer;    // the last assistant text
    // "answer", "max_steps", "budget", "server_refused", "context", "error", "efc_stall"
    std::string stop_reason;
    int64_t n_model_calls = 0;
    int64_t n_tool_calls = 0;
    uint64_t spent_tokens = 0;     // model usage + tool costs paid from the budget (children included)
    uint64_t reserved_tokens = 0;  // sum of the reservations made (for the over-reservation factor)
    uint64_t billed_tokens = 0;    // sum of the usage the server billed
    int64_t n_violations = 0;      // calls billed more than reserved (estimator assumption A1 broken)
    int64_t n_false_refusals = 0;  // the server refused (429) a call the harness had reserved for
    double efc = 0;                // this agent's own Effective Feedback Compute (children not summed)
    double d_task = 1;
    int64_t n_efc_replans = 0;  // replan notes --efc-stop sent
    std::vector<AgentOutcome> children;
};

struct AgentRun {
    AgentOutcome outcome;
    std::optional<budget::Budget> leftover;  // what the budget still holds, handed back to the caller
};

// Runs one agent on `task` with `budget` (consumed; the rest comes back in AgentRun::leftover).
// Errors: an unreachable model or MCP endpoint, a transcript that cannot be written. Running out of
// budget, steps or context is an outcome, not an error.
Result<AgentRun> run_agent(const AgentConfig& config, const std::string& task, budget::Budget&& budget,
                           const std::string& agent_id = "0");

}  // namespace gannet::agent
