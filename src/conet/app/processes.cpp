#include "conet/app/processes.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <thread>

#include "conet/util/file.hpp"

namespace conet::app {

using Clock = std::chrono::steady_clock;

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "stopped";
}

util::Result<Child, std::string> spawn(const std::string& name, const std::vector<std::string>& args,
                                       const std::filesystem::path& logs) {
    Child c{name, -1, logs / (name + ".out"), logs / (name + ".log")};
    const int out = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = ::open(c.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || err < 0) return util::unexpected("cannot open log files in " + logs.string());
    std::vector<std::string> argv_s{"conet"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return util::unexpected(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    ::close(out);
    ::close(err);
    c.pid = pid;
    return c;
}

bool reap(Child& c) {
    if (c.exited || c.pid <= 0) return c.exited;
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.exited = true;
        c.status = status;
    }
    return c.exited;
}

std::string tail_of(const std::filesystem::path& file) {
    auto text = util::read_file(file, 16u << 20);
    if (!text) return {};
    const std::string& t = *text;
    return t.size() > 2000 ? t.substr(t.size() - 2000) : t;
}

StopSignals::StopSignals() {
    sigemptyset(&m_set);
    sigaddset(&m_set, SIGINT);
    sigaddset(&m_set, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &m_set, nullptr);
}

bool StopSignals::poll(long ms) {
    if (m_stopped) return true;
    timespec t{ms / 1000, (ms % 1000) * 1'000'000};
    m_stopped = ::sigtimedwait(&m_set, nullptr, &t) > 0;
    return m_stopped;
}

util::Result<std::string, std::string> wait_ready(Child& c, const std::regex& pattern, StopSignals& stop) {
    const auto deadline = Clock::now() + ready_timeout;
    while (Clock::now() < deadline && !stop.poll()) {
        if (auto text = util::read_file(c.out, 1u << 20)) {
            std::smatch m;
            if (std::regex_search(*text, m, pattern)) return m.size() > 1 ? m[1].str() : m[0].str();
        }
        if (reap(c))
            return util::unexpected(c.name + " " + describe_status(c.status) + " before it was ready; its log (" +
                                    c.log.string() + ") ends:\n" + tail_of(c.log));
        stop.poll(50);
    }
    if (stop.poll()) return util::unexpected(std::string("interrupted"));
    return util::unexpected(c.name + " not ready within " + std::to_string(ready_timeout.count()) + " s; see " +
                            c.log.string());
}

void stop_all(std::vector<Child>& children) {
    // Proxy and relays first, the validator last.
    for (auto it = children.rbegin(); it != children.rend(); ++it)
        if (!reap(*it)) ::kill(it->pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    for (auto& c : children) {
        while (!reap(c) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!reap(c)) {
            std::cerr << "devnet: " << c.name << " did not stop within 15 s; killing it\n";
            ::kill(c.pid, SIGKILL);
            ::waitpid(c.pid, &c.status, 0);
            c.exited = true;
        }
    }
}

}  // namespace conet::app
