#pragma once
/// The runtime layer (DESIGN §2): what a protocol adapter may use to reach
/// the outside world — a clock, timers, message transport between peers and
/// randomness (storage is in storage.hpp). The consensus engine uses nothing
/// else, so the same code runs on Asio and sockets in a node and on the
/// seeded, simulated runtime (sim.hpp) in one process.
///
/// Everything here is single-threaded: callbacks run on the runtime's one
/// executor, one at a time, never re-entrantly from inside a call into the
/// runtime (a send or a timer set from a callback takes effect later).

#include <cstdint>
#include <functional>

#include "conet/util/bytes.hpp"
#include "conet/util/rng.hpp"

namespace conet::runtime {

/// Milliseconds on a monotonic clock (origin unspecified; only differences matter).
using TimeMs = std::uint64_t;
/// Peers of a transport are numbered 0..peers()-1 (a validator's index in its set).
using PeerId = std::uint32_t;

class Clock {
public:
    virtual ~Clock() = default;
    virtual TimeMs now_ms() const = 0;
    /// Wall-clock milliseconds since the Unix epoch (block timestamps only;
    /// never used to order events).
    virtual std::uint64_t unix_ms() const = 0;
};

using TimerId = std::uint64_t;

class Timers {
public:
    virtual ~Timers() = default;
    /// Runs `fn` once at `at` (or as soon as possible if `at` has passed).
    virtual TimerId set_timer(TimeMs at, std::function<void()> fn) = 0;
    /// Cancels a timer that has not fired; unknown or fired ids are ignored.
    virtual void cancel_timer(TimerId id) = 0;
};

/// Authenticated, unordered, unreliable messages between a fixed set of
/// peers: a message may be lost, delayed, reordered or duplicated; if it
/// arrives, `from` is the peer that sent it (the transport authenticates
/// links), but its content is whatever that peer chose to send.
class Transport {
public:
    using Handler = std::function<void(PeerId from, util::ByteView message)>;
    virtual ~Transport() = default;
    virtual PeerId self() const = 0;
    virtual std::uint32_t peers() const = 0;
    virtual void send(PeerId to, util::ByteView message) = 0;
    /// The handler receives every message that arrives, on the executor.
    virtual void set_handler(Handler handler) = 0;
};

/// What one protocol instance gets from its runtime.
struct Context {
    Clock& clock;
    Timers& timers;
    Transport& transport;
    util::Rng& rng;
};

}  // namespace conet::runtime
