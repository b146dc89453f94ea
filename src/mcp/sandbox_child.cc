// The child side of the command sandbox: everything between clone() and execve(). This code runs
// in a copy of a multithreaded server, so it calls only async-signal-safe, lock-free functions:
// raw syscalls for everything glibc implements with locks or thread broadcasts (setresuid and
// friends signal every thread glibc believes exists; fork() runs atfork handlers and takes the
// malloc locks). Nothing here allocates. Each layer reports a failure on the report pipe; a layer
// the operator allowed to be missing is skipped, any other failure ends the child (exit 125).
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "mcp/sandbox_internal.h"

namespace gannet::mcp {

namespace {

// Landlock ABI constants, defined here because Debian 12's linux/landlock.h predates ABI 4-6.
constexpr uint64_t kLlWriteFile = 1ull << 1;
constexpr uint64_t kLlFsWriteV1 =
    kLlWriteFile | (1ull << 4) /* remove dir */ | (1ull << 5) /* remove file */ | (1ull << 6) /* make char */
    | (1ull << 7) /* make dir */ | (1ull << 8) /* make reg */ | (1ull << 9)                   /* make sock */
    | (1ull << 10) /* make fifo */ | (1ull << 11) /* make block */ | (1ull << 12) /* make sym */;
constexpr uint64_t kLlRefer = 1ull << 13;                  // ABI 2
constexpr uint64_t kLlTruncate = 1ull << 14;               // ABI 3
constexpr uint64_t kLlNetTcp = (1ull << 0) | (1ull << 1);  // ABI 4: bind, connect
constexpr uint64_t kLlScopes = (1ull << 0) | (1ull << 1);  // ABI 6: abstract unix sockets, signals
constexpr uint32_t kLlCreateVersion = 1u << 0;
constexpr int kLlRulePathBeneath = 1;

struct LandlockRulesetAttr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct [[gnu::packed]] LandlockPathBeneath {
    uint64_t allowed_access;
    int32_t parent_fd;
};

constexpr int kExitSetupFailed = 125;

class Child {
public:
    Child(const Sandbox::Plan& plan, const SandboxChildFds& fds)
        : plan_(plan), fds_(fds), dev_null_(plan.dev_null.get()), idmap_(plan.idmap_userns.get()) {}

    // Runs `fn`; on failure (it returns the failing call) reports `layer`. Returns whether the
    // layer is up. A fatal failure does not return.
    template <typename Fn>
    bool run_layer(SandboxLayer layer, Fn fn) {
        if (plan_.skip & static_cast<uint32_t>(layer)) {
            return false;
        }
        const char* failed = fn();
        if (failed == nullptr) {
            return true;
        }
        report(static_cast<uint32_t>(layer), failed);
        return false;
    }

    void report(uint32_t layer, const char* what) {
        SandboxReport r;
        r.layer = layer;
        r.err = errno;
        r.is_fatal = layer == 0 || (plan_.allow_missing & layer) == 0;
        for (size_t i = 0; what[i] != '\0' && i + 1 < sizeof(r.what); ++i) {
            r.what[i] = what[i];
        }
        (void)!::write(fds_.report, &r, sizeof(r));
        if (r.is_fatal) {
            _exit(kExitSetupFailed);
        }
    }

    [[noreturn]] void main(const char* command);

private:
    void start();
    const char* build_root(bool has_proc);
    const char* mount_workspace(int* tree);
    const char* drop_bounding_set();
    const char* switch_user();
    const char* drop_capabilities();
    const char* set_rlimits();
    const char* restrict_landlock(bool is_mounted);
    const char* install_seccomp();
    [[noreturn]] void run_command(const char* command);

