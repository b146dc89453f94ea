// The workspace pack: file and shell tools for agents, confined to one directory. Paths are opened
// with openat2(RESOLVE_BENEATH), so "..", absolute paths and symlinks that leave the root fail in
// the kernel, atomically (no check-then-open race). Kernels without openat2 fall back to walking
// the path one component at a time with O_NOFOLLOW (no symlinks at all). Files with more than one
// hard link are refused (a link can lead outside). run_command runs `/bin/sh -c` in the Sandbox
// (sandbox.h: own mount, PID and network namespaces, unprivileged uid, seccomp, Landlock,
// rlimits), with a timeout and an output cap.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "base/result.h"
#include "mcp/sandbox.h"
#include "mcp/tool_packs.h"
#include "mcp/unique_fd.h"

namespace gannet::mcp {

namespace {

Status check_relative(const std::string& path) {
    if (path.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "path: empty");
    }
    if (path.find('\0') != std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument, "path: contains a NUL byte");
    }
    if (path[0] == '/') {
        return make_error(ErrorCode::kPermissionDenied, "path '%s' is absolute; use a path relative to the workspace",
                          path.c_str());
    }
    return Status();
}

Status open_error(const std::string& path, int err) {
    if (err == EXDEV || err == ELOOP) {
        return make_error(ErrorCode::kPermissionDenied, "path '%s' escapes the workspace", path.c_str());
    }
    if (err == ENOENT) {
        return make_error(ErrorCode::kNotFound, "path '%s' does not exist", path.c_str());
    }
    return make_error(ErrorCode::kInvalidArgument, "path '%s': %s", path.c_str(), std::strerror(err));
}

// Opens `path` beneath the directory `root_fd`. Never follows a symlink out of the root: the
// kernel resolves the whole path atomically (RESOLVE_BENEATH), so swapping a component for a
// symlink between a check and the open cannot help; there is no check-then-use step at all.
Result<UniqueFd> open_beneath(int root_fd, const std::string& path, int flags, mode_t mode) {
    GANNET_RETURN_IF_ERROR(check_relative(path));
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = -1;
    // EAGAIN: a concurrent rename or mount raced a ".." lookup; the kernel asks for a retry.
    for (int attempt = 0; attempt < 16; ++attempt) {
        fd = syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN) {
            break;
        }
    }
    if (fd >= 0) {
        return UniqueFd(static_cast<int>(fd));
    }
    if (errno != ENOSYS) {
        return open_error(path, errno);
    }
    // Fallback: component walk, no symlinks, no "..".
    UniqueFd cur(dup(root_fd));
    std::filesystem::path p(path);
    std::vector<std::string> parts;
    for (const auto& c : p) {
        std::string s = c.string();
        if (s == "..") {
            return open_error(path, EXDEV);
        }
        if (!s.empty() && s != ".") {
            parts.push_back(s);
        }
    }
    if (parts.empty()) {
        parts.push_back(".");
    }
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        int next = openat(cur.get(), parts[i].c_str(), O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            return open_error(path, errno);
        }
        cur = UniqueFd(next);
    }
    int last = openat(cur.get(), parts.back().c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (last < 0) {
        return open_error(path, errno);
    }
    return UniqueFd(last);
}

// A file with more than one link may be reachable from outside the workspace (a hard link made
// to /etc/shadow, or to another tenant's file): reading or writing it would cross the boundary
// that path resolution alone cannot see. Refused, as are FIFOs, devices and directories.
Status check_single_regular_file(const char* tool, const std::string& path, int fd, struct stat* st) {
    if (fstat(fd, st) != 0) {
        return make_error(ErrorCode::kInternal, "%s: '%s': fstat: %s", tool, path.c_str(), std::strerror(errno));
    }
    if (!S_ISREG(st->st_mode)) {
        return make_error(ErrorCode::kInvalidArgument, "%s: '%s' is not a regular file", tool, path.c_str());
    }
    if (st->st_nlink != 1) {
        return make_error(ErrorCode::kPermissionDenied,
                          "%s: '%s' has %llu hard links (expected 1); a hard-linked file may be shared with a path "
                          "outside the workspace, so it is refused",
                          tool, path.c_str(), static_cast<unsigned long long>(st->st_nlink));
    }
    return Status();
}

