// The parent side of the command sandbox: builds the Plan once (every string and descriptor the
// child needs, since the child may not allocate), clones the child into its namespaces, writes the
// uid/gid maps when the server is not root, and turns the child's reports into Statuses naming the
// layer that failed. create() proves every layer with one trial command before the tool starts.
#include "mcp/sandbox.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/log.h"
#include "mcp/sandbox_internal.h"

namespace gannet::mcp {

namespace {

struct LayerInfo {
    SandboxLayer layer;
    const char* name;
    unsigned long clone_flags;  // namespaces this layer creates
};

constexpr LayerInfo kLayers[] = {
    {SandboxLayer::kUser, "user", 0},
    {SandboxLayer::kMount, "mount", CLONE_NEWNS},
    {SandboxLayer::kPid, "pid", CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS},
    {SandboxLayer::kNet, "net", CLONE_NEWNET},
    {SandboxLayer::kCaps, "caps", 0},
    {SandboxLayer::kSeccomp, "seccomp", 0},
    {SandboxLayer::kLandlock, "landlock", 0},
    {SandboxLayer::kRlimits, "rlimits", 0},
};

const char* layer_name_of_bit(uint32_t bit) {
    for (const LayerInfo& l : kLayers) {
        if (static_cast<uint32_t>(l.layer) == bit) {
            return l.name;
        }
    }
    return "exec";
}

// The one refusal message: which layer, what failed, and the operator's way out.
Status layer_error(uint32_t bit, const std::string& detail) {
    const char* name = layer_name_of_bit(bit);
    return make_error(ErrorCode::kUnavailable,
                      "sandbox: layer '%s' unavailable: %s (refusing to run commands without it; the operator "
                      "may allow it: --sandbox-allow-missing %s)",
                      name, detail.c_str(), name);
}

Status layer_error(uint32_t bit, const char* what, int err) {
    return layer_error(bit, std::string(what) + ": " + std::strerror(err));
}

Status write_proc_file(pid_t pid, const char* name, const std::string& content) {
    std::string path = str_printf("/proc/%d/%s", static_cast<int>(pid), name);
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.is_valid() || ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
        return make_error(ErrorCode::kUnavailable, "write %s: %s", path.c_str(), std::strerror(errno));
    }
    return Status();
}

// A process parked in a fresh user namespace until `release` closes; the caller writes its maps.
Result<pid_t> clone_parked_userns(UniqueFd* release) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return make_error(ErrorCode::kInternal, "sandbox: pipe: %s", std::strerror(errno));
    }
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        close(fds[1]);
        char byte = 0;
        (void)!::read(fds[0], &byte, 1);  // returns when the parent closes its end
        _exit(0);
    }
    close(fds[0]);
    *release = UniqueFd(fds[1]);
    if (pid < 0) {
        return make_error(ErrorCode::kUnavailable, "clone(CLONE_NEWUSER): %s", std::strerror(errno));
    }
    return static_cast<pid_t>(pid);
}

// The user namespace of the workspace's idmapped mount (server running as root): the server's
// uid/gid on disk appear as the sandbox's, and the sandbox's files are stored as the server's.
Result<UniqueFd> make_idmap_userns(uint32_t uid, uint32_t gid) {
    UniqueFd release;
    GANNET_ASSIGN_OR_RETURN(pid_t pid, clone_parked_userns(&release));
    Status s = write_proc_file(pid, "uid_map", str_printf("%u %u 1\n", geteuid(), uid));
    if (s.ok()) {
        s = write_proc_file(pid, "gid_map", str_printf("%u %u 1\n", getegid(), gid));
    }
    UniqueFd ns(open(str_printf("/proc/%d/ns/user", static_cast<int>(pid)).c_str(), O_RDONLY | O_CLOEXEC));
    int open_errno = errno;
    release.reset();
    waitpid(pid, nullptr, 0);
    if (!s.ok()) {
        return s;
    }
    if (!ns.is_valid()) {
        return make_error(ErrorCode::kUnavailable, "open user namespace: %s", std::strerror(open_errno));
    }
    return ns;
}

