#include "agent/lab_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace gannet::agent {
namespace {

// The parent's environment with `extra` (NAME=VALUE) replacing or adding entries.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
    auto name_of = [](const std::string& kv) {
        return kv.substr(0, kv.find('='));
    };
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string kv(*e);
        const bool is_replaced =
            std::any_of(extra.begin(), extra.end(), [&](const std::string& x) { return name_of(x) == name_of(kv); });
        if (!is_replaced) {
            env.push_back(kv);
        }
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

}  // namespace

Result<CommandResult> run_command(const std::string& command, const std::string& cwd, double timeout_s,
                                  const std::vector<std::string>& extra_env) {
    constexpr size_t kOutputCap = 64 << 10;  // measure lines are short; a runaway log must not fill memory
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<std::string> env_storage = child_environment(extra_env);
    std::vector<char*> envp;
    for (std::string& e : env_storage) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    std::string shell_command = command;
    char sh[] = "sh";
    char dash_c[] = "-c";
    char* argv[] = {sh, dash_c, shell_command.data(), nullptr};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return make_error(ErrorCode::kInternal, "lab: pipe: %s", std::strerror(errno));
    }
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return make_error(ErrorCode::kInternal, "lab: fork: %s", std::strerror(errno));
    }
    if (pid == 0) {
        // Child: its own process group, so a timeout kills everything the command started.
        setpgid(0, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        if (chdir(cwd.c_str()) != 0) {
            _exit(126);
        }
        execve("/bin/sh", argv, envp.data());
        _exit(127);
    }
    close(fds[1]);
    CommandResult r;
    const auto deadline = start + std::chrono::duration<double>(timeout_s);
    char buf[4096];
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.is_timed_out = true;
            kill(-pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n_ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
        if (n_ready < 0 && errno != EINTR) {
            break;
        }
        if (n_ready <= 0) {
            continue;
        }
        const ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n <= 0) {
            break;  // EOF: the command and its children closed the pipe
        }
        r.output.append(buf, std::min(static_cast<size_t>(n), kOutputCap - std::min(r.output.size(), kOutputCap)));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

}  // namespace gannet::agent
