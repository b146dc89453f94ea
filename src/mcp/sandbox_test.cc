// Escape attempts against the workspace tools, each one that used to work (issue #13), run for
// real: real processes in the real sandbox, real files on disk, a real TCP listener.
#include "mcp/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "mcp/tool_packs.h"

namespace gannet::mcp {
namespace {

namespace fs = std::filesystem;

constexpr char kSecret[] = "TOPSECRET-outside-the-workspace";

struct CommandResult {
    std::string output;
    int exit_code = -1;
    bool is_timed_out = false;
};

std::string read_host_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class SandboxTest : public ::testing::Test {
protected:
    void SetUp() override {
        static int counter = 0;
        base_ =
            fs::temp_directory_path() / ("gannet_sbx_" + std::to_string(getpid()) + "_" + std::to_string(++counter));
        fs::remove_all(base_);
        fs::create_directories(base_ / "ws");
        fs::create_directories(base_ / "outside");
        secret_ = base_ / "outside" / "secret.txt";
        std::ofstream(secret_) << kSecret;
        fs::permissions(secret_, fs::perms::owner_read | fs::perms::owner_write);  // root-only
    }
    void TearDown() override { fs::remove_all(base_); }

    // Registers the workspace pack (which proves the sandbox) with `limits`.
    void start(const SandboxLimits& limits = {}) {
        WorkspaceOptions o;
        o.root = (base_ / "ws").string();
        o.limits = limits;
        o.command_timeout_ms = 10000;
        Status s = add_workspace_pack(registry_, o);
        ASSERT_TRUE(s.ok()) << s.message();
    }

    CallOutcome call(const std::string& tool, Json args) {
        CallContext ctx;
        ctx.arguments = std::move(args);
        return registry_.find_tool(tool)->fn(ctx);
    }

    CommandResult run(const std::string& command, int timeout_ms = 10000) {
        CallOutcome o = call("run_command", {{"command", command}, {"timeout_ms", timeout_ms}});
        CommandResult r;
        r.output = o.result["content"][0].value("text", "");
        r.exit_code = o.result["structuredContent"].value("exitCode", -1);
        r.is_timed_out = o.result["structuredContent"].value("isTimedOut", false);
        return r;
    }

    fs::path base_;
    fs::path secret_;
    Registry registry_;
};

TEST_F(SandboxTest, ReadsNothingOfTheHostOutsideTheWorkspace) {
    start();
    for (std::string cmd : {std::string("head -c 40 /etc/shadow"), std::string("cat ../outside/secret.txt"),
                            "cat " + secret_.string(), std::string("cat /proc/1/root") + secret_.string()}) {
        CommandResult r = run(cmd);
        EXPECT_NE(r.exit_code, 0) << cmd << ": " << r.output;
        EXPECT_EQ(r.output.find(kSecret), std::string::npos) << cmd;
        EXPECT_EQ(r.output.find("root:"), std::string::npos) << cmd;
    }
    // Only the generated /etc: no shadow, a passwd that names the sandbox user.
    CommandResult etc = run("ls /etc; cat /etc/passwd");
    EXPECT_EQ(etc.output.find("shadow"), std::string::npos) << etc.output;
    EXPECT_NE(etc.output.find("sandbox:x:65534:65534"), std::string::npos) << etc.output;
}

TEST_F(SandboxTest, WritesOnlyInsideTheWorkspace) {
    start();
    for (std::string cmd : {std::string("echo x > ../outside/f"), "echo x > " + (base_ / "outside" / "g").string(),
                            std::string("echo x > /usr/x"), std::string("echo x > /x"), std::string("mkdir /etc/y")}) {
        CommandResult r = run(cmd);
        EXPECT_NE(r.exit_code, 0) << cmd << ": " << r.output;
    }
    EXPECT_FALSE(fs::exists(base_ / "outside" / "f"));
    EXPECT_FALSE(fs::exists(base_ / "outside" / "g"));
    EXPECT_FALSE(fs::exists("/usr/x"));
    // The workspace itself (the cwd) is writable; /tmp is private to the command.
    CommandResult ok = run("pwd; echo made > made.txt && mkdir -p d/e && echo t > /tmp/t && cat /tmp/t");
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_EQ(ok.output, "/workspace\nt\n");
    EXPECT_EQ(read_host_file(base_ / "ws" / "made.txt"), "made\n");
    struct stat st {};
    ASSERT_EQ(stat((base_ / "ws" / "made.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, geteuid());  // stored as the server's uid, not the sandbox's
}

TEST_F(SandboxTest, HardLinkedFilesAreRefusedByReadAndWrite) {
    start();
    ASSERT_EQ(link(secret_.c_str(), (base_ / "ws" / "link").c_str()), 0);
    CallOutcome read = call("read_file", {{"path", "link"}});
    EXPECT_TRUE(read.result.value("isError", false));
    std::string message = read.result["content"][0].value("text", "");
    EXPECT_NE(message.find("has 2 hard links (expected 1)"), std::string::npos) << message;
    EXPECT_EQ(message.find(kSecret), std::string::npos);
    CallOutcome write = call("write_file", {{"path", "link"}, {"content", "overwritten"}});
    EXPECT_TRUE(write.result.value("isError", false));
    EXPECT_EQ(read_host_file(secret_), kSecret);  // not even truncated
    // The command cannot link to an outside file (it cannot see one); a link it makes inside the
    // workspace is refused by the file tools too.
    CommandResult r = run("ln " + secret_.string() + " mine");
    EXPECT_NE(r.exit_code, 0) << r.output;
    r = run("echo a > a.txt && ln a.txt b.txt");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(call("read_file", {{"path", "a.txt"}}).result.value("isError", false));
}

TEST_F(SandboxTest, ProcShowsOnlyTheSandboxAndNoHostRoot) {
    start();
    CommandResult r = run("ls /proc | grep -c '^[0-9]'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_LE(std::stoi(r.output), 4) << "pids visible: " << r.output;  // init, sh, ls, grep
    // /proc/1 is the sandbox's own init, not dumpable: no way through it to the host.
    for (const char* cmd : {"ls /proc/1/root/", "cat /proc/1/environ", "ls /proc/1/fd", "head -c 1 /proc/1/mem"}) {
        CommandResult escape = run(cmd);
        EXPECT_NE(escape.exit_code, 0) << cmd << ": " << escape.output;
    }
    EXPECT_EQ(run("test -e /proc/" + std::to_string(getpid()) + "/root/work").exit_code, 1);
}

TEST_F(SandboxTest, NoSysNoDisksNoMknod) {
    start();
    EXPECT_NE(run("ls /sys").exit_code, 0);
    CommandResult dev = run("ls /dev | tr '\\n' ' '");
    EXPECT_EQ(dev.output, "fd full null random stderr stdin stdout tty urandom zero ") << dev.output;
    EXPECT_NE(run("mknod /tmp/sda b 8 0").exit_code, 0);
    EXPECT_NE(run("mknod sda b 8 0").exit_code, 0);
    EXPECT_EQ(run("echo x > /dev/null && head -c 4 /dev/urandom | wc -c").output, "4\n");
}

TEST_F(SandboxTest, SetuidBinariesDoNotElevate) {
    start();
    fs::path suid = base_ / "ws" / "suid_id";
    fs::copy_file("/usr/bin/id", suid);
    ASSERT_EQ(chown(suid.c_str(), 0, 0), 0);
    ASSERT_EQ(chmod(suid.c_str(), 04755), 0);
    CommandResult r = run("id -u; id -g; ./suid_id -u; cat /proc/self/status | grep -E '^(CapEff|NoNewPrivs)'");
    EXPECT_EQ(r.output, "65534\n65534\n65534\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n") << r.output;
}

// The workspace is the server's uid on disk: a setuid bit set inside would plant a setuid-root
// program on the host. chmod, open(O_CREAT) and mknod with S_ISUID/S_ISGID are refused.
TEST_F(SandboxTest, CannotPlantSetuidFilesInTheWorkspace) {
    start();
    CommandResult r =
        run("cp /usr/bin/id myid && chmod 755 myid && echo copied; chmod u+s myid || echo no-suid; "
            "chmod 2755 myid || echo no-sgid; "
            "python3 -c \"import os; os.open('p', os.O_CREAT | os.O_WRONLY, 0o4755)\" || echo no-open");
    EXPECT_NE(r.output.find("copied"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("no-suid"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("no-sgid"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("no-open"), std::string::npos) << r.output;
    for (const char* name : {"myid", "p"}) {
        struct stat st {};
        if (stat((base_ / "ws" / name).c_str(), &st) == 0) {
            EXPECT_EQ(st.st_mode & 06000, 0u) << name;
        }
    }
}

TEST_F(SandboxTest, NetworkIsRefused) {
    start();
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    std::string port = std::to_string(ntohs(addr.sin_port));
    CommandResult r = run("bash -c 'echo hi > /dev/tcp/127.0.0.1/" + port + "'");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_LT(accept(listener, nullptr, nullptr), 0);  // nobody connected
    close(listener);
    EXPECT_EQ(run("cat /proc/net/dev | grep -c ':'").output, "1\n");  // lo only
}

TEST_F(SandboxTest, SeccompRefusesNamespacesAndMounts) {
    start();
    for (const char* cmd : {"unshare -U true", "unshare -r true", "mount -t tmpfs none /tmp"}) {
        CommandResult r = run(cmd);
        EXPECT_NE(r.exit_code, 0) << cmd << ": " << r.output;
    }
    EXPECT_NE(run("grep Seccomp: /proc/self/status").output.find("2"), std::string::npos);
}

TEST_F(SandboxTest, ProcessLimitStopsAForkBomb) {
    SandboxLimits limits;
    limits.n_processes = 16;
    start(limits);
    CommandResult r = run("for i in $(seq 64); do sleep 600 & done; echo started", 20000);
    EXPECT_NE(r.output.find("fork"), std::string::npos) << r.output;
    // The shell's exit ends the sandbox: the sleeps it did start die with its PID namespace (else
    // they would hold the output pipe open until the timeout).
    EXPECT_FALSE(r.is_timed_out);
}

TEST_F(SandboxTest, AddressSpaceAndFileSizeLimits) {
    SandboxLimits limits;
    limits.address_space_bytes = int64_t{256} << 20;
    limits.file_size_bytes = int64_t{1} << 20;
    start(limits);
    CommandResult big = run("dd if=/dev/zero of=/dev/null bs=512M count=1");
    EXPECT_NE(big.exit_code, 0) << big.output;
    EXPECT_NE(big.output.find("memory"), std::string::npos) << big.output;
    CommandResult file = run("head -c 4000000 /dev/zero > big");
    EXPECT_NE(file.exit_code, 0) << file.output;
    EXPECT_LE(fs::file_size(base_ / "ws" / "big"), uintmax_t{1} << 20);
}

TEST_F(SandboxTest, TimeoutKillsEveryProcessOfTheCommand) {
    start();
    // Durations unique to this test process, so the scan below cannot see anybody else's sleep.
    std::string a = std::to_string(1000000 + getpid());
    std::string b = std::to_string(2000000 + getpid());
    auto t0 = std::chrono::steady_clock::now();
    CommandResult r = run("sleep " + a + " & sleep " + b, 300);
    EXPECT_TRUE(r.is_timed_out);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));  // slack for a loaded machine
    for (const auto& entry : fs::directory_iterator("/proc")) {
        std::string cmdline = read_host_file(entry.path() / "cmdline");
        for (const std::string& arg : {a, b}) {
            EXPECT_EQ(cmdline.find(std::string("sleep\0", 6) + arg), std::string::npos) << entry.path() << " survived";
        }
    }
}

// A thread keeps swapping `race` between an in-workspace file and symlinks to the outside
// secret (absolute and via ..); read_file must never return the secret.
TEST_F(SandboxTest, SymlinkRaceNeverReadsOutside) {
    start();
    fs::path ws = base_ / "ws";
    std::ofstream(ws / "plain") << "inside";
    std::atomic<bool> is_done{false};
    std::thread swapper([&] {
        for (int i = 0; !is_done; ++i) {
            fs::path tmp = ws / ("tmp" + std::to_string(i % 3));
            std::error_code ec;
            fs::remove(tmp, ec);
            if (i % 3 == 0) {
                fs::create_symlink(secret_, tmp, ec);
            } else if (i % 3 == 1) {
                fs::create_symlink("../outside/secret.txt", tmp, ec);
            } else {
                fs::copy_file(ws / "plain", tmp, ec);
            }
            rename(tmp.c_str(), (ws / "race").c_str());
        }
    });
    int n_inside = 0;
    int n_refused = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (int i = 0; (n_inside < 100 || n_refused < 100) && std::chrono::steady_clock::now() < deadline; ++i) {
        CallOutcome o = call("read_file", {{"path", "race"}});
        std::string text = o.result["content"][0].value("text", "");
        ASSERT_EQ(text.find(kSecret), std::string::npos) << "read the outside file at iteration " << i;
        n_inside += text == "inside";
        n_refused += o.result.value("isError", false) && text.find("escapes the workspace") != std::string::npos;
    }
    is_done = true;
    swapper.join();
    // The race really ran both ways: the symlinks were there and refused, the file was read.
    EXPECT_GT(n_inside, 0);
    EXPECT_GT(n_refused, 0);
}

// Runs `body` in a forked child whose kernel interface `filter` narrows: a real seccomp filter, so
// the code under test meets a real refusal from the kernel. Returns what `body` returned.
std::string in_filtered_child(std::vector<sock_filter> filter, const std::function<std::string()>& body) {
    int fds[2];
    if (pipe(fds) != 0) {
        return "pipe failed";
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            _exit(3);
        }
        std::string result = body();
        (void)!write(fds[1], result.data(), result.size());
        _exit(0);
    }
    close(fds[1]);
    std::string result;
    char buf[1024];
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) {
        result.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? result : "child failed: " + std::to_string(status);
}

// Starts the workspace pack and runs `command`: "error: <message>" or "ran: <output>".
std::string start_and_run(const fs::path& ws, uint32_t allow_missing, const std::string& command) {
    Registry registry;
    WorkspaceOptions o;
    o.root = ws.string();
    o.sandbox_allow_missing = allow_missing;
    Status st = add_workspace_pack(registry, o);
    if (!st.ok()) {
        return "error: " + st.message();
    }
    CallContext ctx;
    ctx.arguments = {{"command", command}};
    return "ran: " + registry.find_tool("run_command")->fn(ctx).result["content"][0].value("text", "");
}

std::string start_under_filter(const fs::path& ws, std::vector<sock_filter> filter, uint32_t allow_missing) {
    return in_filtered_child(std::move(filter), [&] { return start_and_run(ws, allow_missing, "echo hi"); });
}

// A filter that fails syscall `nr` with `err`.
std::vector<sock_filter> fail_syscall_filter(uint32_t nr, int err) {
    return {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<uint32_t>(err)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
}

// A kernel without Landlock answers landlock_create_ruleset with ENOSYS.
std::vector<sock_filter> no_landlock_filter() {
    return fail_syscall_filter(SYS_landlock_create_ruleset, ENOSYS);
}

// A kernel (or container runtime) that refuses to create namespaces of type `flag`.
std::vector<sock_filter> no_namespace_filter(uint32_t flag) {
    return {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args)),
            BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, flag, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
}

TEST_F(SandboxTest, RefusedLayerStopsTheToolUnlessAllowed) {
    std::string refused = start_under_filter(base_ / "ws", no_landlock_filter(), 0);
    EXPECT_NE(refused.find("error: sandbox: layer 'landlock' unavailable: landlock_create_ruleset"), std::string::npos)
        << refused;
    EXPECT_NE(refused.find("--sandbox-allow-missing landlock"), std::string::npos) << refused;
    std::string allowed =
        start_under_filter(base_ / "ws", no_landlock_filter(), static_cast<uint32_t>(SandboxLayer::kLandlock));
    EXPECT_EQ(allowed, "ran: hi\n");

    std::string no_net = start_under_filter(base_ / "ws", no_namespace_filter(CLONE_NEWNET), 0);
    EXPECT_NE(no_net.find("error: sandbox: layer 'net' unavailable"), std::string::npos) << no_net;
    // Allowing a different layer does not help.
    no_net = start_under_filter(base_ / "ws", no_namespace_filter(CLONE_NEWNET),
                                static_cast<uint32_t>(SandboxLayer::kLandlock));
    EXPECT_NE(no_net.find("layer 'net'"), std::string::npos) << no_net;
}

// Without the mount layer (allowed missing: the kernel refuses mount), Landlock alone still stops
// writes outside the workspace: host /tmp is world-writable, yet the command cannot create a file.
TEST_F(SandboxTest, LandlockAloneStopsWritesOutsideTheWorkspace) {
    fs::path probe = fs::temp_directory_path() / ("gannet_landlock_probe_" + std::to_string(getpid()));
    std::string out = in_filtered_child(fail_syscall_filter(SYS_mount, EPERM), [&] {
        return start_and_run(base_ / "ws", static_cast<uint32_t>(SandboxLayer::kMount),
                             "touch " + probe.string() + " 2>/dev/null || echo refused; echo x > /dev/null && echo ok");
    });
    EXPECT_EQ(out, "ran: refused\nok\n");
    EXPECT_FALSE(fs::exists(probe));
}

// On kernels without openat2 the tools walk the path one component at a time with O_NOFOLLOW; the
// same escapes fail there (and symlinks are refused altogether).
TEST_F(SandboxTest, PathWalkWithoutOpenat2RefusesEscapes) {
    fs::path ws = base_ / "ws";
    fs::create_directories(ws / "sub");
    std::ofstream(ws / "sub" / "a.txt") << "alpha";
    fs::create_symlink("/etc", ws / "out");
    ASSERT_EQ(link(secret_.c_str(), (ws / "link").c_str()), 0);
    std::string out = in_filtered_child(fail_syscall_filter(SYS_openat2, ENOSYS), [&] {
        Registry registry;
        WorkspaceOptions o;
        o.root = ws.string();
        if (!add_workspace_pack(registry, o).ok()) {
            return std::string("start failed");
        }
        std::string summary;
        for (const char* path :
             {"sub/a.txt", "../outside/secret.txt", "out/passwd", "/etc/passwd", "sub/../link", "link"}) {
            CallContext ctx;
            ctx.arguments = {{"path", path}};
            CallOutcome o2 = registry.find_tool("read_file")->fn(ctx);
            summary += std::string(path) + (o2.result.value("isError", false) ? "=refused " : "=read ");
        }
        return summary;
    });
    EXPECT_EQ(out,
              "sub/a.txt=read ../outside/secret.txt=refused out/passwd=refused /etc/passwd=refused "
              "sub/../link=refused link=refused ");
}

// An unprivileged server on a host with user namespaces off (a sysctl, an AppArmor policy): the
// user layer is named; allowed missing (with the namespaces that need it), Landlock, seccomp and
// rlimits still run the command.
TEST_F(SandboxTest, UnprivilegedServerWithoutUserNamespaces) {
    constexpr uint32_t kNeedsUserns =
        static_cast<uint32_t>(SandboxLayer::kUser) | static_cast<uint32_t>(SandboxLayer::kMount)
        | static_cast<uint32_t>(SandboxLayer::kPid) | static_cast<uint32_t>(SandboxLayer::kNet);
    for (uint32_t allow : {0u, kNeedsUserns}) {
        std::string out = in_filtered_child(no_namespace_filter(CLONE_NEWUSER), [&] {
            if (setresgid(65533, 65533, 65533) != 0 || setresuid(65533, 65533, 65533) != 0) {
                return std::string("setresuid failed");
            }
            return start_and_run(base_ / "ws", allow, "id -u; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status");
        });
        if (allow == 0) {
            EXPECT_NE(out.find("error: sandbox: layer 'user' unavailable: clone"), std::string::npos) << out;
        } else {
            EXPECT_EQ(out, "ran: 65533\nNoNewPrivs:\t1\nSeccomp:\t2\n");
        }
    }
}

TEST(SandboxLayers, ParsesLayerNames) {
    Result<uint32_t> mask = parse_sandbox_layers("landlock,seccomp");
    ASSERT_TRUE(mask.has_value());
    EXPECT_EQ(*mask, static_cast<uint32_t>(SandboxLayer::kLandlock) | static_cast<uint32_t>(SandboxLayer::kSeccomp));
    Result<uint32_t> bad = parse_sandbox_layers("landlock,bogus");
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message().find("'bogus'"), std::string::npos);
}

}  // namespace
}  // namespace gannet::mcp
