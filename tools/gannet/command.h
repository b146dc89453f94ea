// The subcommand registry of the `gannet` binary. Each subcommand lives in its own file
// (cmd_<name>.cc), parses its flags and calls into a part; no logic lives here. A file registers
// itself with GANNET_COMMAND("name", "one-line help", function) at namespace scope.
#pragma once

#include <string>
#include <vector>

namespace gannet::app {

// Returns the process exit code: 0 success, 1 user error (bad flag, bad file), other codes as the
// command documents (e.g. `validate` uses 2 for an unusable schema).
using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
    const char* name;
    const char* help;
    CommandFn fn;
};

std::vector<Command>& command_registry();

struct CommandRegistrar {
    CommandRegistrar(const char* name, const char* help, CommandFn fn) {
        command_registry().push_back(Command{name, help, fn});
    }
};

}  // namespace gannet::app

#define GANNET_COMMAND(name, help, fn) \
    static const ::gannet::app::CommandRegistrar GANNET_CONCAT_(gannet_command_, __LINE__)(name, help, fn)
#ifndef GANNET_CONCAT_
#define GANNET_CONCAT_INNER_(a, b) a##b
#define GANNET_CONCAT_(a, b) GANNET_CONCAT_INNER_(a, b)
#endif
