// `gannet bench efc`: the whole command behind one function, so tools/gannet/cmd_bench.cc only
// forwards its arguments (everything after "efc"). Owner: efc helper. Thread-safety: call from one thread.
#pragma once

#include <string>
#include <vector>

namespace gannet::agent {

// Prints one line per trajectory (a table, or JSON objects with --json) and, as the last line of
// stdout, one JSON object with keys trajectories, resolved, auc_efc, auc_tokens, auc_steps,
// auc_tool_calls, r2_* and target_met. Returns 0 on success, 1 with one "gannet bench efc: ..." line
// on stderr for bad flags, unreadable trajectories or trajectories without a recorded outcome.
int bench_efc_main(const std::vector<std::string>& args);

std::string bench_efc_usage();

}  // namespace gannet::agent
