// `gannet bench replay`: the whole command behind one function, so tools/gannet/cmd_bench.cc only
// forwards its arguments (everything after "replay"). Owner: bench helper.
// Thread-safety: call from one thread; it starts and joins its own.
#pragma once

#include <string>
#include <vector>

namespace gannet {

// Prints a progress line on stderr, per-level lines on stdout (unless --json) and the JSON summary
// as the last line of stdout. Returns 0 on success (whether or not the SLO was met), 1 with one
// "gannet bench replay: ..." line on stderr for bad flags, an unreachable endpoint, bad trajectory
// files, or a level in which every request failed.
int bench_replay_main(const std::vector<std::string>& args);

}  // namespace gannet
