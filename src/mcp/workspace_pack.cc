// The workspace pack: file and shell tools for agents, confined to one directory. Paths are opened
// with openat2(RESOLVE_BENEATH), so "..", absolute paths and symlinks that leave the root fail in
// the kernel, atomically (no check-then-open race). Kernels without openat2 fall back to walking
// the path one component at a time with O_NOFOLLOW (no symlinks at all). run_command runs
// `/bin/sh -c` in the root, in fresh user+network namespaces (loopback only, down: no network),
// with a timeout and an output cap.
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "base/result.h"
#include "mcp/tool_packs.h"

namespace gannet::mcp {

namespace {

// Owns one file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset() {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

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

// Opens `path` beneath the directory `root_fd`. Never follows a symlink out of the root.
Result<Fd> open_beneath(int root_fd, const std::string& path, int flags, mode_t mode) {
    GANNET_RETURN_IF_ERROR(check_relative(path));
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof(how));
    if (fd >= 0) {
        return Fd(static_cast<int>(fd));
    }
    if (errno != ENOSYS) {
        return open_error(path, errno);
    }
    // Fallback: component walk, no symlinks, no "..".
    Fd cur(dup(root_fd));
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
        return Fd(openat(cur.get(), ".", flags | O_CLOEXEC));
    }
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        int next = openat(cur.get(), parts[i].c_str(), O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            return open_error(path, errno);
        }
        cur = Fd(next);
    }
    int last = openat(cur.get(), parts.back().c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (last < 0) {
        return open_error(path, errno);
    }
    return Fd(last);
}

struct Workspace {
    WorkspaceOptions options;
    std::string root;  // realpath
    Fd root_fd;
};

CallOutcome from_status(const Status& s) { return CallOutcome::tool_error(s.message()); }

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
    Result<Fd> fd = open_beneath(ws.root_fd.get(), path.value(), O_RDONLY, 0);
    if (!fd.has_value()) {
        return from_status(fd.error());
    }
    struct stat st{};
    if (fstat(fd.value().get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return CallOutcome::tool_error("read_file: '" + path.value() + "' is not a regular file");
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
    Result<Fd> fd = open_beneath(ws.root_fd.get(), path.value(), O_RDONLY | O_DIRECTORY, 0);
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
        struct stat st{};
        std::string type = "other";
        int64_t size = 0;
        if (fstatat(dirfd(dir.get()), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            type = S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : S_ISLNK(st.st_mode) ? "symlink" : "other";
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
    Result<Fd> fd = open_beneath(ws.root_fd.get(), path.value(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
    if (!fd.has_value()) {
        return from_status(fd.error());
    }
    size_t put = 0;
    while (put < data.value().size()) {
        ssize_t n = ::write(fd.value().get(), data.value().data() + put, data.value().size() - put);
        if (n <= 0) {
            return CallOutcome::tool_error("write_file: '" + path.value() + "': " + std::strerror(errno));
        }
        put += static_cast<size_t>(n);
    }
    return CallOutcome::ok(Json{{"content", {{{"type", "text"}, {"text", str_printf("wrote %zu bytes to %s", put,
                                                                                     path.value().c_str())}}}}});
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
    pid_t pid = fork();
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return CallOutcome::tool_error(std::string("run_command: fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Child: only async-signal-safe calls until exec.
        setpgid(0, 0);
        dup2(pipe_fds[1], 1);
        dup2(pipe_fds[1], 2);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            const char msg[] = "run_command: cannot isolate the network (unshare failed); refusing to run\n";
            (void)!::write(2, msg, sizeof(msg) - 1);
            _exit(126);
        }
        if (fchdir(ws.root_fd.get()) != 0) {
            _exit(126);
        }
        execl("/bin/sh", "sh", "-c", command.value().c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(pipe_fds[1]);
    Fd out(pipe_fds[0]);
    std::string output;
    size_t n_dropped = 0;
    bool is_timed_out = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || ctx.is_cancelled_now()) {
            is_timed_out = left.count() <= 0;
            kill(-pid, SIGKILL);
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
        size_t keep = std::min(static_cast<size_t>(n), ws.options.output_cap_bytes - std::min(output.size(), ws.options.output_cap_bytes));
        output.append(buf, keep);
        n_dropped += static_cast<size_t>(n) - keep;
    }
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
    return Json{{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)},
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
    ws->root_fd = Fd(fd);
    auto tool = [&](const std::string& name, const std::string& desc, Json in, CallOutcome (*fn)(const Workspace&, CallContext&)) {
        ToolDef t;
        t.definition = {{"name", name}, {"description", desc}, {"inputSchema", std::move(in)}};
        t.fn = [ws, fn](CallContext& ctx) { return fn(*ws, ctx); };
        t.cost = Cost::kBlocking;
        registry.add_tool(std::move(t));
    };
    Json path = {{"type", "string"}, {"description", "path relative to the workspace root"}};
    tool("read_file", "Reads a UTF-8 text file from the workspace", schema({{"path", path}}, {"path"}), read_file);
    tool("list_dir", "Lists a directory of the workspace (default: its root)", schema({{"path", path}}, Json::array()),
         list_dir);
    tool("write_file", "Creates or replaces a text file in the workspace (the directory must exist)",
         schema({{"path", path}, {"content", {{"type", "string"}}}}, {"path", "content"}), write_file);
    tool("run_command",
         "Runs a shell command in the workspace root without network access; output is capped and the command "
         "is killed at the timeout",
         schema({{"command", {{"type", "string"}}}, {"timeout_ms", {{"type", "integer"}, {"minimum", 1}}}},
                {"command"}),
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