    const Sandbox::Plan& plan_;
    SandboxChildFds fds_;  // a copy: start() may move descriptors
    int dev_null_;         // the command's stdin
    int idmap_;            // the idmapped workspace's user namespace, or -1
};

// Closes every descriptor >= 3 except those in `keep` (any order; -1 entries ignored): the
// server's sockets and database must not live on in the sandbox's init for the length of a command.
template <size_t N>
void close_all_except(int (&keep)[N]) {
    for (size_t i = 1; i < N; ++i) {  // insertion sort: no allocation
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    }
    unsigned lo = 3;
    for (int k : keep) {
        if (k < 0 || static_cast<unsigned>(k) < lo) {
            continue;
        }
        if (static_cast<unsigned>(k) > lo) {
            syscall(SYS_close_range, lo, static_cast<unsigned>(k) - 1, 0);
        }
        lo = static_cast<unsigned>(k) + 1;
    }
    syscall(SYS_close_range, lo, ~0u, 0);
}

// Bind-mounts `source` read-only on `target`. Keeps the flags a less privileged mount namespace
// may not clear (nosuid, noexec, atime), or the remount fails with EPERM inside a user namespace.
bool bind_read_only(const char* source, const char* target) {
    if (mount(source, target, nullptr, MS_BIND, nullptr) != 0) {
        return false;
    }
    struct statfs sf {};
    if (statfs(target, &sf) != 0) {
        return false;
    }
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
    flags |= (sf.f_flags & ST_NOEXEC) ? MS_NOEXEC : 0;
    flags |= (sf.f_flags & ST_NOATIME) ? MS_NOATIME : 0;
    flags |= (sf.f_flags & ST_NODIRATIME) ? MS_NODIRATIME : 0;
    flags |= (sf.f_flags & ST_RELATIME) ? MS_RELATIME : 0;
    return mount(nullptr, target, nullptr, flags, nullptr) == 0;
}

bool make_mount_point(const SandboxBind& b) {
    if (b.is_dir) {
        return mkdir(b.target.c_str(), 0755) == 0 || errno == EEXIST;
    }
    int fd = open(b.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

bool write_whole_file(const SandboxFile& f) {
    int fd = open(f.name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    bool is_ok = ::write(fd, f.content.data(), f.content.size()) == static_cast<ssize_t>(f.content.size());
    close(fd);
    return is_ok;
}

void Child::start() {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the server dying takes the command with it
    setpgid(0, 0);                     // without a PID namespace, the parent kills the group
    // Descriptors we keep move to >= 3 before stdio is replaced: a server started with a closed
    // stdin may have been handed a pipe as fd 0.
    for (int* fd : {&fds_.report, &fds_.sync, &fds_.out, &dev_null_, &idmap_}) {
        if (*fd >= 0 && *fd < 3) {
            *fd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
        }
    }
    if (dup2(dev_null_, 0) < 0 || dup2(fds_.out, 1) < 0 || dup2(fds_.out, 2) < 0) {
        report(0, "dup2 stdio");
    }
    int keep[] = {fds_.report, fds_.sync, idmap_};
    close_all_except(keep);
    if (fds_.sync >= 0) {
        char byte = 0;
        if (::read(fds_.sync, &byte, 1) != 1) {
            _exit(kExitSetupFailed);  // the parent could not write the uid/gid maps and said so
        }
        close(fds_.sync);
    }
}

// A detached clone of the workspace mount, idmapped when the server is root so the sandbox uid
// owns what the server's uid owns (and files it creates are stored as the server's).
const char* Child::mount_workspace(int* tree) {
    *tree = open_tree(AT_FDCWD, plan_.workspace.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (*tree < 0) {
        return "open_tree workspace";
    }
    struct stat st {};
    if (fstat(*tree, &st) != 0 || st.st_dev != plan_.workspace_dev || st.st_ino != plan_.workspace_ino) {
        errno = ESTALE;
        return "workspace replaced since start";
    }
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (idmap_ >= 0 && !(plan_.skip & static_cast<uint32_t>(SandboxLayer::kUser))) {
        mount_attr idmap = attr;
        idmap.attr_set |= MOUNT_ATTR_IDMAP;
        idmap.userns_fd = static_cast<uint64_t>(idmap_);
        if (mount_setattr(*tree, "", AT_EMPTY_PATH, &idmap, sizeof(idmap)) == 0) {
            return nullptr;
        }
        report(static_cast<uint32_t>(SandboxLayer::kUser), "mount_setattr idmap workspace");
    }
    return mount_setattr(*tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0 ? nullptr : "mount_setattr workspace";
}

// A fresh root: tmpfs with /workspace (rw), read-only system trees, private /tmp, minimal /dev and
// /etc, a fresh /proc; then pivot_root into it and make it read-only.
const char* Child::build_root(bool has_proc) {
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        return "mount / private";  // nothing below may propagate back to the host
    }
    int tree = -1;
    if (const char* failed = mount_workspace(&tree)) {
        return failed;
    }
    // The new root is built over /tmp of this (private) namespace; the host's /tmp is untouched.
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") != 0 || chdir("/tmp") != 0) {
        return "mount tmpfs root";
    }
    for (const char* dir : {"workspace", "tmp", "dev", "etc", "proc"}) {
        if (mkdir(dir, 0755) != 0) {
            return "mkdir in new root";
        }
    }
    if (move_mount(tree, "", AT_FDCWD, "workspace", MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        return "move_mount workspace";
    }
    close(tree);
    for (const SandboxBind& b : plan_.ro_binds) {
        if (!make_mount_point(b) || !bind_read_only(b.source.c_str(), b.target.c_str())) {
            return "bind system directory";
        }
    }
    if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan_.tmp_options.c_str()) != 0) {
        return "mount tmpfs /tmp";
    }
    if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") != 0) {
        return "mount tmpfs /dev";
    }
    for (const SandboxBind& b : plan_.dev_binds) {
        if (!make_mount_point(b) || mount(b.source.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
            return "bind /dev node";
        }
    }
    for (const SandboxFile& f : plan_.files) {
        if (!write_whole_file(f)) {
            return "write /etc file";
        }
    }
    for (const SandboxLink& l : plan_.links) {
        if (symlink(l.target.c_str(), l.name.c_str()) != 0) {
            return "symlink in new root";
        }
    }
    // hidepid=invisible hides what the command may not ptrace: its init, which is a copy of the
    // server (whose command line would otherwise show). Older kernels take only numeric values.
    constexpr unsigned long kProcFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (has_proc && mount("proc", "proc", "proc", kProcFlags, "hidepid=invisible") != 0
        && mount("proc", "proc", "proc", kProcFlags, "hidepid=2") != 0) {
        return "mount /proc";
    }
    if (syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) {
        return "pivot_root";
    }
    if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
        return "remount / read-only";
    }
    return chdir("/workspace") == 0 ? nullptr : "chdir /workspace";
}

const char* Child::drop_bounding_set() {
    for (int cap = 0; cap < 64; ++cap) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) {
                break;  // past the kernel's last capability
            }
            if (errno == EPERM) {
                break;  // no CAP_SETPCAP (unprivileged, no user namespace): no_new_privs still
                        // keeps exec from granting any capability
            }
            return "PR_CAPBSET_DROP";
        }
    }
    return nullptr;
}

