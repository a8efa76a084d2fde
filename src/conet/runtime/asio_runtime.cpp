#include "conet/runtime/asio_runtime.hpp"

#include <chrono>

namespace conet::runtime {

TimeMs AsioClock::now_ms() const {
    const auto since = std::chrono::steady_clock::now().time_since_epoch();
    return static_cast<TimeMs>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count());
}

std::uint64_t AsioClock::unix_ms() const {
    const auto since = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(since).count());
}

namespace {

/// `at` is on AsioClock's scale (milliseconds since steady_clock's epoch).
/// Values too large for steady_clock's duration (e.g. "never") saturate
/// instead of wrapping into the past.
std::chrono::steady_clock::time_point deadline(TimeMs at) {
    using std::chrono::steady_clock;
    constexpr auto max_ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::duration::max());
    if (at >= static_cast<TimeMs>(max_ms.count())) return steady_clock::time_point::max();
    return steady_clock::time_point(std::chrono::duration_cast<steady_clock::duration>(
        std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(at))));
}

}  // namespace

AsioTimers::~AsioTimers() {
    // Destroying each steady_timer cancels its wait; a completion that was
    // already queued holds only a weak_ptr to the state and finds it gone.
    m_state->timers.clear();
}

TimerId AsioTimers::set_timer(TimeMs at, std::function<void()> fn) {
    const TimerId id = m_state->next_id++;
    auto entry = std::make_unique<Entry>(m_io);
    entry->fn = std::move(fn);
    entry->timer.expires_at(deadline(at));
    // Asio never runs a completion handler inside the initiating call, even
    // for a deadline in the past: it is queued on the io_context.
    entry->timer.async_wait([weak = std::weak_ptr<State>(m_state), id](const boost::system::error_code&) {
        // The error code is not trusted: a wait that completed (success)
        // before cancel_timer ran must still not fire, so the map decides.
        fire(weak, id);
    });
    m_state->timers.emplace(id, std::move(entry));
    return id;
}

void AsioTimers::cancel_timer(TimerId id) {
    m_state->timers.erase(id);
}

void AsioTimers::fire(const std::weak_ptr<State>& weak, TimerId id) {
    auto state = weak.lock();
    if (!state) return;
    auto it = state->timers.find(id);
    if (it == state->timers.end()) return;  // cancelled
    // Take the callback out and forget the timer before running it: the
    // callback may set or cancel timers, or destroy this AsioTimers.
    std::function<void()> fn = std::move(it->second->fn);
    state->timers.erase(it);
    state.reset();
    fn();
}

}  // namespace conet::runtime
