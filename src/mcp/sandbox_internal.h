// Internals of the command sandbox shared by its parent side (sandbox.cc), its child side
// (sandbox_child.cc) and its seccomp filter (sandbox_seccomp.cc). The Plan is built once, before
// any clone, and only read afterwards: the child runs between clone and execve in a copy of a
// multithreaded process, so it may call only async-signal-safe functions and must not allocate.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "mcp/sandbox.h"

namespace gannet::mcp {

struct SandboxBind {
    std::string source;  // host path
    std::string target;  // path relative to the new root ("usr", "etc/ld.so.cache")
    bool is_dir = true;  // the mount point to create: a directory or an empty file
};

struct SandboxLink {
    std::string target;  // what the symlink points to ("usr/bin")
    std::string name;    // relative to the new root ("bin")
};

struct SandboxFile {
    std::string name;  // relative to the new root ("etc/passwd")
    std::string content;
};

struct Sandbox::Plan {
    std::string workspace;    // canonical host path
    dev_t workspace_dev = 0;  // identity of the directory create() opened, checked again in the child
    ino_t workspace_ino = 0;
    bool is_userns = false;  // server not root: a user namespace maps uid -> the server's uid
    UniqueFd idmap_userns;   // server root: the user namespace that idmaps the workspace mount
    UniqueFd dev_null;       // the command's stdin
    uint32_t uid = 65534;
    uint32_t gid = 65534;
    uint32_t skip = 0;           // layers known missing and allowed: not attempted
    uint32_t allow_missing = 0;  // layers whose failure is reported but not fatal
    std::vector<SandboxLink> links;
    std::vector<SandboxBind> ro_binds;
    std::vector<SandboxBind> dev_binds;  // /dev/null, /dev/zero, ... bind-mounted (rw) from the host
    std::vector<SandboxFile> files;
    std::string tmp_options;  // tmpfs options of /tmp
    SandboxLimits limits;
    std::vector<sock_filter> seccomp;  // empty: no filter for this architecture
    std::vector<std::string> env_storage;
    std::vector<const char*> envp;  // points into env_storage; null-terminated
};

// What the child writes to the report pipe for each layer that failed; EOF means the command was
// exec'd. is_fatal = 0 for a layer in allow_missing (the child went on without it).
struct SandboxReport {
    uint32_t layer = 0;  // a SandboxLayer bit, or 0 for the exec itself
    int32_t err = 0;     // errno
    int32_t is_fatal = 0;
    char what[52] = {};  // the failing call, NUL-terminated
};

struct SandboxChildFds {
    int report = -1;  // write end of the report pipe (O_CLOEXEC)
    int sync = -1;    // read end: one byte once the parent has written the uid/gid maps; -1 if none
    int out = -1;     // becomes stdout and stderr
};

// The child after clone(): builds every layer, forks the command and stays as its init.
[[noreturn]] void sandbox_child_main(const Sandbox::Plan& plan, const SandboxChildFds& fds, const char* command);

// The seccomp deny-list for this architecture; empty when the architecture is not supported.
std::vector<sock_filter> build_seccomp_filter();

}  // namespace gannet::mcp
