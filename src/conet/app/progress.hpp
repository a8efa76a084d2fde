#pragma once
/// Progress for long work on a terminal: "label… 1.4 s" while it runs, then
/// "label… done (2.1 s)". Silent when stderr is not a terminal (scripts,
/// tests), so output stays parseable.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string_view>

namespace conet::app {

template <class F>
auto with_progress(std::string_view label, F&& work) -> decltype(work()) {
    if (!::isatty(STDERR_FILENO)) return work();
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    auto running = std::async(std::launch::async, std::forward<F>(work));
    while (running.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
        std::fprintf(stderr, "\r%.*s… %.1f s", static_cast<int>(label.size()), label.data(), seconds());
    std::fprintf(stderr, "\r%.*s… done (%.1f s)\n", static_cast<int>(label.size()), label.data(), seconds());
    return running.get();
}

}  // namespace conet::app