// After a clone with `flags` failed: which layer's namespace does the kernel refuse?
LayerInfo find_refused_namespace(unsigned long flags, unsigned long base_flags, int* err) {
    if (base_flags != 0) {  // the user namespace itself (unprivileged server)
        long pid = syscall(SYS_clone, base_flags | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) {
            _exit(0);
        }
        if (pid < 0) {
            *err = errno;
            return kLayers[0];
        }
        waitpid(static_cast<pid_t>(pid), nullptr, 0);
    }
    for (const LayerInfo& l : kLayers) {
        if ((flags & l.clone_flags) == 0) {
            continue;
        }
        long pid = syscall(SYS_clone, base_flags | l.clone_flags | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) {
            _exit(0);
        }
        if (pid < 0) {
            *err = errno;
            return l;
        }
        waitpid(static_cast<pid_t>(pid), nullptr, 0);
    }
    return kLayers[0];  // only the user namespace itself is left
}

// Maps the sandbox's uid/gid in the child's new user namespace to the server's (unprivileged
// server: the only ids it may map).
Status write_id_maps(pid_t pid, uint32_t uid, uint32_t gid) {
    GANNET_RETURN_IF_ERROR(write_proc_file(pid, "setgroups", "deny"));
    GANNET_RETURN_IF_ERROR(write_proc_file(pid, "uid_map", str_printf("%u %u 1\n", uid, geteuid())));
    return write_proc_file(pid, "gid_map", str_printf("%u %u 1\n", gid, getegid()));
}

// Reads the child's reports until EOF (the command was exec'd, or the child died). Returns the
// fatal one (is_fatal == 0 if none); layers that failed but were allowed go into *missing.
SandboxReport read_reports(int fd, uint32_t* missing) {
    SandboxReport fatal;
    SandboxReport r;
    for (;;) {
        ssize_t n = ::read(fd, &r, sizeof(r));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n != static_cast<ssize_t>(sizeof(r))) {
            break;
        }
        if (r.is_fatal) {
            fatal = r;
        } else {
            *missing |= r.layer;
        }
    }
    fatal.what[sizeof(fatal.what) - 1] = '\0';
    return fatal;
}

std::string passwd_file(uint32_t uid, uint32_t gid) {
    return str_printf("root:x:0:0:root:/:/usr/sbin/nologin\nsandbox:x:%u:%u:sandbox:/workspace:/bin/sh\n", uid, gid);
}

// System trees visible read-only, as the host has them: directories bind-mounted, symlinks (Debian
// 12's /bin -> usr/bin, /lib -> usr/lib) recreated.
void add_system_paths(Sandbox::Plan& plan) {
    for (const char* path : {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/alternatives",
                             "/etc/ld.so.cache", "/etc/localtime"}) {
        std::error_code ec;
        auto status = std::filesystem::symlink_status(path, ec);
        if (ec) {
            continue;
        }
        if (std::filesystem::is_symlink(status)) {
            plan.links.push_back({std::filesystem::read_symlink(path, ec).string(), path + 1});
        } else if (std::filesystem::is_directory(status) || std::filesystem::is_regular_file(status)) {
            plan.ro_binds.push_back({path, path + 1, std::filesystem::is_directory(status)});
        }
    }
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
        std::string path = std::string("/dev/") + node;
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
            plan.dev_binds.push_back({path, path.substr(1), /*is_dir=*/false});
        }
    }
    plan.links.push_back({"/proc/self/fd", "dev/fd"});
    plan.links.push_back({"/proc/self/fd/0", "dev/stdin"});
    plan.links.push_back({"/proc/self/fd/1", "dev/stdout"});
    plan.links.push_back({"/proc/self/fd/2", "dev/stderr"});
}

