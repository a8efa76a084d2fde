#pragma once
/// The process's TCP adapters for opening connections both ways: one
/// `Listener` for every server (relay links, the proxy, RPC, the status
/// endpoint, validator links, the prober's echo) and one `dial` with a
/// deadline for every outgoing connection (links, exit streams, validator
/// links). Failures are values of one enum each, with a description that
/// names the address.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "conet/net/asio.hpp"
#include "conet/util/limits.hpp"
#include "conet/util/result.hpp"

namespace conet::net {

enum class ListenError { address_in_use, address_not_available, permission_denied, failed };
std::string_view describe(ListenError e);
/// What failed where, for the message a person reads.
struct ListenFailure {
    tcp::endpoint at;
    ListenError error;
};
/// "cannot listen on 127.0.0.1:1080: the address is in use by another program".
std::string describe(const ListenFailure& f);

struct ListenerOptions {
    int backlog = asio::socket_base::max_listen_connections;
    /// After an accept fails (out of descriptors or memory) the loop waits
    /// this long before accepting again, rather than spin.
    std::uint64_t backoff_ms = util::Limits{}.accept_backoff_ms;
};

/// One listening socket and its accept loop. Every accepted socket goes to the
/// owner's handler, which decides whether to keep it; after close() (or
/// destruction) no handler runs again.
class Listener {
public:
    using AcceptHandler = std::function<void(tcp::socket)>;
    /// An accept failed for lack of descriptors or memory; the loop now backs
    /// off (other accept errors are one connection's trouble: the loop goes on).
    using ErrorHandler = std::function<void(const boost::system::error_code&)>;

    /// Opens, binds (SO_REUSEADDR) and listens. Nothing is accepted before start().
    [[nodiscard]] static util::Result<std::unique_ptr<Listener>, ListenFailure> open(asio::any_io_executor ex,
                                                                                     const tcp::endpoint& at,
                                                                                     ListenerOptions options = {});
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    /// The bound address (the port the kernel chose for port 0).
    tcp::endpoint local_endpoint() const;
    void start(AcceptHandler on_accept, ErrorHandler on_error = nullptr);
    void close();
    bool is_open() const;

    struct State;  ///< private to listener.cpp

private:
    explicit Listener(std::shared_ptr<State> state) : m_state(std::move(state)) {}
    std::shared_ptr<State> m_state;  ///< shared with the accept loop, which may outlive this object briefly
};

enum class DialError { refused, unreachable, timeout, no_address, failed };
std::string_view describe(DialError e);

/// Connects to the first of `candidates` that accepts, trying them in order,
/// all within one deadline of `timeout_ms`. The socket has TCP_NODELAY set.
awaitable<util::Result<tcp::socket, DialError>> dial(asio::any_io_executor ex,
                                                     std::span<const tcp::endpoint> candidates,
                                                     std::uint64_t timeout_ms);
/// The same on a socket the caller holds, so that it can close it to abort
/// the connect (at shutdown): a connect aborted that way ends the dial. The
/// socket is (re)opened for each candidate, so a close before the dial
/// starts is not seen: the owner checks its own state first.
awaitable<util::Result<void, DialError>> dial(std::shared_ptr<tcp::socket> socket,
                                              std::span<const tcp::endpoint> candidates, std::uint64_t timeout_ms);

}  // namespace conet::net
