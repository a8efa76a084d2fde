#pragma once
/// The user's end of one circuit as an I/O-free state machine (docs/protocol.md):
/// the telescoping build (CREATE to the entry, EXTEND through it, a Noise NK
/// handshake with every later hop), onion sealing and opening, and streams
/// being opened (BEGIN until CONNECTED, RESET or their deadline). It takes
/// cells, the time and an RNG and returns the cells to send on the entry link
/// and what happened; `proxy::Client` carries that out with sockets and
/// timers, and the unit tests drive it on simulated time.

#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/net/cell.hpp"
#include "conet/runtime/runtime.hpp"

namespace conet::proxy {

using runtime::TimeMs;

struct CircuitTimeouts {
    TimeMs build_ms = 10'000;   ///< from start() until every hop answered
    TimeMs stream_ms = 20'000;  ///< from BEGIN until CONNECTED or RESET
};

/// How a stream open ended.
struct StreamAnswer {
    std::uint32_t stream_id = 0;
    bool connected = false;
    net::EndReason reason = net::EndReason::misc;  ///< when not connected
};

/// A message from the last hop for the stream layer (DATA, END, RESET,
/// SENDME and anything else the stream layer must judge); `view` points
/// into `buffer`.
struct StreamMessage {
    util::Bytes buffer;
    net::RelayView view;
};

/// Why the circuit died. `build_hop` names the path index that did not
/// answer when the circuit died while building (the client avoids it).
struct CircuitDeath {
    net::EndReason reason = net::EndReason::misc;
    std::optional<std::size_t> build_hop;
    std::string_view why;
};

/// What one input led to; the caller carries it out in this order: send
/// `cells`, then report the rest.
struct CircuitActions {
    std::vector<util::Bytes> cells;     ///< to send on the entry link, in order
    bool ready = false;                 ///< the build finished: streams may open
    std::optional<TimeMs> entry_rtt;    ///< CREATE to CREATED, the entry's latency
    std::vector<StreamAnswer> answers;  ///< streams connected, refused or timed out
    std::optional<StreamMessage> message;
    std::optional<net::EndReason> refusal;  ///< the exit refused a stream for payment
    std::optional<CircuitDeath> death;
};

class ClientCircuitCore {
public:
    enum class State { building, ready, dead };

    /// `path` is the relays' Noise keys, entry first (2 or 3 of them).
    ClientCircuitCore(std::vector<crypto::X25519Public> path, std::uint32_t circuit_id, CircuitTimeouts timeouts);

    /// Sends CREATE to the entry; the build deadline runs from `now`.
    CircuitActions start(TimeMs now);
    /// A cell from the entry for this circuit.
    CircuitActions on_cell(const net::CellView& cell, TimeMs now, util::Rng& rng);
    /// Deadlines that have passed by `now` (the build, streams being opened).
    CircuitActions on_time(TimeMs now);
    /// The earliest deadline still pending, if any.
    std::optional<TimeMs> next_deadline() const;

    /// Opens stream `id` (must be unused) to `target`: the sealed BEGIN.
    CircuitActions open_stream(const net::Target& target, TimeMs now);
    std::uint32_t last_stream_id() const { return m_next_stream - 1; }
    /// Seals a buffer laid out as [cell header][relay header][body] for the
    /// last hop and every hop before it, in place, and writes the cell
    /// header. False when the circuit is not ready or sealing failed.
    [[nodiscard]] bool seal(util::Bytes& buffer);
    /// The circuit ends here (retired, link lost, a stream protocol error):
    /// DESTROY(reason) is sent when `send_destroy`.
    CircuitActions kill(net::EndReason reason, bool send_destroy, std::string_view why);

    State state() const { return m_state; }
    const std::vector<crypto::X25519Public>& path() const { return m_path; }
    std::uint32_t circuit_id() const { return m_id; }
    /// Hops with a session (the entry's layer is the link, so ready means path().size() - 1).
    std::size_t sessions() const { return m_hops.size(); }
    /// Streams this end timed out and sent RESET for, whose CONNECTED or
    /// RESET may still arrive (and is then dropped).
    std::size_t streams_abandoned() const { return m_abandoned.size(); }

private:
    void extend_next(CircuitActions& out, util::Rng& rng);
    void on_reply(util::ByteView reply, TimeMs now, util::Rng& rng, CircuitActions& out);
    void on_relay(util::ByteView sealed, TimeMs now, util::Rng& rng, CircuitActions& out);
    void on_message(std::size_t hop, util::Bytes buffer, const net::RelayView& msg, TimeMs now, util::Rng& rng,
                    CircuitActions& out);
    /// Seals for the first `layers` sessions (innermost first) and writes the cell header.
    bool seal_layers(std::size_t layers, util::Bytes& buffer);
    void die(CircuitActions& out, net::EndReason reason, bool send_destroy, std::string_view why);
    void check() const;

    std::vector<crypto::X25519Public> m_path;
    std::uint32_t m_id;
    CircuitTimeouts m_timeouts;
    State m_state = State::building;
    bool m_started = false;
    bool m_entry_created = false;
    TimeMs m_create_sent = 0;
    TimeMs m_build_deadline = 0;
    std::vector<crypto::noise::Transport> m_hops;              ///< sessions with path[1..]
    std::optional<crypto::noise::HandshakeState> m_handshake;  ///< with path[m_hops.size() + 1]
    std::uint32_t m_next_stream = 1;
    std::map<std::uint32_t, TimeMs> m_opening;  ///< stream -> deadline
    std::set<std::uint32_t> m_abandoned;
};

}  // namespace conet::proxy
