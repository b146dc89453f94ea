// A small flag parser for the subcommands: declare each flag, then parse. Errors are one precise
// line ("run: unknown flag '--foo'", "run: --temp needs a number, got 'x'") so every command can
// print it and exit 1. Flags take "--name value" or "--name=value"; short aliases like "-m".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace gannet::app {

class Flags {
public:
    explicit Flags(std::string command) : command_(std::move(command)) {}

    // Declares flags. `names` is "-m,--model"; the first long name is used in messages.
    void add_string(const std::string& names, std::string* out, const std::string& help);
    void add_strings(const std::string& names, std::vector<std::string>* out, const std::string& help);  // repeatable
    void add_int(const std::string& names, int64_t* out, const std::string& help);
    void add_float(const std::string& names, double* out, const std::string& help);
    void add_bool(const std::string& names, bool* out, const std::string& help);  // presence sets true
    // Positional arguments (anything not starting with '-') are collected here; without this, they are errors.
    void allow_positional(std::vector<std::string>* out) { positional_ = out; }

    // kInvalidArgument with a one-line message on unknown flags, missing or malformed values.
    Status parse(const std::vector<std::string>& args);
    bool was_set(const std::string& long_name) const;
    std::string usage() const;

private:
    enum class Kind { kString, kStrings, kInt, kFloat, kBool };
    struct Spec {
        std::vector<std::string> names;
        Kind kind;
        void* out;
        std::string help;
        bool set = false;
    };
    Spec* find(const std::string& name);

    std::string command_;
    std::vector<Spec> specs_;
    std::vector<std::string>* positional_ = nullptr;
};

// Prints "gannet <command>: <message>" to stderr and returns 1 (the user-error exit code).
int fail(const std::string& command, const Status& status);

}  // namespace gannet::app
