// gannet: one binary, one thin subcommand per job. Subcommands register themselves (command.h).
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "command.h"

namespace gannet::app {

std::vector<Command>& command_registry() {
    static std::vector<Command> registry;
    return registry;
}

namespace {

constexpr int kExitInternalError = 70;  // EX_SOFTWARE: distinct from 1, a user or input error

void print_help() {
    std::printf("gannet: serves LLM agents end to end\n\nusage: gannet <command> [flags]\n\ncommands:\n");
    for (const Command& c : command_registry()) {
        std::printf("  %-12s %s\n", c.name, c.help);
    }
    std::printf("\nRun 'gannet <command> --help' for a command's flags.\n");
}

}  // namespace
}  // namespace gannet::app

int main(int argc, char** argv) {
    using gannet::app::command_registry;
    using gannet::app::kExitInternalError;
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0
        || std::strcmp(argv[1], "help") == 0) {
        gannet::app::print_help();
        return argc < 2 ? 1 : 0;
    }
    const std::string name = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& c : command_registry()) {
        if (name == c.name) {
            // Errors are values; an exception reaching here is a bug (or memory exhausted). The last
            // line of defence prints one clean line instead of std::terminate's abort.
            try {
                return c.fn(args);
            } catch (const std::bad_alloc&) {
                std::fprintf(stderr, "gannet: internal error: %s: out of memory (std::bad_alloc)\n", c.name);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "gannet: internal error: %s: %s\n", c.name, e.what());
            } catch (...) {
                std::fprintf(stderr, "gannet: internal error: %s: unknown exception\n", c.name);
            }
            return kExitInternalError;
        }
    }
    std::fprintf(stderr, "gannet: unknown command '%s' (run 'gannet --help' for the list)\n", name.c_str());
    return 1;
}
