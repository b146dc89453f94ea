// Runs one shell command of a lab task (`sh -c`) in its run folder with a wall-clock limit, capturing
// stdout and stderr together. The MCP workspace pack has its own runner, sandboxed for untrusted
// agents; lab commands come from the task author, so this one only bounds time and output.
// Owner: efc helper. Thread-safety: each call is independent.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace gannet::agent {

struct CommandResult {
    int exit_code = -1;  // 128 + signal when killed
    bool is_timed_out = false;
    std::string output;  // stdout + stderr, at most the first 64 KiB
    double elapsed_s = 0;
};

// `extra_env` entries are NAME=VALUE strings added to the environment. Errors: kInternal when the
// process cannot be started (pipe/fork failure); a command that fails is a result, not an error.
Result<CommandResult> run_command(const std::string& command, const std::string& cwd, double timeout_s,
                                  const std::vector<std::string>& extra_env);

}  // namespace gannet::agent
