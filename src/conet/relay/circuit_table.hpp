#pragma once
/// A relay's circuits as an I/O-free state machine (docs/protocol.md): the
/// links it has, the circuits on them, CREATE (with its rate limits), EXTEND,
/// onion layers forward and back, DESTROY both ways. It takes cells, the time
/// and an RNG and fills `TableActions` with cells to send, links to close,
/// relays to dial and messages for the exit; `relay::RelayServer` carries them
/// out with sockets, and the unit tests drive it on simulated time.
///
/// The exit's streams (BEGIN, DATA, receipts) are not here: the table hands
/// the last hop's messages to its owner and seals what the owner sends back.

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/ledger/node_record.hpp"
#include "conet/net/cell.hpp"
#include "conet/runtime/runtime.hpp"
#include "conet/util/limits.hpp"

namespace conet::relay {

using runtime::TimeMs;
/// A link of this relay (never reused).
using LinkId = std::uint64_t;
/// A circuit at this relay (never reused; also its key in the usage meter).
using CircuitKey = std::uint64_t;

/// A token bucket: `rate` per second up to `burst`, full when first used.
struct RateBucket {
    double tokens = 0;
    std::optional<TimeMs> last;
    bool take(double rate, double burst, TimeMs now);
};

struct LinkInfo {
    bool from_user = false;  ///< a user's link (NK); else a relay's (XK)
    bool outbound = false;   ///< we dialled it (to extend)
    std::optional<crypto::X25519Public> peer_key;
    std::string prefix;  ///< the source network's quota key (inbound links)
};

struct TableActions {
    struct Send {
        LinkId link;
        util::Bytes cell;
    };
    struct Close {
        LinkId link;
        std::string why;
        bool punish = false;  ///< misbehaving: slow its source down too
    };
    /// Dial this relay, then call `link_up` and `extend_ready` (or `extend_failed`).
    struct Dial {
        CircuitKey circuit;
        ledger::NodeRecord node;
    };
    /// A relay message for the last hop (this relay as exit); `view` points into `buffer`.
    struct ExitMessage {
        CircuitKey circuit;
        util::Bytes buffer;
        net::RelayView view;
    };
    struct Closed {
        CircuitKey circuit;
        net::EndReason reason;
    };
    std::vector<Send> sends;
    std::vector<Close> closes;
    std::vector<const char*> rejects;  ///< reasons for the refusal counters
    std::vector<Dial> dials;
    std::vector<ExitMessage> exit_messages;
    std::vector<Closed> closed;
    bool unknown_relay = false;  ///< a peer named a relay the directory does not know
};

class CircuitTable {
public:
    /// `directory` is read at each EXTEND; its owner may replace its contents.
    CircuitTable(crypto::X25519KeyPair static_key, const util::Limits& limits, const ledger::Directory& directory);

    void link_up(LinkId link, LinkInfo info);
    /// The link closed: its circuits are destroyed (DESTROY on their other side).
    void link_down(LinkId link, TableActions& out);
    /// A cell arrived on `link`.
    void on_cell(LinkId link, util::ByteView cell, TimeMs now, util::Rng& rng, TableActions& out);
    /// The link's queue for `circuit_id` overflowed: that circuit goes.
    void on_circuit_overflow(LinkId link, std::uint32_t circuit_id, TableActions& out);

    /// A dial for `circuit` succeeded: CREATE goes out on `link` (already `link_up`).
    void extend_ready(CircuitKey circuit, LinkId link, TableActions& out);
    void extend_failed(CircuitKey circuit, net::EndReason reason, TableActions& out);

    /// Bytes this relay keeps free in front of a relay message it originates.
    static constexpr std::size_t headroom = net::cell_header_bytes + 1;
    /// Seals a message of this relay (the exit) laid out as [headroom][relay
    /// header][body] toward the user and sends it. False when the circuit is gone.
    bool send_from_exit(CircuitKey circuit, util::Bytes buffer, TableActions& out);
    /// Destroys a circuit on the owner's behalf (a budget, a stream protocol error).
    void destroy(CircuitKey circuit, net::EndReason reason, TableActions& out);

    bool alive(CircuitKey circuit) const { return m_circuits.count(circuit) > 0; }
    /// The link toward the user and the circuit's id on it.
    std::optional<std::pair<LinkId, std::uint32_t>> up_of(CircuitKey circuit) const;
    /// An open link we dialled to the relay with this key.
    std::optional<LinkId> outbound_link_to(const crypto::X25519Public& key) const;
    std::size_t circuits() const { return m_circuits.size(); }
    std::size_t links() const { return m_links.size(); }

private:
    struct Link {
        LinkInfo info;
        RateBucket creates;                        ///< CREATE handshakes this link may still start
        RateBucket refusals;                       ///< CREATE refusals this link may still be sent
        std::size_t bad_creates = 0;               ///< CREATEs whose handshake failed
        std::map<std::uint32_t, CircuitKey> up;    ///< the peer created them
        std::map<std::uint32_t, CircuitKey> down;  ///< we created them
        std::uint32_t next_id = 1;
    };
    struct Circuit {
        LinkId up_link = 0;
        std::uint32_t up_id = 0;
        std::optional<LinkId> down_link;
        std::uint32_t down_id = 0;
        std::optional<crypto::noise::Transport> session;  ///< absent on a user's first hop: the link is that layer
        bool extending = false;
        bool reply_as_relay = false;  ///< EXTENDED goes back inside our layer (we are not the first hop)
        bool exit_used = false;       ///< a message reached this hop as last hop: no EXTEND any more
        util::Bytes pending_create;   ///< the next hop's handshake while we dial it
    };

    void create(LinkId link_id, Link& link, const net::CellView& cell, TimeMs now, util::Rng& rng, TableActions& out);
    void extend(CircuitKey key, Circuit& c, const net::ExtendRequest& req, bool reply_as_relay, TableActions& out);
    void forward(CircuitKey key, Circuit& c, util::ByteView body, TableActions& out);
    void backward(CircuitKey key, Circuit& c, util::ByteView body, TableActions& out);
    void at_exit(CircuitKey key, Circuit& c, util::Bytes buffer, const net::RelayView& msg, TableActions& out);
    void destroy(CircuitKey key, net::EndReason reason, std::optional<LinkId> from, TableActions& out);
    void send_destroy(LinkId link, std::uint32_t id, net::EndReason reason, TableActions& out);
    void punish(LinkId link, const char* why, TableActions& out);
    RateBucket& prefix_creates(const std::string& prefix, TimeMs now);
    void check(CircuitKey key) const;

    crypto::X25519KeyPair m_key;
    util::Limits m_limits;
    const ledger::Directory& m_directory;
    std::unordered_map<LinkId, Link> m_links;
    std::unordered_map<CircuitKey, Circuit> m_circuits;
    CircuitKey m_next_circuit = 1;
    struct PrefixCreates {
        RateBucket bucket;
        TimeMs last_used = 0;
    };
    /// Kept after a source's links close (closing and reopening must not refill), pruned when idle.
    std::unordered_map<std::string, PrefixCreates> m_prefix_creates;
};

}  // namespace conet::relay
