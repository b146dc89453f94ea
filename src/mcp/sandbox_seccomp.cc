// The sandbox's seccomp-BPF filter, written by hand (linux/filter.h, linux/seccomp.h): a deny-list
// of the calls a shell command never needs and an escape or a kernel exploit usually does, and of
// setuid/setgid mode bits (which the idmapped workspace would turn into host setuid-root files). Denied
// calls fail with EPERM (so tools print an error instead of dying); a foreign architecture or the
// x32 ABI kills the process, since syscall numbers would mean something else there.
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <cerrno>

#include "mcp/sandbox_internal.h"

namespace gannet::mcp {

namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kAuditArch = 0;  // unsupported: build_seccomp_filter() returns no filter
#endif

// Namespace flags a command may not create (clone); unshare and setns are denied outright.
constexpr uint32_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
                                     | CLONE_NEWNET | CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */;

constexpr uint32_t kDenied[] = {
    // Filesystem namespace: the sandbox's mounts are final.
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_open_tree,
    SYS_move_mount,
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fspick,
    SYS_mount_setattr,
    SYS_name_to_handle_at,
    SYS_open_by_handle_at,
    // Namespaces.
    SYS_unshare,
    SYS_setns,
    // Other processes' memory.
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_pidfd_getfd,
    // The kernel itself.
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_reboot,
    SYS_swapon,
    SYS_swapoff,
    SYS_acct,
    SYS_quotactl,
    SYS_syslog,
    SYS_userfaultfd,
    SYS_fanotify_init,
    SYS_vhangup,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_clock_adjtime,
    SYS_adjtimex,
    // io_uring runs operations that seccomp never sees.
    SYS_io_uring_setup,
    SYS_io_uring_enter,
    SYS_io_uring_register,
#if defined(__x86_64__)
    SYS_iopl,
    SYS_ioperm,
    SYS_uselib,
    SYS_lookup_dcookie,
#endif
};

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452  // Linux 6.6; one number on every architecture
#endif

// Calls that set a file's mode, and which argument holds it. The workspace is idmapped to the
// server's uid on disk, so a setuid bit set inside would be a setuid-root file on the host: any
// mode with S_ISUID or S_ISGID is refused (open/creat/mknod create with the given mode).
struct ModeArg {
    uint32_t nr;
    int arg;
};
constexpr ModeArg kModeSetters[] = {
    {SYS_fchmod, 1}, {SYS_fchmodat, 2}, {SYS_fchmodat2, 2}, {SYS_openat, 3}, {SYS_mknodat, 2},
#if defined(__x86_64__)
    {SYS_chmod, 1},  {SYS_open, 2},     {SYS_creat, 1},     {SYS_mknod, 1},
#endif
};
constexpr uint32_t kSetIdBits = 06000;  // S_ISUID | S_ISGID

sock_filter stmt(uint16_t code, uint32_t k) {
    return BPF_STMT(code, k);
}
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    return BPF_JUMP(code, k, jt, jf);
}

enum class ArgTest { kAnyBit, kEqual };

// Appends: if nr == `nr` and argument `arg`'s low 32 bits has any bit of k (kAnyBit) or equals k
// (kEqual), return EPERM; other calls of `nr` are allowed. Calls other than `nr` skip the block
// with the syscall number still in the accumulator.
void add_argument_rule(std::vector<sock_filter>& f, uint32_t nr, int arg, uint32_t k, ArgTest test) {
    constexpr uint32_t kDeny = SECCOMP_RET_ERRNO | EPERM;
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4));
    // Low word of the 64-bit argument (little-endian on both supported architectures).
    f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * arg)));
    f.push_back(jump(BPF_JMP | (test == ArgTest::kEqual ? BPF_JEQ : BPF_JSET) | BPF_K, k, 0, 1));
    f.push_back(stmt(BPF_RET | BPF_K, kDeny));
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
}

}  // namespace

std::vector<sock_filter> build_seccomp_filter() {
    if (kAuditArch == 0) {
        return {};
    }
    std::vector<sock_filter> f;
    f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
    f.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
    // x32 syscalls (bit 30) reuse numbers with other meanings.
    f.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#endif
    for (uint32_t nr : kDenied) {
        f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
        f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    }
    // clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc fall back to
    // clone, whose flags it can.
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
    // openat2 passes its mode in memory: ENOSYS makes libc and tools fall back to openat.
    f.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1));
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
    for (const ModeArg& m : kModeSetters) {
        add_argument_rule(f, m.nr, m.arg, kSetIdBits, ArgTest::kAnyBit);
    }
    add_argument_rule(f, SYS_clone, 0, kNamespaceFlags, ArgTest::kAnyBit);
    // TIOCSTI pushes keystrokes into a terminal outside the sandbox. (Each rule returns for its own
    // syscall, so one rule per syscall number.)
    add_argument_rule(f, SYS_ioctl, 1, TIOCSTI, ArgTest::kEqual);
    f.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    return f;
}

}  // namespace gannet::mcp
