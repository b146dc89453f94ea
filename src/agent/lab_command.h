// `gannet agent lab TASKDIR --agent scripted:NAME`: the whole command behind one function, so
// tools/gannet/cmd_agent.cc only forwards its arguments (everything after "lab"). Owner: efc helper.
// Thread-safety: call from one thread.
#pragma once

#include <string>
#include <vector>

namespace gannet::agent {

// Prints one line per iteration (unless --json) and the run's summary as one JSON object on the last
// line of stdout; --report FILE writes the full JSON report and FILE's .png reward curve. Returns 0
// when the run completed (whatever the detectors say), 1 with one "gannet agent lab: ..." line on
// stderr for bad flags, a bad task or a run that could not be carried out.
int agent_lab_main(const std::vector<std::string>& args);

std::string agent_lab_usage();

}  // namespace gannet::agent
