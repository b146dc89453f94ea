// `gannet agent` and `gannet agent budget-experiment`: the whole commands behind functions, so
// tools/gannet/cmd_agent.cc only dispatches. Owned by src/agent/.
// Thread-safety: call from the main thread; they start and join their own threads.
#pragma once

#include <string>
#include <vector>

namespace gannet::agent {

// Runs one agent (and its sub-agents); prints the answer, then one JSON summary line on stdout.
// 0 when the run ended (answer, steps, budget or context), 1 with one "gannet agent: ..." line on
// stderr for bad flags or an unreachable endpoint.
int agent_main(const std::vector<std::string>& args);

// The Token Budgets paper's experiments against a gannet server (agent_experiment.h).
int budget_experiment_main(const std::vector<std::string>& args);

}  // namespace gannet::agent