// Raw syscalls: glibc's set*id wrappers would broadcast to threads that only exist in the parent.
const char* Child::switch_user() {
    if (!plan_.is_userns && syscall(SYS_setgroups, 0, nullptr) != 0) {
        return "setgroups";
    }
    if (syscall(SYS_setresgid, plan_.gid, plan_.gid, plan_.gid) != 0) {
        return "setresgid";
    }
    return syscall(SYS_setresuid, plan_.uid, plan_.uid, plan_.uid) == 0 ? nullptr : "setresuid";
}

const char* Child::drop_capabilities() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capset, &header, data) != 0) {
        return "capset";
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
        return "PR_CAP_AMBIENT_CLEAR_ALL";
    }
    // setuid/setgid bits and file capabilities no longer raise privileges on execve.
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? nullptr : "PR_SET_NO_NEW_PRIVS";
}

const char* Child::set_rlimits() {
    const SandboxLimits& l = plan_.limits;
    const struct {
        int resource;
        int64_t value;
    } limits[] = {{RLIMIT_CPU, l.cpu_seconds},       {RLIMIT_AS, l.address_space_bytes}, {RLIMIT_NPROC, l.n_processes},
                  {RLIMIT_FSIZE, l.file_size_bytes}, {RLIMIT_NOFILE, l.n_open_files},    {RLIMIT_CORE, 0}};
    for (const auto& limit : limits) {
        rlimit r{static_cast<rlim_t>(limit.value), static_cast<rlim_t>(limit.value)};
        // CPU: SIGXCPU at the soft limit (a catchable warning, the usual death), SIGKILL a second
        // later; with soft == hard the kernel would send SIGKILL straight away.
        r.rlim_max += limit.resource == RLIMIT_CPU ? 1 : 0;
        if (setrlimit(limit.resource, &r) != 0) {
            return "setrlimit";
        }
    }
    return nullptr;
}