struct Workspace {
    WorkspaceOptions options;
    std::string root;  // realpath
    UniqueFd root_fd;
    std::unique_ptr<Sandbox> sandbox;  // run_command's isolation; proven at registration
};

CallOutcome from_status(const Status& s) {
    return CallOutcome::tool_error(s.message());
}

Result<std::string> string_arg(const CallContext& ctx, const char* name, bool is_required, const char* fallback = "") {
    auto it = ctx.arguments.find(name);
    if (it == ctx.arguments.end()) {
        if (is_required) {
            return make_error(ErrorCode::kInvalidArgument, "missing argument '%s'", name);
        }
        return std::string(fallback);
    }
    if (!it->is_string()) {
        return make_error(ErrorCode::kInvalidArgument, "argument '%s' must be a string", name);
    }
    return it->get<std::string>();
}

CallOutcome read_file(const Workspace& ws, CallContext& ctx) {
    Result<std::string> path = string_arg(ctx, "path", /*is_required=*/true);
    if (!path.has_value()) {
        return from_status(path.error());
    }
    // O_NONBLOCK: opening a FIFO must not hang the tool; regular files ignore the flag.
    Result<UniqueFd> fd = open_beneath(ws.root_fd.get(), path.value(), O_RDONLY | O_NONBLOCK, 0);
    if (!fd.has_value()) {
        return from_status(fd.error());
    }
    struct stat st {};
    if (Status s = check_single_regular_file("read_file", path.value(), fd.value().get(), &st); !s.ok()) {
        return from_status(s);
    }
    if (static_cast<size_t>(st.st_size) > ws.options.read_cap_bytes) {
        return CallOutcome::tool_error(str_printf("read_file: '%s' is %lld bytes, over the %zu-byte limit",
                                                  path.value().c_str(), static_cast<long long>(st.st_size),
                                                  ws.options.read_cap_bytes));
    }
    std::string data(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < data.size()) {
        ssize_t n = read(fd.value().get(), data.data() + got, data.size() - got);
        if (n <= 0) {
            break;
        }
        got += static_cast<size_t>(n);
    }
    data.resize(got);
    if (data.find('\0') != std::string::npos) {
        return CallOutcome::tool_error("read_file: '" + path.value() + "' looks binary (contains NUL bytes)");
    }
    return CallOutcome::ok(Json{{"content", {{{"type", "text"}, {"text", data}}}}});
}

