// A small flag table for the `gannet agent` commands (src/ cannot use tools/gannet's Flags): each
// flag binds to a variable with its range, and errors name the flag, the bad value and the range.
// Owned by src/agent/. Not thread-safe (a parser is used once, from main).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"

namespace gannet::agent {

class AgentFlags {
public:
    explicit AgentFlags(std::string command) : command_(std::move(command)) {}

    void add_string(const std::string& name, std::string* out, const std::string& help);
    void add_int(const std::string& name, int64_t* out, int64_t lo, int64_t hi, const std::string& help);
    void add_double(const std::string& name, double* out, double lo, double hi, const std::string& help);
    void add_bool(const std::string& name, bool* out, const std::string& help);  // present: true

    // kInvalidArgument: unknown flag, missing value, value out of range or not a number.
    Status parse(const std::vector<std::string>& args);
    std::string usage() const;

private:
    struct Flag {
        std::string name;
        std::string help;
        bool has_value = true;
        std::function<Status(const std::string&)> set;
    };
    std::string command_;
    std::vector<Flag> flags_;
};

}  // namespace gannet::agent
