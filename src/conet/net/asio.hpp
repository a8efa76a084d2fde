#pragma once
/// Common Boost.Asio names for the adapters (net, relay, proxy).

#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>

namespace conet::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
/// Completion token for coroutines that returns (error_code, results...) instead of throwing.
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

/// A level-triggered wake-up for one waiting coroutine on a single-threaded
/// executor: the waiter re-checks its condition after every wake.
class Signal {
public:
    explicit Signal(const asio::any_io_executor& ex) : m_timer(ex, asio::steady_timer::time_point::max()) {}
    awaitable<void> wait() { co_await m_timer.async_wait(use_nothrow); }
    void notify() { m_timer.cancel(); }

private:
    asio::steady_timer m_timer;
};

}  // namespace conet::net
