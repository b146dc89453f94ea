// Sandbox: runs one shell command per call inside fresh Linux isolation layers, so a command an
// agent writes can read and write its workspace and nothing else of the host. Layers (each named,
// each refusable by the kernel): user (uid/gid 65534; the workspace idmapped to it when the server
// is root), mount (pivot_root into a fresh root: /workspace rw, /usr ro, private /tmp, minimal /etc
// and /dev, no /sys), pid (+ipc, uts), net (no interfaces), caps (all dropped, no_new_privs),
// seccomp (deny-list BPF), landlock (writes only under /workspace, /tmp, /dev; no TCP), rlimits.
// Owned by src/mcp/. Thread-safety: create() once; spawn() may run on many threads at once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "mcp/unique_fd.h"

namespace gannet::mcp {

enum class SandboxLayer : uint32_t {
    kUser = 1u << 0,      // unprivileged uid/gid even when the server is root
    kMount = 1u << 1,     // own mount namespace + pivot_root; the workspace the only writable tree
    kPid = 1u << 2,       // own PID (and IPC, UTS) namespace; its init dying kills every process
    kNet = 1u << 3,       // own network namespace: no interfaces, lo down
    kCaps = 1u << 4,      // capabilities dropped (bounding set too) and PR_SET_NO_NEW_PRIVS
    kSeccomp = 1u << 5,   // BPF deny-list: mount, ptrace, bpf, kexec, modules, keyctl, namespaces, ...
    kLandlock = 1u << 6,  // writes only beneath /workspace, /tmp and /dev; TCP bind/connect denied
    kRlimits = 1u << 7,   // CPU, address space, processes, file size, open files
};
inline constexpr uint32_t kAllSandboxLayers = 0xff;

const char* sandbox_layer_name(SandboxLayer layer);
// "landlock,seccomp" -> mask of SandboxLayer bits; kInvalidArgument naming an unknown layer.
Result<uint32_t> parse_sandbox_layers(const std::string& csv);

// Resource limits applied to every process of a command (setrlimit; inherited by children).
struct SandboxLimits {
    int64_t cpu_seconds = 60;                        // RLIMIT_CPU: SIGXCPU, then SIGKILL
    int64_t address_space_bytes = int64_t{4} << 30;  // RLIMIT_AS: malloc fails past this
    int64_t n_processes = 256;                       // RLIMIT_NPROC: fork fails past this
    int64_t file_size_bytes = int64_t{1} << 30;      // RLIMIT_FSIZE: SIGXFSZ / EFBIG past this
    int64_t n_open_files = 1024;                     // RLIMIT_NOFILE
    int64_t tmp_size_bytes = int64_t{256} << 20;     // size of the private tmpfs at /tmp
};

struct SandboxConfig {
    std::string workspace;  // host directory, mounted read-write at /workspace (the cwd)
    uint32_t uid = 65534;   // the command's uid and gid (nobody/nogroup)
    uint32_t gid = 65534;
    SandboxLimits limits;
    uint32_t allow_missing = 0;  // SandboxLayer bits the operator accepts running without
};

class Sandbox {
    struct Key {  // only create() constructs
        explicit Key() = default;
    };

public:
    struct Plan;  // what the child builds; sandbox_internal.h

    // Builds the plan and runs one trial command through every layer. kUnavailable naming the
    // layer (and the failing call) when the kernel refuses one not in allow_missing;
    // kInvalidArgument for an unusable workspace.
    static Result<std::unique_ptr<Sandbox>> create(const SandboxConfig& config);
    explicit Sandbox(Key key);
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    // Starts `/bin/sh -c command` in the sandbox, stdin /dev/null, stdout+stderr onto out_fd.
    // Returns the pid of the sandbox's init (a child of the caller): SIGKILL to it kills every
    // process of the command; waitpid() on it gives the command's exit status (128+N on signal N).
    // kUnavailable naming the layer when a layer fails to come up.
    Result<pid_t> spawn(const std::string& command, int out_fd) const;

    // Layers allowed to be missing that the kernel did refuse (running without them).
    uint32_t missing_layers() const { return missing_; }

private:
    Status probe();
    // spawn(), also telling which allowed layers were missing and which layer was refused.
    Result<pid_t> spawn_impl(const std::string& command, int out_fd, uint32_t* missing, uint32_t* refused) const;

    std::unique_ptr<Plan> plan_;
    uint32_t missing_ = 0;
};

}  // namespace gannet::mcp
