#pragma once
/// The exit's side of one circuit's stream openings as an I/O-free state
/// machine (docs/protocol.md "Exit"): BEGIN admission (stream id, the
/// circuit's stream limit, the target), the streams being opened (resolving,
/// connecting), a user's RESET that cancels one in flight, and the single
/// answer every BEGIN gets (CONNECTED, or RESET with a reason). The adapter
/// (`RelayServer`) answers what only the process knows — whether it is an
/// exit, the paid-usage verdict, process-wide capacity — carries out an
/// `open` (DNS, exit policy, connect) and reports how it ended; the
/// data-plane simulator drives the same core with simulated destinations.

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>

#include "conet/net/cell.hpp"
#include "conet/net/flow_control.hpp"
#include "conet/relay/usage_meter.hpp"

namespace conet::relay {

/// The process's answers for one BEGIN.
struct ExitCapacity {
    bool exit_enabled = true;
    MeterVerdict paid = MeterVerdict::ok;
    bool process_full = false;  ///< no exit stream or socket left in the process budget
};

struct BeginDecision {
    enum class Kind {
        open,            ///< resolve and connect to `target`, then call on_open_result
        refuse,          ///< answer RESET(`reason`) now; `metric` names the rejection
        protocol_error,  ///< the user broke the protocol: destroy the circuit
    };
    Kind kind = Kind::refuse;
    net::Target target;
    net::EndReason reason = net::EndReason::misc;
    std::string_view metric;
};

/// What to answer when an opening ends.
struct OpenAnswer {
    bool connected = false;                       ///< send CONNECTED and keep the socket
    net::EndReason reset = net::EndReason::done;  ///< otherwise RESET with this reason
};

class ExitOpenings {
public:
    explicit ExitOpenings(std::size_t max_streams = net::max_streams_per_circuit) : m_max_streams(max_streams) {}

    /// A BEGIN on this circuit. `stream_in_use`: a connected stream has this
    /// id; `live_streams`: how many connected streams the circuit has.
    [[nodiscard]] BeginDecision on_begin(std::uint32_t stream_id, util::ByteView body, const ExitCapacity& capacity,
                                         bool stream_in_use, std::size_t live_streams);
    /// A RESET from the user. True when it cancelled an opening: nothing is
    /// sent now, and the answer goes out when the opening ends.
    bool on_reset(std::uint32_t stream_id);
    /// The opening of `stream_id` ended: connected (no failure) or failed with
    /// `failure`. A cancelled opening is answered RESET either way.
    [[nodiscard]] OpenAnswer on_open_result(std::uint32_t stream_id, std::optional<net::EndReason> failure);

    bool opening(std::uint32_t stream_id) const { return m_opening.count(stream_id) != 0; }
    std::size_t openings() const { return m_opening.size(); }

private:
    std::size_t m_max_streams;
    std::set<std::uint32_t> m_opening;    ///< resolving or connecting
    std::set<std::uint32_t> m_cancelled;  ///< a subset of m_opening: the user sent RESET meanwhile
};

}  // namespace conet::relay