void add_etc_and_env(Sandbox::Plan& plan) {
    plan.files = {{"etc/passwd", passwd_file(plan.uid, plan.gid)},
                  {"etc/group", str_printf("root:x:0:\nsandbox:x:%u:\n", plan.gid)},
                  {"etc/hosts", "127.0.0.1 localhost\n::1 localhost\n"},
                  {"etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"}};
    // A clean environment: the server's (tokens, paths) never reaches the command.
    plan.env_storage = {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                        "HOME=/workspace",
                        "PWD=/workspace",
                        "TMPDIR=/tmp",
                        "USER=sandbox",
                        "LOGNAME=sandbox",
                        "SHELL=/bin/sh",
                        "LANG=C.UTF-8"};
    for (const std::string& e : plan.env_storage) {
        plan.envp.push_back(e.c_str());
    }
    plan.envp.push_back(nullptr);
}

}  // namespace

const char* sandbox_layer_name(SandboxLayer layer) {
    return layer_name_of_bit(static_cast<uint32_t>(layer));
}

Result<uint32_t> parse_sandbox_layers(const std::string& csv) {
    uint32_t mask = 0;
    size_t start = 0;
    while (start < csv.size()) {
        size_t comma = csv.find(',', start);
        std::string name = csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        start = comma == std::string::npos ? csv.size() : comma + 1;
        if (name.empty()) {
            continue;
        }
        bool is_known = false;
        for (const LayerInfo& l : kLayers) {
            if (name == l.name) {
                mask |= static_cast<uint32_t>(l.layer);
                is_known = true;
            }
        }
        if (!is_known) {
            return make_error(ErrorCode::kInvalidArgument,
                              "sandbox: unknown layer '%s' (expected user, mount, pid, net, caps, seccomp, landlock, "
                              "rlimits)",
                              name.c_str());
        }
    }
    return mask;
}

Sandbox::Sandbox(Key) {}
Sandbox::~Sandbox() = default;

Result<std::unique_ptr<Sandbox>> Sandbox::create(const SandboxConfig& config) {
    auto sandbox = std::make_unique<Sandbox>(Key{});
    sandbox->plan_ = std::make_unique<Plan>();
    Plan& plan = *sandbox->plan_;
    std::error_code ec;
    plan.workspace = std::filesystem::canonical(config.workspace, ec).string();
    struct stat st {};
    if (ec || stat(plan.workspace.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return make_error(ErrorCode::kInvalidArgument, "sandbox: workspace '%s' is not a directory",
                          config.workspace.c_str());
    }
    plan.workspace_dev = st.st_dev;
    plan.workspace_ino = st.st_ino;
    plan.is_userns = geteuid() != 0;
    plan.uid = config.uid;
    plan.gid = config.gid;
    plan.allow_missing = config.allow_missing & kAllSandboxLayers;
    plan.limits = config.limits;
    plan.tmp_options = str_printf("mode=1777,size=%lld", static_cast<long long>(config.limits.tmp_size_bytes));
    plan.seccomp = build_seccomp_filter();
    plan.dev_null = UniqueFd(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!plan.dev_null.is_valid()) {
        return make_error(ErrorCode::kUnavailable, "sandbox: open /dev/null: %s", std::strerror(errno));
    }
    add_system_paths(plan);
    add_etc_and_env(plan);
    if (!plan.is_userns) {
        Result<UniqueFd> ns = make_idmap_userns(plan.uid, plan.gid);
        if (!ns.has_value()) {
            if (!(plan.allow_missing & static_cast<uint32_t>(SandboxLayer::kUser))) {
                return layer_error(static_cast<uint32_t>(SandboxLayer::kUser), ns.error().message());
            }
            plan.skip |= static_cast<uint32_t>(SandboxLayer::kUser);
            sandbox->missing_ |= static_cast<uint32_t>(SandboxLayer::kUser);
        } else {
            plan.idmap_userns = std::move(ns).value();
        }
    }
    GANNET_RETURN_IF_ERROR(sandbox->probe());
    for (const LayerInfo& l : kLayers) {
        if (sandbox->missing_ & static_cast<uint32_t>(l.layer)) {
            GANNET_LOG_WARN("sandbox", "layer=%s missing (allowed by the operator): commands run without it", l.name);
        }
    }
    return sandbox;
}

// Runs `true` through every layer; a refused layer the operator allowed is skipped from then on.
Status Sandbox::probe() {
    for (size_t attempt = 0; attempt <= std::size(kLayers); ++attempt) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            return make_error(ErrorCode::kInternal, "sandbox: pipe: %s", std::strerror(errno));
        }
        UniqueFd read_end(fds[0]);
        uint32_t refused = 0;
        Result<pid_t> pid = spawn_impl("true", fds[1], &missing_, &refused);
        close(fds[1]);
        if (!pid.has_value()) {
            if (refused != 0 && (plan_->allow_missing & refused) && !(plan_->skip & refused)) {
                plan_->skip |= refused;
                missing_ |= refused;
                continue;
            }
            return pid.error();
        }
        std::string output;
        char buf[512];
        for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof(buf))) > 0;) {
            output.append(buf, static_cast<size_t>(n));
        }
        int status = 0;
        waitpid(*pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            return make_error(ErrorCode::kUnavailable, "sandbox: trial command `true` failed (status %d): %s", status,
                              output.c_str());
        }
        // A layer that failed part-way (allowed) is not attempted again: every command then gets
        // the same, consistent sandbox (e.g. no idmapped workspace -> no uid switch either).
        plan_->skip |= missing_;
        return Status();
    }
    return make_error(ErrorCode::kInternal, "sandbox: layers kept failing after being skipped");
}

