// Tool packs for `gannet serve --tools PACK,...`:
//   workspace   — read_file, list_dir, write_file, run_command under a workspace root (agents)
//   conformance — the fixtures the official @modelcontextprotocol/conformance suite calls
// Owned by src/mcp/. Registration happens before the Server starts (single-threaded).
#pragma once

#include <string>

#include "base/status.h"
#include "mcp/registry.h"
#include "mcp/sandbox.h"

namespace gannet::mcp {

struct WorkspaceOptions {
    std::string root;                     // every path resolves inside this directory (created if absent)
    int command_timeout_ms = 30000;       // run_command is killed after this
    size_t output_cap_bytes = 64 * 1024;  // stdout+stderr kept per command; the rest is dropped and counted
    size_t read_cap_bytes = 1 << 20;      // read_file refuses larger files
    SandboxLimits limits;                 // rlimits of run_command's processes
    uint32_t sandbox_allow_missing = 0;   // SandboxLayer bits run_command may run without
};

// kInvalidArgument for an unknown pack name or an unusable workspace root; kUnavailable naming the
// sandbox layer the kernel refuses (unless allowed missing), from the workspace pack.
Status add_tool_pack(Registry& registry, const std::string& pack, const WorkspaceOptions& workspace);

void add_conformance_pack(Registry& registry);
Status add_workspace_pack(Registry& registry, const WorkspaceOptions& options);

}  // namespace gannet::mcp