// Writes (create, remove, rename, link, truncate) only beneath the workspace, /tmp and /dev
// (files only there: `> /dev/null`); TCP bind/connect denied; no signals or abstract sockets out.
const char* Child::restrict_landlock(bool is_mounted) {
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, kLlCreateVersion);
    if (abi < 1) {
        return "landlock_create_ruleset (ABI version)";
    }
    uint64_t fs_write = kLlFsWriteV1 | (abi >= 2 ? kLlRefer : 0) | (abi >= 3 ? kLlTruncate : 0);
    LandlockRulesetAttr attr{fs_write, abi >= 4 ? kLlNetTcp : 0, abi >= 6 ? kLlScopes : 0};
    size_t attr_size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    long ruleset = syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (ruleset < 0) {
        return "landlock_create_ruleset";
    }
    const struct {
        const char* path;
        uint64_t access;
    } rules[] = {{is_mounted ? "/workspace" : plan_.workspace.c_str(), fs_write},
                 {is_mounted ? "/tmp" : nullptr, fs_write},
                 {"/dev", kLlWriteFile | (abi >= 3 ? kLlTruncate : 0)}};
    for (const auto& rule : rules) {
        if (rule.path == nullptr) {
            continue;  // without the mount layer /tmp is the host's: not writable
        }
        int fd = open(rule.path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            return "open landlock rule path";
        }
        LandlockPathBeneath beneath{rule.access, fd};
        long r = syscall(SYS_landlock_add_rule, ruleset, kLlRulePathBeneath, &beneath, 0);
        close(fd);
        if (r != 0) {
            return "landlock_add_rule";
        }
    }
    long r = syscall(SYS_landlock_restrict_self, ruleset, 0);
    close(static_cast<int>(ruleset));
    return r == 0 ? nullptr : "landlock_restrict_self";
}

const char* Child::install_seccomp() {
    if (plan_.seccomp.empty()) {
        errno = EOPNOTSUPP;
        return "no seccomp filter for this architecture";
    }
    sock_fprog prog{static_cast<unsigned short>(plan_.seccomp.size()), const_cast<sock_filter*>(plan_.seccomp.data())};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0 ? nullptr : "seccomp filter";
}

// This process stays as the init of the PID namespace: it reaps every orphan and exits with the
// command's status; its exit makes the kernel kill whatever the command left running.
void Child::run_command(const char* command) {
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) {
        report(0, "clone command");
    }
    if (pid == 0) {
        const char* argv[] = {"sh", "-c", command, nullptr};
        execve("/bin/sh", const_cast<char* const*>(argv), const_cast<char* const*>(plan_.envp.data()));
        report(0, "execve /bin/sh");
    }
    close(fds_.report);
    for (;;) {
        int status = 0;
        long w = syscall(SYS_wait4, -1, &status, 0, nullptr);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            _exit(127);
        }
        if (w == pid) {
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}

void Child::main(const char* command) {
    start();
    bool has_pid_ns = !(plan_.skip & static_cast<uint32_t>(SandboxLayer::kPid));
    bool is_mounted = run_layer(SandboxLayer::kMount, [&] { return build_root(has_pid_ns); });
    if (!is_mounted && chdir(plan_.workspace.c_str()) != 0) {
        report(0, "chdir workspace");
    }
    if (has_pid_ns) {
        sethostname("sandbox", 7);
    }
    run_layer(SandboxLayer::kRlimits, [&] { return set_rlimits(); });
    run_layer(SandboxLayer::kCaps, [&] { return drop_bounding_set(); });
    run_layer(SandboxLayer::kUser, [&] { return switch_user(); });
    run_layer(SandboxLayer::kCaps, [&] { return drop_capabilities(); });
    // Not dumpable: the command (same uid) cannot read this copy of the server's memory through
    // /proc/1/mem, nor reach /proc/1/root or /proc/1/fd.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    run_layer(SandboxLayer::kLandlock, [&] { return restrict_landlock(is_mounted); });
    run_layer(SandboxLayer::kSeccomp, [&] { return install_seccomp(); });
    run_command(command);
}

}  // namespace

void sandbox_child_main(const Sandbox::Plan& plan, const SandboxChildFds& fds, const char* command) {
    Child(plan, fds).main(command);
}

}  // namespace gannet::mcp
