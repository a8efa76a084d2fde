#pragma once
/// A link: one TCP connection carrying a Noise session (docs/protocol.md §Links).
///   - the initiator sends one byte of LinkKind, then Noise handshake messages
///     framed as u16 length | bytes; NK for users (client links), XK between
///     relays (relay links; the responder checks the initiator's static key);
///   - afterwards every frame is one Noise transport message holding one cell.
/// Cells are delivered to a handler in order; sends are queued and written in
/// batches by one writer coroutine. Everything a peer controls is bounded.

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/net/asio.hpp"
#include "conet/util/rng.hpp"

namespace conet::net {

enum class LinkKind : std::uint8_t { client = 1, relay = 2 };

struct LinkLimits {
    std::uint32_t handshake_timeout_ms = 10'000;
    std::uint32_t keepalive_ms = 20'000;     ///< send a PING after this long without sending
    std::uint32_t idle_timeout_ms = 90'000;  ///< close after this long without receiving
    /// A peer that does not read is cut off. Flow control bounds what honest
    /// endpoints put in flight (16 MiB per circuit and direction), so this only
    /// trips on a peer that stopped reading with many busy circuits.
    std::size_t max_queued_bytes = 256u << 20;
};

enum class LinkError { connect_failed, handshake_failed, timeout, peer_not_allowed };
std::string_view describe(LinkError e);

struct LinkStats {
    std::uint64_t cells_in = 0, cells_out = 0, bytes_in = 0, bytes_out = 0;
};

class Link : public std::enable_shared_from_this<Link> {
public:
    /// The view is valid only during the call.
    using CellHandler = std::function<void(util::ByteView cell)>;
    using CloseHandler = std::function<void(const std::string& reason)>;
    /// Decides whether a relay link's initiator (known by its static key) may connect.
    using PeerCheck = std::function<bool(LinkKind, const std::optional<crypto::X25519Public>&)>;

    /// Opens a link: NK when `our_static` is null, XK otherwise.
    static awaitable<util::Result<std::shared_ptr<Link>, LinkError>> connect(asio::any_io_executor ex, tcp::endpoint to,
                                                                             const crypto::X25519KeyPair* our_static,
                                                                             crypto::X25519Public their_static,
                                                                             util::Rng& rng, LinkLimits limits = {});

    /// Runs the responder side on an accepted socket.
    static awaitable<util::Result<std::shared_ptr<Link>, LinkError>> accept(tcp::socket socket,
                                                                            const crypto::X25519KeyPair& our_static,
                                                                            PeerCheck allow, util::Rng& rng,
                                                                            LinkLimits limits = {});

    Link(tcp::socket socket, crypto::noise::Transport transport, LinkKind kind, LinkLimits limits);
    ~Link();

    /// Starts reading and writing. `on_close` runs once, when the link ends for any reason.
    void start(CellHandler on_cell, CloseHandler on_close);
    /// Queues one cell (plaintext, at most max_cell_bytes).
    void send(util::Bytes cell);
    void close(const std::string& reason);

    bool is_open() const { return m_open; }
    LinkKind kind() const { return m_kind; }
    const std::optional<crypto::X25519Public>& remote_static() const { return m_transport.remote_static(); }
    std::size_t queued_bytes() const { return m_queued_bytes; }
    const LinkStats& stats() const { return m_stats; }
    std::string remote_address() const;

private:
    awaitable<void> read_loop();
    awaitable<void> write_loop();
    awaitable<void> keepalive_loop();

    tcp::socket m_socket;
    crypto::noise::Transport m_transport;
    LinkKind m_kind;
    LinkLimits m_limits;
    std::deque<util::Bytes> m_queue;
    std::size_t m_queued_bytes = 0;
    Signal m_wake_writer;
    asio::steady_timer m_keepalive;
    std::chrono::steady_clock::time_point m_last_received;
    std::chrono::steady_clock::time_point m_last_sent;
    CellHandler m_on_cell;
    CloseHandler m_on_close;
    bool m_open = true;
    LinkStats m_stats;
};

}  // namespace conet::net
