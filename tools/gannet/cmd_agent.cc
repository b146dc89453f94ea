// `gannet agent`: dispatches to src/agent/: the harness (`agent --task ...`), the Token Budgets
// experiments (`agent budget-experiment`) and experiment loops (`agent lab TASKDIR`). No logic here.
#include "agent/agent_command.h"
#include "agent/lab_command.h"
#include "command.h"

namespace gannet::app {

namespace {

int agent_dispatch(const std::vector<std::string>& args) {
    if (!args.empty() && args[0] == "budget-experiment") {
        return agent::budget_experiment_main({args.begin() + 1, args.end()});
    }
    if (!args.empty() && args[0] == "lab") {
        return agent::agent_lab_main({args.begin() + 1, args.end()});
    }
    return agent::agent_main(args);
}

}  // namespace
}  // namespace gannet::app

GANNET_COMMAND("agent",
               "an agent over the OpenAI API and MCP tools with split budgets; `agent budget-experiment`; "
               "`agent lab TASKDIR --agent scripted:NAME` runs an experiment loop",
               gannet::app::agent_dispatch);
