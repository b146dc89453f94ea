// `gannet agent ...`: agent tools (src/agent/). `agent lab` runs an experiment loop on a task folder.
#include <cstdio>

#include "agent/lab_command.h"
#include "command.h"

namespace gannet::app {
namespace {

int run_agent(const std::vector<std::string>& args) {
    if (!args.empty() && args[0] == "lab") {
        return agent::agent_lab_main({args.begin() + 1, args.end()});
    }
    std::fprintf(stderr, "gannet agent: expected a subcommand: lab (see gannet agent lab --help)\n");
    return 1;
}

}  // namespace

GANNET_COMMAND("agent", "agent tools: `agent lab TASKDIR --agent scripted:NAME` runs an experiment loop", run_agent);

}  // namespace gannet::app
