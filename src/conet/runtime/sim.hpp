#pragma once
/// The simulated runtime: one seeded scheduler with virtual time that runs
/// every node of a simulation in one thread, and a network between them with
/// latency, jitter, loss, duplication, reordering and partitions drawn from
/// the seed. A run is a pure function of its seed: events at the same
/// virtual time run in the order they were scheduled, and every random
/// choice comes from one SimRng.

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "conet/runtime/runtime.hpp"

namespace conet::runtime {

/// xoshiro256** seeded by splitmix64: fast, reproducible, not for secrets.
class SimRng final : public util::Rng {
public:
    explicit SimRng(std::uint64_t seed);
    void fill(std::span<std::uint8_t> out) override;
    std::uint64_t next();
    /// Uniform in [0, bound) (bound > 0).
    std::uint64_t below(std::uint64_t bound);
    /// True with probability ppm / 1,000,000.
    bool chance_ppm(std::uint32_t ppm) { return below(1'000'000) < ppm; }

private:
    std::uint64_t m_s[4];
};

class SimScheduler {
public:
    explicit SimScheduler(std::uint64_t seed) : m_rng(seed) {}
    TimeMs now() const { return m_now; }
    TimerId at(TimeMs when, std::function<void()> fn);
    void cancel(TimerId id) { m_events_by_id.erase(id); }
    /// Runs the next event; false when none is left.
    bool step();
    /// Runs events up to and including time `until`, then sets now = until.
    void run_until(TimeMs until);
    SimRng& rng() { return m_rng; }
    /// When the next event is due (UINT64_MAX when none is).
    TimeMs next_time() const { return m_queue.empty() ? UINT64_MAX : m_queue.begin()->when; }
    std::uint64_t events_run() const { return m_events_run; }

private:
    struct Key {
        TimeMs when;
        TimerId id;
        auto operator<=>(const Key&) const = default;
    };
    TimeMs m_now = 0;
    TimerId m_next_id = 1;
    std::uint64_t m_events_run = 0;
    std::set<Key> m_queue;
    std::map<TimerId, std::function<void()>> m_events_by_id;
    SimRng m_rng;
};

/// One node's clock and timers. A crash (reset()) cancels every timer the
/// node set, so nothing of a dead process runs after it died.
class SimNodeTime final : public Clock, public Timers {
public:
    SimNodeTime(SimScheduler& sched, std::uint64_t unix_origin_ms) : m_sched(sched), m_unix_origin_ms(unix_origin_ms) {}
    TimeMs now_ms() const override { return m_sched.now(); }
    std::uint64_t unix_ms() const override { return m_unix_origin_ms + m_sched.now(); }
    TimerId set_timer(TimeMs at, std::function<void()> fn) override;
    void cancel_timer(TimerId id) override;
    void reset();

private:
    SimScheduler& m_sched;
    std::uint64_t m_unix_origin_ms;
    std::set<TimerId> m_live;
};

struct LinkModel {
    TimeMs latency_ms = 5;
    TimeMs jitter_ms = 5;        ///< uniform extra delay in [0, jitter]: reorders messages
    std::uint32_t loss_ppm = 0;  ///< parts per million of messages dropped
    std::uint32_t dup_ppm = 0;   ///< parts per million of messages delivered twice
};

/// A fully connected network of `n` endpoints.
class SimNetwork {
public:
    SimNetwork(SimScheduler& sched, std::uint32_t n, LinkModel model);
    ~SimNetwork();
    Transport& endpoint(PeerId id);
    std::uint32_t size() const { return static_cast<std::uint32_t>(m_endpoints.size()); }

    void set_model(LinkModel model) { m_model = model; }
    const LinkModel& model() const { return m_model; }
    /// Nodes in different groups cannot reach each other; nodes not named are isolated.
    void partition(const std::vector<std::vector<PeerId>>& groups);
    void heal();
    bool connected(PeerId a, PeerId b) const;
    /// A down node receives nothing (its handler is dropped; a restart sets a new one).
    void set_down(PeerId id);

    /// Called for every message sent (before faults): the simulator checks
    /// invariants here (e.g. persist-before-send).
    std::function<void(PeerId from, PeerId to, util::ByteView message)> on_send;

    std::uint64_t sent() const { return m_sent; }
    std::uint64_t delivered() const { return m_delivered; }

private:
    class Endpoint;
    void transmit(PeerId from, PeerId to, util::ByteView message);

    SimScheduler& m_sched;
    LinkModel m_model;
    std::vector<std::unique_ptr<Endpoint>> m_endpoints;
    std::vector<int> m_group;  ///< partition group per node; -1 = isolated
    std::uint64_t m_sent = 0;
    std::uint64_t m_delivered = 0;
};

}  // namespace conet::runtime
