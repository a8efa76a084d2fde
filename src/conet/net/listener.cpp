#include "conet/net/listener.hpp"

#include <cerrno>
#include <vector>

#include "conet/util/assert.hpp"

namespace conet::net {

std::string_view describe(ListenError e) {
    switch (e) {
        case ListenError::address_in_use: return "the address is in use by another program";
        case ListenError::address_not_available: return "no interface of this host has that address";
        case ListenError::permission_denied: return "permission denied (ports below 1024 need privileges)";
        case ListenError::failed: return "the socket could not be opened";
    }
    return "unknown listen error";
}

std::string describe(const ListenFailure& f) {
    const auto a = f.at.address();
    const std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    return "cannot listen on " + host + ":" + std::to_string(f.at.port()) + ": " + std::string(describe(f.error));
}

namespace {

ListenError classify_listen(const boost::system::error_code& ec) {
    if (ec == asio::error::address_in_use) return ListenError::address_in_use;
    if (ec.value() == EADDRNOTAVAIL) return ListenError::address_not_available;
    if (ec == asio::error::access_denied || ec.value() == EACCES) return ListenError::permission_denied;
    return ListenError::failed;
}

bool out_of_resources(const boost::system::error_code& ec) {
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
           ec.value() == ENFILE;
}

}  // namespace

struct Listener::State {
    State(asio::any_io_executor ex, ListenerOptions o) : acceptor(ex), backoff(ex), options(o) {}
    tcp::acceptor acceptor;
    asio::steady_timer backoff;
    ListenerOptions options;
    AcceptHandler on_accept;
    ErrorHandler on_error;
    bool closed = false;
};

namespace {

awaitable<void> accept_loop(std::shared_ptr<Listener::State> s);

}  // namespace

util::Result<std::unique_ptr<Listener>, ListenFailure> Listener::open(asio::any_io_executor ex, const tcp::endpoint& at,
                                                                      ListenerOptions options) {
    auto state = std::make_shared<State>(ex, options);
    boost::system::error_code ec;
    state->acceptor.open(at.protocol(), ec);
    if (!ec) state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) state->acceptor.bind(at, ec);
    if (!ec) state->acceptor.listen(options.backlog, ec);
    if (ec) return util::unexpected(ListenFailure{at, classify_listen(ec)});
    return std::unique_ptr<Listener>(new Listener(std::move(state)));
}

Listener::~Listener() {
    close();
}

tcp::endpoint Listener::local_endpoint() const {
    boost::system::error_code ec;
    return m_state->acceptor.local_endpoint(ec);
}

bool Listener::is_open() const {
    return !m_state->closed;
}

void Listener::start(AcceptHandler on_accept, ErrorHandler on_error) {
    CONET_ASSERT(on_accept && !m_state->on_accept && !m_state->closed);
    m_state->on_accept = std::move(on_accept);
    m_state->on_error = std::move(on_error);
    asio::co_spawn(m_state->acceptor.get_executor(), accept_loop(m_state), asio::detached);
}

void Listener::close() {
    if (m_state->closed) return;
    m_state->closed = true;
    boost::system::error_code ignored;
    m_state->acceptor.close(ignored);
    m_state->backoff.cancel();
    // The handlers may hold their owner: release them now, not when the loop ends.
    m_state->on_accept = nullptr;
    m_state->on_error = nullptr;
}

namespace {

awaitable<void> accept_loop(std::shared_ptr<Listener::State> s) {
    while (!s->closed) {
        auto [ec, socket] = co_await s->acceptor.async_accept(use_nothrow);
        if (s->closed) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            if (!out_of_resources(ec)) continue;  // that connection's own trouble: accept the next
            // Out of descriptors or memory: accepting again at once would spin.
            if (s->on_error) {
                const auto on_error = s->on_error;  // close() from inside it releases s->on_error
                on_error(ec);
                if (s->closed) co_return;
            }
            s->backoff.expires_after(std::chrono::milliseconds(s->options.backoff_ms));
            co_await s->backoff.async_wait(use_nothrow);
            continue;
        }
        const auto on_accept = s->on_accept;  // close() from inside it releases s->on_accept
        on_accept(std::move(socket));
    }
}

}  // namespace

std::string_view describe(DialError e) {
    switch (e) {
        case DialError::refused: return "connection refused";
        case DialError::unreachable: return "host unreachable";
        case DialError::timeout: return "connect timed out";
        case DialError::no_address: return "no address to connect to";
        case DialError::failed: return "connect failed";
    }
    return "unknown dial error";
}

awaitable<util::Result<tcp::socket, DialError>> dial(asio::any_io_executor ex,
                                                     std::span<const tcp::endpoint> candidates,
                                                     std::uint64_t timeout_ms) {
    auto socket = std::make_shared<tcp::socket>(ex);
    auto done = co_await dial(socket, candidates, timeout_ms);
    if (!done) co_return util::unexpected(done.error());
    co_return std::move(*socket);
}

awaitable<util::Result<void, DialError>> dial(std::shared_ptr<tcp::socket> socket,
                                              std::span<const tcp::endpoint> candidates, std::uint64_t timeout_ms) {
    if (candidates.empty()) co_return util::unexpected(DialError::no_address);
    // The socket is shared with the deadline's handler, which closes it and
    // may run after this coroutine has moved on: an expiry already queued
    // when the connect succeeds is not undone by cancel(), hence `settled`.
    struct Deadline {
        bool timed_out = false;
        bool settled = false;
    };
    auto st = std::make_shared<Deadline>();
    asio::steady_timer deadline(socket->get_executor());
    deadline.expires_after(std::chrono::milliseconds(timeout_ms));
    deadline.async_wait([socket, st](boost::system::error_code e) {
        if (e || st->settled) return;
        st->timed_out = true;
        boost::system::error_code ignored;
        socket->close(ignored);
    });
    boost::system::error_code last = asio::error::host_unreachable;
    for (const auto& ep : candidates) {
        if (st->timed_out) break;
        boost::system::error_code ignored;
        socket->close(ignored);
        auto [ec] = co_await socket->async_connect(ep, use_nothrow);
        if (!ec && !st->timed_out) {
            st->settled = true;
            deadline.cancel();
            socket->set_option(tcp::no_delay(true), ignored);
            co_return util::Result<void, DialError>{};
        }
        last = ec;
        if (ec == asio::error::operation_aborted) break;  // closed: by the deadline or by the owner
    }
    st->settled = true;
    deadline.cancel();
    if (st->timed_out) co_return util::unexpected(DialError::timeout);
    if (last == asio::error::connection_refused) co_return util::unexpected(DialError::refused);
    if (last == asio::error::host_unreachable || last == asio::error::network_unreachable)
        co_return util::unexpected(DialError::unreachable);
    co_return util::unexpected(DialError::failed);
}

}  // namespace conet::net