Result<pid_t> Sandbox::spawn(const std::string& command, int out_fd) const {
    uint32_t missing = 0;
    uint32_t refused = 0;
    return spawn_impl(command, out_fd, &missing, &refused);
}

Result<pid_t> Sandbox::spawn_impl(const std::string& command, int out_fd, uint32_t* missing, uint32_t* refused) const {
    const Plan& plan = *plan_;
    // Without the user layer an unprivileged server runs with no namespace of its own.
    bool is_userns = plan.is_userns && !(plan.skip & static_cast<uint32_t>(SandboxLayer::kUser));
    unsigned long base_flags = is_userns ? CLONE_NEWUSER : 0;
    unsigned long flags = base_flags | SIGCHLD;
    for (const LayerInfo& l : kLayers) {
        flags |= (plan.skip & static_cast<uint32_t>(l.layer)) ? 0 : l.clone_flags;
    }
    int report[2];
    int sync[2] = {-1, -1};
    if (pipe2(report, O_CLOEXEC) != 0 || (is_userns && pipe2(sync, O_CLOEXEC) != 0)) {
        return make_error(ErrorCode::kInternal, "sandbox: pipe: %s", std::strerror(errno));
    }
    UniqueFd report_read(report[0]);
    UniqueFd report_write(report[1]);
    UniqueFd sync_read(sync[0]);
    UniqueFd sync_write(sync[1]);
    long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (pid == 0) {
        sandbox_child_main(plan, SandboxChildFds{report_write.get(), sync_read.get(), out_fd}, command.c_str());
    }
    if (pid < 0) {
        int err = errno;
        LayerInfo layer = find_refused_namespace(flags & ~base_flags, base_flags, &err);
        *refused = static_cast<uint32_t>(layer.layer);
        return layer_error(*refused, "clone (creating its namespace)", err);
    }
    report_write.reset();
    sync_read.reset();
    if (is_userns) {
        if (Status s = write_id_maps(static_cast<pid_t>(pid), plan.uid, plan.gid); !s.ok()) {
            kill(static_cast<pid_t>(pid), SIGKILL);
            waitpid(static_cast<pid_t>(pid), nullptr, 0);
            *refused = static_cast<uint32_t>(SandboxLayer::kUser);
            return layer_error(*refused, s.message());
        }
        char byte = 1;
        (void)!::write(sync_write.get(), &byte, 1);
        sync_write.reset();
    }
    SandboxReport fatal = read_reports(report_read.get(), missing);
    if (fatal.is_fatal) {
        waitpid(static_cast<pid_t>(pid), nullptr, 0);
        if (fatal.layer == 0) {
            return make_error(ErrorCode::kInternal, "sandbox: %s: %s", fatal.what, std::strerror(fatal.err));
        }
        *refused = fatal.layer;
        return layer_error(fatal.layer, fatal.what, fatal.err);
    }
    return static_cast<pid_t>(pid);
}

}  // namespace gannet::mcp
