// The tool side of the agent: the tools of one MCP server through the project's C++ MCP client
// (src/mcp/client.h), offered to the model as OpenAI function tools. Arguments are validated
// against each tool's inputSchema (JSON Schema 2020-12, src/jsonschema/) before any call, so a
// malformed call costs nothing and the model is told exactly what was wrong.
// Owned by src/agent/. Thread-compatible: one AgentTools per agent thread (the MCP client is).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>

#include "base/result.h"
#include "jsonschema/validator.h"
#include "mcp/client.h"

namespace gannet::agent {

struct ToolOutcome {
    bool is_called = false;  // false: refused before the call (unknown tool, bad arguments)
    bool is_error = false;   // the tool or the harness reported an error (the text says which)
    std::string text;        // what the model sees, truncated to max_result_bytes
    // For the EFC scorer's validity axis (docs/efc.md): the command's exit code when the tool ran
    // one (structuredContent.exitCode), else 0/1 from isError for a completed call; none when
    // nothing ran.
    std::optional<int> exit_code;
    bool is_truncated = false;  // text was cut to max_result_bytes
    bool is_timed_out = false;  // structuredContent.isTimedOut
};

class AgentTools {
public:
    // Connects, lists the tools and compiles their inputSchemas. kUnavailable when the server does
    // not answer; kInvalidArgument for a tool whose inputSchema does not compile.
    static Result<AgentTools> connect(const std::string& mcp_url, const std::string& bearer_token);

    // [{"type": "function", "function": {"name", "description", "parameters"}}...]
    const nlohmann::json& openai_tools() const { return openai_tools_; }
    bool has_tool(const std::string& name) const { return validators_.count(name) != 0; }

    // Parses `arguments_json`, validates it and calls the tool. Protocol failures (server gone)
    // are a Status; everything the model caused is a ToolOutcome with is_error.
    Result<ToolOutcome> call(const std::string& name, const std::string& arguments_json, size_t max_result_bytes);

private:
    explicit AgentTools(mcp::Client client) : client_(std::move(client)) {}

    mcp::Client client_;
    nlohmann::json openai_tools_ = nlohmann::json::array();
    std::map<std::string, jsonschema::Validator> validators_;
};

}  // namespace gannet::agent
