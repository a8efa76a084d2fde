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
#include <set>
#include <string>
#include <unordered_map>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/net/asio.hpp"
#include "conet/net/link_handshake.hpp"
#include "conet/net/send_queue.hpp"
#include "conet/util/assert.hpp"
#include "conet/util/limits.hpp"
#include "conet/util/rng.hpp"

namespace conet::net {

/// What a link enforces (from util::Limits, DESIGN §5 "Budgets").
struct LinkLimits {
    std::uint32_t handshake_timeout_ms = util::Limits{}.handshake_timeout_ms;
    std::uint32_t keepalive_ms = util::Limits{}.keepalive_ms;        ///< send a PING after this long without sending
    std::uint32_t idle_timeout_ms = util::Limits{}.idle_timeout_ms;  ///< close after this long without receiving
    /// Memory queued for sending (cells counted by allocation, see queued_cost).
    /// Past it the circuit holding the most is dropped (SendQueue); only when
    /// control cells alone exceed it does the link close.
    std::size_t max_queued_bytes = util::Limits{}.max_link_queue_bytes;
    /// The same for one circuit: past it that circuit's cells are dropped and
    /// the owner is told (on_overflow) to destroy it; the link stays.
    std::size_t max_circuit_queued_bytes = util::Limits{}.max_circuit_queue_bytes;

    static LinkLimits from(const util::Limits& l);
};

class Link;

/// The process-wide budget for memory held in link send queues (one per
/// process, shared by its links). When a send takes the total past the limit,
/// the link holding the most is closed: it is the one whose peer reads least.
class MemoryBudget {
public:
    explicit MemoryBudget(std::uint64_t limit_bytes) : m_limit(limit_bytes) {}
    MemoryBudget(const MemoryBudget&) = delete;
    MemoryBudget& operator=(const MemoryBudget&) = delete;

    std::uint64_t limit() const { return m_limit; }
    std::uint64_t used() const { return m_used; }
    /// Links closed to bring the total back under the limit.
    std::uint64_t links_reclaimed() const { return m_reclaimed; }

private:
    friend class Link;
    void charge(std::size_t n) { m_used += n; }
    void release(std::size_t n) {
        CONET_ASSERT(n <= m_used);
        m_used -= n;
    }
    /// Closes the link with the most queued until the total fits.
    void reclaim();

    std::uint64_t m_limit;
    std::uint64_t m_used = 0;
    std::uint64_t m_reclaimed = 0;
    std::set<Link*> m_links;
};

struct LinkStats {
    std::uint64_t cells_in = 0, cells_out = 0, bytes_in = 0, bytes_out = 0;
};

class Link : public std::enable_shared_from_this<Link> {
public:
    /// The view is valid only during the call.
    using CellHandler = std::function<void(util::ByteView cell)>;
    using CloseHandler = std::function<void(const std::string& reason)>;
    /// Decides whether a relay link's initiator (known by its static key) may connect.
    using PeerCheck = LinkHandshake::PeerCheck;
    /// A circuit's queue passed max_circuit_queued_bytes (called from the executor, not inside send()).
    using CircuitOverflowHandler = std::function<void(std::uint32_t circuit_id)>;

    /// Opens a link: NK when `our_static` is null, XK otherwise.
    static awaitable<util::Result<std::shared_ptr<Link>, LinkError>> connect(asio::any_io_executor ex, tcp::endpoint to,
                                                                             const crypto::X25519KeyPair* our_static,
                                                                             crypto::X25519Public their_static,
                                                                             util::Rng& rng, LinkLimits limits = {});

    /// Runs the responder side on an accepted socket. The caller may keep the
    /// socket pointer to abort a handshake that takes too long (by closing it).
    static awaitable<util::Result<std::shared_ptr<Link>, LinkError>> accept(std::shared_ptr<tcp::socket> socket,
                                                                            const crypto::X25519KeyPair& our_static,
                                                                            PeerCheck allow, util::Rng& rng,
                                                                            LinkLimits limits = {});

    Link(tcp::socket socket, crypto::noise::Transport transport, LinkKind kind, LinkLimits limits);
    ~Link();

    /// Starts reading and writing. `on_close` runs once, when the link ends for any reason.
    /// `budget` (may be null) is the process-wide memory budget this link charges.
    void start(CellHandler on_cell, CloseHandler on_close, std::shared_ptr<MemoryBudget> budget = nullptr,
               CircuitOverflowHandler on_overflow = nullptr);
    /// Queues one cell (plaintext, at most max_cell_bytes). Cells of different
    /// circuits are written round-robin, one cell per circuit in turn.
    void send(util::Bytes cell);
    void close(const std::string& reason);

    bool is_open() const { return m_open; }
    LinkKind kind() const { return m_kind; }
    const std::optional<crypto::X25519Public>& remote_static() const { return m_transport.remote_static(); }
    /// Memory held by queued cells (see queued_cost).
    std::size_t queued_bytes() const { return m_queue.cost(); }
    /// The same for one circuit's cells.
    std::size_t circuit_queued_bytes(std::uint32_t circuit_id) const { return m_queue.circuit_cost(circuit_id); }
    /// Wakes after the writer has written a batch (or the link closed): producers
    /// that hold back while the queue is long wait here.
    awaitable<void> wait_drained() { co_await m_drained.wait(); }
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
    /// Brings the process budget's count in line with the queue's cost.
    void sync_budget();

    SendQueue m_queue;
    std::size_t m_charged = 0;               ///< what this link has charged to m_budget
    std::shared_ptr<MemoryBudget> m_budget;  ///< shared: pending handlers may keep a link alive
    CircuitOverflowHandler m_on_overflow;
    Signal m_wake_writer;
    Signal m_drained;
    asio::steady_timer m_keepalive;
    std::chrono::steady_clock::time_point m_last_received;
    std::chrono::steady_clock::time_point m_last_sent;
    CellHandler m_on_cell;
    CloseHandler m_on_close;
    bool m_open = true;
    LinkStats m_stats;
};

}  // namespace conet::net