CallOutcome list_dir(const Workspace& ws, CallContext& ctx) {
    Result<std::string> path = string_arg(ctx, "path", /*is_required=*/false, ".");
    if (!path.has_value()) {
        return from_status(path.error());
    }
    Result<UniqueFd> fd = open_beneath(ws.root_fd.get(), path.value(), O_RDONLY | O_DIRECTORY, 0);
    if (!fd.has_value()) {
        return from_status(fd.error());
    }
    int dir_fd = fd.value().release();
    std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dir_fd), closedir);
    if (!dir) {
        close(dir_fd);
        return CallOutcome::tool_error("list_dir: cannot read '" + path.value() + "'");
    }
    Json entries = Json::array();
    while (dirent* e = readdir(dir.get())) {
        std::string name = e->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        struct stat st {};
        std::string type = "other";
        int64_t size = 0;
        if (fstatat(dirfd(dir.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            type = S_ISDIR(st.st_mode)   ? "dir"
                   : S_ISREG(st.st_mode) ? "file"
                   : S_ISLNK(st.st_mode) ? "symlink"
                                         : "other";
            size = S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : 0;
        }
        entries.push_back(Json{{"name", name}, {"type", type}, {"size", size}});
    }
    std::sort(entries.begin(), entries.end(), [](const Json& a, const Json& b) { return a["name"] < b["name"]; });
    std::string listing;
    for (const auto& e : entries) {
        listing += e["name"].get<std::string>() + (e["type"] == "dir" ? "/" : "") + "\n";
    }
    return CallOutcome::ok(
        Json{{"content", {{{"type", "text"}, {"text", listing}}}}, {"structuredContent", {{"entries", entries}}}});
}

CallOutcome write_file(const Workspace& ws, CallContext& ctx) {
    Result<std::string> path = string_arg(ctx, "path", /*is_required=*/true);
    Result<std::string> data = string_arg(ctx, "content", /*is_required=*/true);
    if (!path.has_value() || !data.has_value()) {
        return from_status(!path.has_value() ? path.error() : data.error());
    }
    // No O_TRUNC: a hard-linked file must be refused before a single byte of it changes.
    Result<UniqueFd> fd =
        open_beneath(ws.root_fd.get(), path.value(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (!fd.has_value()) {
        return from_status(fd.error());
    }
    struct stat st {};
    if (Status s = check_single_regular_file("write_file", path.value(), fd.value().get(), &st); !s.ok()) {
        return from_status(s);
    }
    if (ftruncate(fd.value().get(), 0) != 0) {
        return CallOutcome::tool_error("write_file: '" + path.value() + "': truncate: " + std::strerror(errno));
    }
    size_t put = 0;
    while (put < data.value().size()) {
        ssize_t n = ::write(fd.value().get(), data.value().data() + put, data.value().size() - put);
        if (n <= 0) {
            return CallOutcome::tool_error("write_file: '" + path.value() + "': " + std::strerror(errno));
        }
        put += static_cast<size_t>(n);
    }
    return CallOutcome::ok(Json{
        {"content", {{{"type", "text"}, {"text", str_printf("wrote %zu bytes to %s", put, path.value().c_str())}}}}});
}

CallOutcome run_command(const Workspace& ws, CallContext& ctx) {
    Result<std::string> command = string_arg(ctx, "command", /*is_required=*/true);
    if (!command.has_value()) {
        return from_status(command.error());
    }
    int timeout_ms = ws.options.command_timeout_ms;
    if (auto t = ctx.arguments.find("timeout_ms"); t != ctx.arguments.end() && t->is_number_integer()) {
        timeout_ms = std::clamp(t->get<int>(), 1, ws.options.command_timeout_ms);
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        return CallOutcome::tool_error(std::string("run_command: pipe: ") + std::strerror(errno));
    }
    Result<pid_t> spawned = ws.sandbox->spawn(command.value(), pipe_fds[1]);
    close(pipe_fds[1]);
    UniqueFd out(pipe_fds[0]);
    if (!spawned.has_value()) {
        return CallOutcome::tool_error("run_command: " + spawned.error().message());
    }
    pid_t pid = *spawned;
    std::string output;
    size_t n_dropped = 0;
    bool is_timed_out = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || ctx.is_cancelled_now()) {
            is_timed_out = left.count() <= 0;
            kill(pid, SIGKILL);  // the sandbox's init: its PID namespace dies with it
            break;
        }
        pollfd p{out.get(), POLLIN, 0};
        int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
        if (r < 0 && errno != EINTR) {
            break;
        }
        if (r <= 0) {
            continue;
        }
        ssize_t n = read(out.get(), buf, sizeof(buf));
        if (n <= 0) {
            break;  // EOF: the command (and everything holding the pipe) finished
        }
        size_t keep = std::min(static_cast<size_t>(n),
                               ws.options.output_cap_bytes - std::min(output.size(), ws.options.output_cap_bytes));
        output.append(buf, keep);
        n_dropped += static_cast<size_t>(n) - keep;
    }
    // Wait without reaping, so the pid (and its process group) stays reserved while the group is
    // killed: stragglers exist only if the operator allowed running without the pid layer.
    siginfo_t info{};
    waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
    kill(-pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (n_dropped > 0) {
        output += str_printf("\n[output truncated: %zu more bytes]", n_dropped);
    }
    if (is_timed_out) {
        output += str_printf("\n[killed after %d ms]", timeout_ms);
    }
    Json result = {{"content", {{{"type", "text"}, {"text", output}}}},
                   {"structuredContent", {{"exitCode", exit_code}, {"isTimedOut", is_timed_out}}}};
    if (exit_code != 0) {
        result["isError"] = true;
    }
    return CallOutcome::ok(result);
}

Json schema(Json properties, Json required) {
    return Json{{"type", "object"},
                {"properties", std::move(properties)},
                {"required", std::move(required)},
                {"additionalProperties", false}};
}

}  // namespace

Status add_workspace_pack(Registry& registry, const WorkspaceOptions& options) {
    std::error_code ec;
    std::filesystem::create_directories(options.root, ec);
    std::filesystem::path real = std::filesystem::canonical(options.root, ec);
    if (ec) {
        return make_error(ErrorCode::kInvalidArgument, "workspace: cannot use '%s': %s", options.root.c_str(),
                          ec.message().c_str());
    }
    int fd = open(real.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return make_error(ErrorCode::kInvalidArgument, "workspace: cannot open '%s': %s", real.c_str(),
                          std::strerror(errno));
    }
    auto ws = std::make_shared<Workspace>();
    ws->options = options;
    ws->root = real.string();
    ws->root_fd = UniqueFd(fd);
    SandboxConfig sandbox;
    sandbox.workspace = ws->root;
    sandbox.limits = options.limits;
    sandbox.allow_missing = options.sandbox_allow_missing;
    // The tool refuses to start, naming the layer, if the kernel refuses one not allowed missing.
    GANNET_ASSIGN_OR_RETURN(ws->sandbox, Sandbox::create(sandbox));
    auto tool = [&](const std::string& name, const std::string& desc, Json in,
                    CallOutcome (*fn)(const Workspace&, CallContext&)) {
        ToolDef t;
        t.definition = {{"name", name}, {"description", desc}, {"inputSchema", std::move(in)}};
        t.fn = [ws, fn](CallContext& ctx) {
            return fn(*ws, ctx);
        };
        t.cost = Cost::kBlocking;
        registry.add_tool(std::move(t));
    };
    Json path = {{"type", "string"}, {"description", "path relative to the workspace root"}};
    tool("read_file", "Reads a UTF-8 text file from the workspace", schema({{"path", path}}, {"path"}), read_file);
    tool("list_dir", "Lists a directory of the workspace (default: its root)", schema({{"path", path}}, Json::array()),
         list_dir);
    tool("write_file", "Creates or replaces a text file in the workspace (the directory must exist)",
         schema({{"path", path}, {"content", {{"type", "string"}}}}, {"path", "content"}), write_file);
    tool(
        "run_command",
        "Runs `sh -c COMMAND` in a sandbox: the workspace (read-write) is /workspace and the cwd, /usr is "
        "read-only, /tmp is private, no network, no host processes, unprivileged user, resource limits; output is "
        "capped and every process of the command is killed at the timeout",
        schema({{"command", {{"type", "string"}}}, {"timeout_ms", {{"type", "integer"}, {"minimum", 1}}}}, {"command"}),
        run_command);
    return Status();
}

Status add_tool_pack(Registry& registry, const std::string& pack, const WorkspaceOptions& workspace) {
    if (pack == "conformance") {
        add_conformance_pack(registry);
        return Status();
    }
    if (pack == "workspace") {
        return add_workspace_pack(registry, workspace);
    }
    return make_error(ErrorCode::kInvalidArgument, "unknown tool pack '%s' (expected workspace or conformance)",
                      pack.c_str());
}

}  // namespace gannet::mcp
