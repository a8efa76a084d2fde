#pragma once
/// The runtime on Boost.Asio for a node process: the monotonic and wall
/// clocks of the OS, and timers on the node's single-threaded io_context.
/// Consensus (and anything else written against runtime.hpp) gets these in
/// its runtime::Context; the simulated counterparts are in sim.hpp.
///
/// Everything runs on one io_context thread. Timer callbacks are always
/// dispatched through the io_context, never from inside set_timer or
/// cancel_timer, so a callback never runs re-entrantly (runtime.hpp).

#include <map>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "conet/runtime/runtime.hpp"

namespace conet::runtime {

/// now_ms() is std::chrono::steady_clock in milliseconds since its epoch;
/// unix_ms() is std::chrono::system_clock. AsioTimers uses the same
/// steady_clock origin, so `at` values computed from now_ms() line up.
class AsioClock final : public Clock {
public:
    TimeMs now_ms() const override;
    std::uint64_t unix_ms() const override;
};

/// One boost::asio::steady_timer per pending timer, kept in a map by id.
///   - a timer whose `at` has passed fires as soon as the io_context runs
///     handlers (never inside set_timer);
///   - cancel_timer removes it and its callback never runs, even if the
///     timer had already expired and its completion was queued;
///   - destroying AsioTimers cancels every pending timer: no callback runs
///     afterwards, even ones already queued on the io_context.
/// Must be used from the io_context's thread only.
class AsioTimers final : public Timers {
public:
    explicit AsioTimers(boost::asio::io_context& io) : m_io(io), m_state(std::make_shared<State>()) {}
    ~AsioTimers() override;
    AsioTimers(const AsioTimers&) = delete;
    AsioTimers& operator=(const AsioTimers&) = delete;

    TimerId set_timer(TimeMs at, std::function<void()> fn) override;
    void cancel_timer(TimerId id) override;
    /// Timers set and not yet fired or cancelled.
    std::size_t pending() const { return m_state->timers.size(); }

private:
    struct Entry {
        explicit Entry(boost::asio::io_context& io) : timer(io) {}
        boost::asio::steady_timer timer;
        std::function<void()> fn;
    };
    /// Shared with the completion handlers (by weak_ptr) so a completion
    /// that is already queued when AsioTimers dies finds nothing to run.
    struct State {
        std::map<TimerId, std::unique_ptr<Entry>> timers;
        TimerId next_id = 1;
    };
    static void fire(const std::weak_ptr<State>& weak, TimerId id);

    boost::asio::io_context& m_io;
    std::shared_ptr<State> m_state;
};

}  // namespace conet::runtime
