#pragma once
/// Child processes of this binary for `conet devnet`: each node runs as
/// `conet …` with stdout (readiness lines) and stderr (logs) in files, dies
/// with its parent, and is stopped in reverse order of start.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "conet/util/result.hpp"

namespace conet::app {

/// How long a child may take to print its readiness line.
inline constexpr auto ready_timeout = std::chrono::seconds(120);

struct Child {
    std::string name;
    pid_t pid = -1;
    std::filesystem::path out;  ///< stdout (readiness lines)
    std::filesystem::path log;  ///< stderr (logs)
    bool exited = false;
    int status = 0;
};

/// "exited with code 1", "killed by signal Terminated".
std::string describe_status(int status);
/// Starts `conet ARGS…` with stdout and stderr in LOGS/NAME.out and .log. The
/// child dies with us (PDEATHSIG) and starts with the signals we block unblocked.
util::Result<Child, std::string> spawn(const std::string& name, const std::vector<std::string>& args,
                                       const std::filesystem::path& logs);
/// True once the child has exited (its status is then kept).
bool reap(Child& c);
/// The last 2,000 bytes of a log file.
std::string tail_of(const std::filesystem::path& file);

/// SIGINT and SIGTERM are blocked once children exist and taken here, so a
/// stop request is noticed between steps (children start with them unblocked).
class StopSignals {
public:
    StopSignals();
    /// Waits up to `ms` for a stop signal; true once one has arrived.
    bool poll(long ms = 0);

private:
    sigset_t m_set;
    bool m_stopped = false;
};

/// Waits until the child's stdout has a line matching `pattern`; returns group 1.
util::Result<std::string, std::string> wait_ready(Child& c, const std::regex& pattern, StopSignals& stop);
/// SIGTERM to each, last started first; SIGKILL to any still running after 15 s.
void stop_all(std::vector<Child>& children);

}  // namespace conet::app
