#pragma once
/// The data plane in the deterministic simulator (issue 10): relays (the real
/// circuit table), users (the real circuit core) and destinations in one
/// process on simulated time, with link latency and bandwidth, links that
/// break, relays that crash and restart, and a hostile user that ignores the
/// flow-control windows, all drawn from one seed. Both stream ends use the
/// real windows (net/flow_control.hpp). Invariants, checked as the run goes:
/// every byte delivered is the byte sent, in order and once, or its stream
/// fails with a reason; an honest peer never exceeds a window and an exit
/// never accepts more than a window beyond its grants; without faults
/// every honest stream completes, and after the faults stop every user's new
/// circuit carries its streams to the end; after every user tears down, no relay holds a circuit. A run is
/// a pure function of its options; the trace hash proves it.

#include <cstdint>
#include <string>

namespace conet::sim {

struct DataplaneOptions {
    std::uint64_t seed = 1;
    std::uint32_t relays = 5;
    std::uint32_t users = 3;
    std::uint32_t streams = 3;  ///< per user and round
    /// Simulated seconds in which faults may happen (drawn from the seed; a
    /// third of the seeds have none).
    std::uint32_t fault_seconds = 20;
    /// Print every cell, fault and stream event to stderr.
    bool trace = false;
};

struct DataplaneResult {
    bool passed = true;
    std::string failure;   ///< the first invariant broken, with the simulated time
    std::string scenario;  ///< faults and roles drawn from the seed
    std::uint64_t trace_hash = 0;
    std::uint64_t cells = 0;  ///< cells delivered over links
    std::uint64_t circuits_built = 0;
    std::uint64_t circuits_failed = 0;  ///< builds that did not finish
    std::uint64_t streams_completed = 0;
    std::uint64_t streams_failed = 0;   ///< ended with a reason (a fault, a refused destination)
    std::uint64_t bytes_delivered = 0;  ///< stream bytes verified at their receiver, both ways
    std::uint64_t sendmes = 0;
    std::uint64_t stream_window_stalls = 0;  ///< an exit's stream waited on its own window (not the circuit's)
    std::uint64_t link_breaks = 0;
    std::uint64_t retransmits = 0;  ///< cells delayed by a lost segment (lossy links)
    std::uint64_t relay_crashes = 0;
    std::uint64_t hostile_destroyed = 0;  ///< circuits of the hostile user destroyed for its attack
};

DataplaneResult run_dataplane(const DataplaneOptions& options);
/// The command line that replays `options` exactly.
std::string dataplane_replay_command(const DataplaneOptions& options);

}  // namespace conet::sim
