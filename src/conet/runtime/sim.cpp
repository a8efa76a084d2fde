#include "conet/runtime/sim.hpp"

#include "conet/util/assert.hpp"

namespace conet::runtime {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

}  // namespace

SimRng::SimRng(std::uint64_t seed) {
    for (auto& s : m_s) s = splitmix64(seed);
}

std::uint64_t SimRng::next() {
    const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
    const std::uint64_t t = m_s[1] << 17;
    m_s[2] ^= m_s[0];
    m_s[3] ^= m_s[1];
    m_s[1] ^= m_s[2];
    m_s[0] ^= m_s[3];
    m_s[2] ^= t;
    m_s[3] = rotl(m_s[3], 45);
    return result;
}

std::uint64_t SimRng::below(std::uint64_t bound) {
    CONET_ASSERT(bound > 0);
    // Rejection sampling keeps the distribution exact.
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    for (;;) {
        const std::uint64_t v = next();
        if (v < limit) return v % bound;
    }
}

void SimRng::fill(std::span<std::uint8_t> out) {
    std::size_t i = 0;
    while (i < out.size()) {
        std::uint64_t v = next();
        for (int b = 0; b < 8 && i < out.size(); ++b, ++i) {
            out[i] = static_cast<std::uint8_t>(v);
            v >>= 8;
        }
    }
}

TimerId SimScheduler::at(TimeMs when, std::function<void()> fn) {
    const TimerId id = m_next_id++;
    m_queue.insert(Key{std::max(when, m_now), id});
    m_events_by_id.emplace(id, std::move(fn));
    return id;
}

bool SimScheduler::step() {
    while (!m_queue.empty()) {
        const Key key = *m_queue.begin();
        m_queue.erase(m_queue.begin());
        auto it = m_events_by_id.find(key.id);
        if (it == m_events_by_id.end()) continue;  // cancelled
        auto fn = std::move(it->second);
        m_events_by_id.erase(it);
        CONET_ASSERT(key.when >= m_now);
        m_now = key.when;
        ++m_events_run;
        fn();
        return true;
    }
    return false;
}

void SimScheduler::run_until(TimeMs until) {
    while (!m_queue.empty() && m_queue.begin()->when <= until) step();
    m_now = std::max(m_now, until);
}

TimerId SimNodeTime::set_timer(TimeMs at, std::function<void()> fn) {
    // The id is known only after scheduling, so the callback looks itself up.
    auto id_holder = std::make_shared<TimerId>(0);
    const TimerId id = m_sched.at(at, [this, id_holder, fn = std::move(fn)] {
        m_live.erase(*id_holder);
        fn();
    });
    *id_holder = id;
    m_live.insert(id);
    return id;
}

void SimNodeTime::cancel_timer(TimerId id) {
    if (m_live.erase(id) != 0) m_sched.cancel(id);
}

void SimNodeTime::reset() {
    for (TimerId id : m_live) m_sched.cancel(id);
    m_live.clear();
}

class SimNetwork::Endpoint final : public Transport {
public:
    Endpoint(SimNetwork& net, PeerId self) : m_net(net), m_self(self) {}
    PeerId self() const override { return m_self; }
    std::uint32_t peers() const override { return m_net.size(); }
    void send(PeerId to, util::ByteView message) override { m_net.transmit(m_self, to, message); }
    void set_handler(Handler handler) override { m_handler = std::move(handler); }
    void deliver(PeerId from, util::ByteView message) {
        if (m_handler) m_handler(from, message);
    }
    void drop_handler() { m_handler = nullptr; }

private:
    SimNetwork& m_net;
    PeerId m_self;
    Handler m_handler;
};

Transport& SimNetwork::endpoint(PeerId id) {
    return *m_endpoints.at(id);
}

SimNetwork::SimNetwork(SimScheduler& sched, std::uint32_t n, LinkModel model)
    : m_sched(sched), m_model(model), m_group(n, 0) {
    for (PeerId i = 0; i < n; ++i) m_endpoints.push_back(std::make_unique<Endpoint>(*this, i));
}

SimNetwork::~SimNetwork() = default;

void SimNetwork::partition(const std::vector<std::vector<PeerId>>& groups) {
    std::fill(m_group.begin(), m_group.end(), -1);
    for (std::size_t g = 0; g < groups.size(); ++g)
        for (PeerId p : groups[g]) m_group.at(p) = static_cast<int>(g);
}

void SimNetwork::heal() {
    std::fill(m_group.begin(), m_group.end(), 0);
}

bool SimNetwork::connected(PeerId a, PeerId b) const {
    if (a == b) return true;
    return m_group.at(a) >= 0 && m_group.at(a) == m_group.at(b);
}

void SimNetwork::set_down(PeerId id) {
    m_endpoints.at(id)->drop_handler();
}

void SimNetwork::transmit(PeerId from, PeerId to, util::ByteView message) {
    CONET_ASSERT(to < size());
    ++m_sent;
    if (on_send) on_send(from, to, message);
    auto& rng = m_sched.rng();
    // Draw every random choice regardless of the outcome so a partition
    // does not shift the random stream of everything after it.
    const bool lost = rng.chance_ppm(m_model.loss_ppm);
    const bool dup = rng.chance_ppm(m_model.dup_ppm);
    const TimeMs d1 = m_model.latency_ms + rng.below(m_model.jitter_ms + 1);
    const TimeMs d2 = m_model.latency_ms + rng.below(m_model.jitter_ms + 1);
    if (lost) return;
    // Partitions are checked on delivery too: a message in flight when the
    // partition starts is lost, like on a cut cable.
    auto schedule = [&](TimeMs delay) {
        m_sched.at(m_sched.now() + delay, [this, from, to, bytes = util::Bytes(message.begin(), message.end())] {
            if (!connected(from, to)) return;
            ++m_delivered;
            m_endpoints[to]->deliver(from, bytes);
        });
    };
    if (!connected(from, to)) return;
    schedule(d1);
    if (dup) schedule(d2);
}

}  // namespace conet::runtime
