#include "conet/sim/dataplane.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "conet/crypto/sodium.hpp"
#include "conet/net/flow_control.hpp"
#include "conet/net/stream_core.hpp"
#include "conet/proxy/circuit_core.hpp"
#include "conet/relay/circuit_table.hpp"
#include "conet/relay/exit_core.hpp"
#include "conet/runtime/sim.hpp"

namespace conet::sim {

namespace {

using net::CellCommand;
using net::EndReason;
using net::RelayCommand;
using proxy::CircuitActions;
using proxy::ClientCircuitCore;
using relay::CircuitKey;
using relay::LinkId;
using relay::TableActions;
using runtime::TimeMs;

constexpr std::size_t none = SIZE_MAX;
constexpr TimeMs drain_ms = 120'000;          ///< after the faults: time for the final rounds
constexpr TimeMs stream_timeout_ms = 20'000;  ///< the user's deadline for CONNECTED

/// The byte at `offset` of a stream's data (each direction has its own key).
std::uint8_t pattern(std::uint64_t key, std::uint64_t offset) {
    std::uint64_t x = key ^ (offset * 0x9E3779B97F4A7C15ull);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return static_cast<std::uint8_t>(x);
}

/// What a stream asks its destination for, in the BEGIN target's host name:
/// `d<down>.u<up>.k<key>.sim` or `….h.sim` (h: the sender ignores the
/// windows), or `refuse.sim`. The key seeds both directions' bytes.
struct Demand {
    std::uint64_t down = 0, up = 0, key = 0;
    bool hostile = false;
    bool refuse = false;
    bool slow = false;  ///< connects around the user's stream deadline: CONNECTED races its RESET
};

std::string encode_demand(const Demand& d) {
    if (d.refuse) return "refuse.sim";
    char host[96];
    std::snprintf(host, sizeof host, "d%llu.u%llu.k%llu.%s", static_cast<unsigned long long>(d.down),
                  static_cast<unsigned long long>(d.up), static_cast<unsigned long long>(d.key),
                  d.hostile ? "h.sim"
                  : d.slow  ? "s.sim"
                            : "sim");
    return host;
}

std::optional<Demand> decode_demand(const std::string& host) {
    Demand d;
    if (host == "refuse.sim") {
        d.refuse = true;
        return d;
    }
    unsigned long long down = 0, up = 0, key = 0;
    char tail[8] = {};
    if (std::sscanf(host.c_str(), "d%llu.u%llu.k%llu.%7s", &down, &up, &key, tail) != 4) return std::nullopt;
    d.down = down;
    d.up = up;
    d.key = key;
    d.hostile = std::string(tail) == "h.sim";
    d.slow = std::string(tail) == "s.sim";
    if (!d.hostile && !d.slow && std::string(tail) != "sim") return std::nullopt;
    return d;
}

class Dataplane {
public:
    explicit Dataplane(const DataplaneOptions& o) : m_o(o), m_sched(o.seed), m_rng(m_sched.rng()) {}

    DataplaneResult run();

private:
    // ---- links: ordered (TCP), with latency and bandwidth; a break loses what is in flight.
    // A lost segment is what TCP makes of it: resent after a retransmission
    // timeout, and every later cell on that direction waits behind it.
    struct Direction {
        TimeMs last = 0;
        std::uint64_t busy_us = 0;
    };
    struct Link {
        std::size_t node[2];
        LinkId local[2];
        TimeMs latency = 1;
        std::uint64_t bytes_per_ms = 100'000;
        std::uint32_t loss_per_mille = 0;  ///< cells whose segment is lost once and resent
        Direction dir[2];
        bool up = true;
    };

    // ---- relays and their exits
    struct ExitStream {
        Demand demand;
        TimeMs read_delay = 0;  ///< the destination reads uploads this much later
        std::uint64_t key_down = 0, key_up = 0;
        std::uint64_t sent = 0, got = 0;
        std::uint64_t granted = 0;  ///< stream credit sent back in SENDMEs
        net::StreamCore core;       ///< the real stream state machine; the destination is its socket
    };
    struct ExitCircuit {
        net::SendWindow send{net::circuit_window_bytes};
        net::RecvWindow recv{net::circuit_window_bytes, net::circuit_sendme_bytes};
        relay::ExitOpenings openings;  ///< the real exit's BEGIN admission and cancels
        // The simulator's own record, to check the core by: BEGINs not yet
        // answered, and those of them the user reset meanwhile.
        std::set<std::uint32_t> unanswered, reset_while_opening;
        std::map<std::uint32_t, ExitStream> streams;  ///< connected
    };
    struct Relay {
        crypto::X25519KeyPair key;
        std::unique_ptr<relay::CircuitTable> table;
        std::map<CircuitKey, ExitCircuit> exits;
        bool up = true;
        std::uint64_t life = 0;  ///< incarnation: events of a crashed life are void
    };

    // ---- users
    struct UserStream {
        Demand demand;
        std::uint64_t key_down = 0, key_up = 0;
        std::uint64_t got = 0, sent = 0;
        std::uint64_t read = 0;  ///< bytes the application consumed
        net::StreamCore core;    ///< the real stream state machine; the application is its socket
        enum class State { opening, open, done, failed } state = State::opening;
        EndReason reason = EndReason::misc;
    };
    /// What the hostile user does on its first round's first stream (the
    /// hardening issue's attacks, each of which must cost it its circuit and
    /// no honest user anything).
    enum class Hostility {
        window,  ///< sends past its windows
        credit,  ///< grants stream credit for bytes never sent to it
        forged,  ///< sends a RELAY cell its entry cannot authenticate
    };
    static const char* hostility_name(Hostility h) {
        switch (h) {
            case Hostility::window: return "past its windows";
            case Hostility::credit: return "stream credit for bytes never sent";
            case Hostility::forged: return "a forged cell";
        }
        return "?";
    }
    struct User {
        bool hostile = false;  ///< its first round attacks (see Hostility)
        Hostility hostility = Hostility::window;
        TimeMs read_delay = 0;  ///< a slow reader consumes what arrives this much later
        std::size_t link = none;
        LinkId local = 0;
        std::optional<ClientCircuitCore> core;
        net::SendWindow send{net::circuit_window_bytes};
        net::RecvWindow recv{net::circuit_window_bytes, net::circuit_sendme_bytes};
        std::map<std::uint32_t, UserStream> streams;
        std::uint32_t round = 0;
        std::uint64_t life = 0;  ///< one per round
        bool final_round = false;
        bool finished = false;
        bool round_hit = false;         ///< a fault touched this round's circuit
        std::vector<std::size_t> path;  ///< this round's relays
        bool round_over = false;        ///< end_round ran for this round
        runtime::TimerId timer = 0;
        std::optional<TimeMs> armed;
    };

    void fail(const std::string& what) {
        if (!m_r.passed) return;
        m_r.passed = false;
        m_r.failure = "t=" + std::to_string(m_sched.now()) + " ms: " + what;
    }
    void trace(const std::string& line) {
        if (m_o.trace)
            std::fprintf(stderr, "[%llu] %s\n", static_cast<unsigned long long>(m_sched.now()), line.c_str());
    }
    void mix(std::uint64_t v) {
        m_r.trace_hash ^= v;
        m_r.trace_hash *= 0x100000001B3ull;
    }
    bool is_user(std::size_t node) const { return node >= m_relays.size(); }
    User& user_of(std::size_t node) { return m_users[node - m_relays.size()]; }

    std::size_t connect(std::size_t a, std::size_t b);
    void send(std::size_t node, LinkId local, util::Bytes cell);
    void deliver(std::size_t link, int side, const util::Bytes& cell);
    void break_link(std::size_t link, bool fault);

    void apply_relay(std::size_t r, TableActions& out);
    void dial(std::size_t r, CircuitKey circuit, const crypto::X25519Public& to);
    void exit_message(std::size_t r, CircuitKey c, const net::RelayView& m);
    void exit_send(std::size_t r, CircuitKey c, RelayCommand cmd, std::uint32_t stream, util::ByteView body);
    void exit_pump(std::size_t r, CircuitKey c, std::uint32_t stream);
    /// Shuts the destination's side once the user ended and all is read; forgets a finished stream.
    void exit_check_done(std::size_t r, CircuitKey c, std::uint32_t stream);
    void crash(std::size_t r);

    void start_round(std::size_t u);
    void end_round(std::size_t u);
    void apply_user(std::size_t u, CircuitActions a);
    void user_message(std::size_t u, const net::RelayView& m);
    /// The hostile user's act on its hostile stream, once it is open.
    void attack(std::size_t u, std::uint32_t id);
    void user_send(std::size_t u, RelayCommand cmd, std::uint32_t stream, util::ByteView body);
    void user_pump(std::size_t u, std::uint32_t stream);
    void user_consume(std::size_t u, std::uint32_t stream, std::size_t n);
    /// The application sees EOF once the exit ended and all is read; the stream is done when both sides are.
    void user_check_done(std::size_t u, std::uint32_t stream);
    void stream_ended(std::size_t u, std::uint32_t id, bool ok, EndReason reason);
    void arm(std::size_t u);

    const DataplaneOptions& m_o;
    runtime::SimScheduler m_sched;
    runtime::SimRng& m_rng;
    DataplaneResult m_r;
    ledger::Directory m_directory;
    std::vector<Relay> m_relays;
    std::vector<User> m_users;
    std::vector<Link> m_links;
    std::map<std::pair<std::size_t, LinkId>, std::size_t> m_link_of;
    LinkId m_next_local = 1;
    TimeMs m_fault_end = 0;
    bool m_any_fault = false;
    bool m_lossy = false;
    /// Forged cells the hostile user sent that no relay has refused yet.
    std::uint32_t m_forged_in_flight = 0;
    /// hostile_destroyed when the hostile user attacked (unset: it has not).
    std::optional<std::uint64_t> m_punished_before;
    /// A fault hit the hostile user's attacking round, or happened after it
    /// (either may take the circuit, or the evidence, before a relay judges it).
    bool m_attack_excused = false;
    ///< lose segments (TCP resends them)
};

// ---- links ------------------------------------------------------------------------------

std::size_t Dataplane::connect(std::size_t a, std::size_t b) {
    Link l;
    l.node[0] = a;
    l.node[1] = b;
    l.local[0] = m_next_local++;
    l.local[1] = m_next_local++;
    l.latency = 1 + m_rng.below(20);
    l.bytes_per_ms = 20'000 + m_rng.below(180'000);                                // 20..200 MB/s
    l.loss_per_mille = m_lossy ? static_cast<std::uint32_t>(m_rng.below(31)) : 0;  // up to 3%
    const std::size_t id = m_links.size();
    m_links.push_back(l);
    m_link_of[{a, l.local[0]}] = id;
    m_link_of[{b, l.local[1]}] = id;
    return id;
}

void Dataplane::send(std::size_t node, LinkId local, util::Bytes cell) {
    const auto it = m_link_of.find({node, local});
    if (it == m_link_of.end()) return;  // the link broke
    Link& l = m_links[it->second];
    if (!l.up) return;
    const int side = l.node[0] == node && l.local[0] == local ? 0 : 1;
    Direction& d = l.dir[side];
    const std::uint64_t start = std::max<std::uint64_t>(m_sched.now() * 1000, d.busy_us);
    d.busy_us = start + cell.size() * 1000 / l.bytes_per_ms;
    TimeMs arrive = std::max<TimeMs>((d.busy_us + 999) / 1000 + l.latency, d.last);
    if (l.loss_per_mille && m_rng.below(1000) < l.loss_per_mille) {
        arrive += std::max<TimeMs>(200, 3 * l.latency);  // Linux's least RTO, or a few round trips
        ++m_r.retransmits;
    }
    d.last = arrive;
    const std::size_t link = it->second;
    m_sched.at(arrive, [this, link, side, cell = std::move(cell)] { deliver(link, side, cell); });
}

void Dataplane::deliver(std::size_t link, int side, const util::Bytes& cell) {
    if (!m_r.passed || !m_links[link].up) return;
    const Link& l = m_links[link];
    const std::size_t to = l.node[1 - side];
    const LinkId local = l.local[1 - side];
    ++m_r.cells;
    mix(m_sched.now());
    mix(link * 2 + static_cast<std::uint64_t>(side));
    mix(cell.size());
    for (std::size_t i = 0; i < std::min<std::size_t>(cell.size(), 16); ++i) mix(cell[i]);
    if (is_user(to)) {
        const std::size_t u = to - m_relays.size();
        User& usr = m_users[u];
        if (usr.link != link || !usr.core) return;
        auto parsed = net::parse_cell(cell);
        if (!parsed) {
            fail("user " + std::to_string(u) + " got a malformed cell from its entry");
            return;
        }
        if (parsed->circuit_id != usr.core->circuit_id()) return;  // an old circuit's cell
        apply_user(u, usr.core->on_cell(*parsed, m_sched.now(), m_rng));
        return;
    }
    Relay& r = m_relays[to];
    if (!r.up) return;
    TableActions out;
    r.table->on_cell(local, cell, m_sched.now(), m_rng, out);
    apply_relay(to, out);
}

void Dataplane::break_link(std::size_t link, bool fault) {
    Link& l = m_links[link];
    if (!l.up) return;
    l.up = false;
    if (fault) {
        ++m_r.link_breaks;
        trace("link " + std::to_string(link) + " breaks");
        // Users whose circuit may use it: both ends on their path.
        for (auto& usr : m_users)
            if (std::count(usr.path.begin(), usr.path.end(), l.node[0]) &&
                std::count(usr.path.begin(), usr.path.end(), l.node[1]))
                usr.round_hit = true;
    }
    for (int side = 0; side < 2; ++side) {
        const std::size_t node = l.node[side];
        m_link_of.erase({node, l.local[side]});
        if (is_user(node)) {
            const std::size_t u = node - m_relays.size();
            User& usr = m_users[u];
            if (usr.link == link && usr.core && usr.core->state() != ClientCircuitCore::State::dead) {
                usr.round_hit = true;
                apply_user(u, usr.core->kill(EndReason::destroyed, false, "link lost"));
            }
            continue;
        }
        Relay& r = m_relays[node];
        if (!r.up) continue;
        TableActions out;
        r.table->link_down(l.local[side], out);
        apply_relay(node, out);
    }
}

// ---- relays -----------------------------------------------------------------------------

void Dataplane::apply_relay(std::size_t r, TableActions& out) {
    for (auto& s : out.sends) send(r, s.link, std::move(s.cell));
    // Every peer here is honest but the hostile user: a relay may refuse only its forged cell
    // (which the entry passes on as it is: the user's link was its layer).
    for (const char* why : out.rejects) {
        if (m_forged_in_flight > 0 && std::string_view(why) == "onion_auth") {
            --m_forged_in_flight;
            ++m_r.hostile_destroyed;
            continue;
        }
        fail("relay " + std::to_string(r) + " refused something: " + why);
    }
    for (const auto& c : out.closes) {
        if (const auto it = m_link_of.find({r, c.link}); it != m_link_of.end()) {
            const std::size_t link = it->second;
            m_sched.at(m_sched.now(), [this, link] { break_link(link, false); });
        }
    }
    for (const auto& d : out.dials) dial(r, d.circuit, d.node.noise_key);
    for (const auto& m : out.exit_messages) exit_message(r, m.circuit, m.view);
    for (const auto& c : out.closed) m_relays[r].exits.erase(c.circuit);
}

void Dataplane::dial(std::size_t r, CircuitKey circuit, const crypto::X25519Public& to) {
    std::size_t j = 0;
    while (j < m_relays.size() && m_relays[j].key.public_key != to) ++j;
    CONET_ASSERT(j < m_relays.size());  // the table dials only relays of its directory
    const std::uint64_t life = m_relays[r].life;
    std::optional<std::size_t> link;
    if (m_relays[j].up) {
        link = connect(r, j);
        const Link& l = m_links[*link];
        m_relays[r].table->link_up(l.local[0], relay::LinkInfo{false, true, to, {}});
        m_relays[j].table->link_up(l.local[1], relay::LinkInfo{false, false, m_relays[r].key.public_key, {}});
    }
    const TimeMs rtt = link ? 2 * m_links[*link].latency : 20;
    m_sched.at(m_sched.now() + rtt, [this, r, circuit, link, life] {
        Relay& rel = m_relays[r];
        if (!rel.up || rel.life != life) return;
        TableActions out;
        if (link && m_links[*link].up)
            rel.table->extend_ready(circuit, m_links[*link].local[0], out);
        else
            rel.table->extend_failed(circuit, EndReason::host_unreachable, out);
        apply_relay(r, out);
    });
}

void Dataplane::exit_send(std::size_t r, CircuitKey c, RelayCommand cmd, std::uint32_t stream, util::ByteView body) {
    util::Bytes buf(relay::CircuitTable::headroom + net::relay_header_bytes);
    net::put_relay_header(buf.data() + relay::CircuitTable::headroom, cmd, stream);
    util::append(buf, body);
    TableActions out;
    m_relays[r].table->send_from_exit(c, std::move(buf), out);
    apply_relay(r, out);
}

void Dataplane::exit_message(std::size_t r, CircuitKey c, const net::RelayView& m) {
    Relay& rel = m_relays[r];
    ExitCircuit& ex = rel.exits[c];
    auto destroy = [&](const char* why) {
        trace("relay " + std::to_string(r) + " destroys circuit " + std::to_string(c) + ": " + why);
        TableActions out;
        rel.table->destroy(c, EndReason::protocol_error, out);
        apply_relay(r, out);
    };
    auto credit = [&](std::uint32_t stream, std::size_t n) {
        if (const std::uint32_t sc = stream ? ex.streams.at(stream).core.written(n) : 0) {
            ex.streams.at(stream).granted += sc;
            exit_send(r, c, RelayCommand::sendme, stream, net::encode_u32(sc));
        }
        if (!rel.table->alive(c)) return;
        if (const std::uint32_t cc = ex.recv.consume(n)) exit_send(r, c, RelayCommand::sendme, 0, net::encode_u32(cc));
        if (stream) exit_check_done(r, c, stream);
    };
    switch (m.command) {
        case RelayCommand::begin: {
            const auto d = ex.openings.on_begin(m.stream_id, m.body, relay::ExitCapacity{},
                                                ex.streams.count(m.stream_id) != 0, ex.streams.size());
            auto demand = d.kind == relay::BeginDecision::Kind::open ? decode_demand(d.target.host) : std::nullopt;
            if (!demand) {
                fail("an honest user's BEGIN was refused" + (d.metric.empty() ? "" : ": " + std::string(d.metric)));
                return;
            }
            const std::uint32_t id = m.stream_id;
            ex.unanswered.insert(id);
            const std::uint64_t life = rel.life;
            // A slow destination connects just around the user's 20 s deadline (mostly just before it,
            // so that CONNECTED is in flight when the user gives up).
            const TimeMs connect_ms = demand->slow ? stream_timeout_ms - 60 + m_rng.below(70) : 1 + m_rng.below(10);
            // Some destinations read slowly; the hostile stream's never catches up with it.
            const TimeMs read_delay = demand->hostile ? 2'000 : m_rng.below(4) == 0 ? m_rng.below(300) : 0;
            m_sched.at(m_sched.now() + connect_ms, [this, r, c, id, life, read_delay, demand = *demand] {
                Relay& rl = m_relays[r];
                if (!rl.up || rl.life != life || !rl.table->alive(c) || !rl.exits.count(c)) return;
                ExitCircuit& e = rl.exits.at(c);
                if (!e.openings.opening(id)) return;  // another circuit under the same key
                const auto failure = demand.refuse ? std::optional(EndReason::connection_refused) : std::nullopt;
                e.unanswered.erase(id);
                const bool cancelled = e.reset_while_opening.erase(id) != 0;
                const auto answer = e.openings.on_open_result(id, failure);
                if (answer.connected != (!cancelled && !failure))
                    fail(std::string("the exit core ") + (answer.connected ? "connected" : "refused") + " stream " +
                         std::to_string(id) +
                         (cancelled ? ", which the user had reset while it was connecting"
                                    : ", whose destination " + std::string(failure ? "refused" : "accepted")));
                if (!answer.connected) {
                    const auto reason = static_cast<std::uint8_t>(answer.reset);
                    exit_send(r, c, RelayCommand::reset, id, util::ByteView(&reason, 1));
                    return;
                }
                ExitStream& s = e.streams[id];
                s.demand = demand;
                s.read_delay = read_delay;
                s.key_down = demand.key;
                s.key_up = demand.key ^ 0x5555'5555'5555'5555ull;
                exit_send(r, c, RelayCommand::connected, id, {});
                exit_pump(r, c, id);
            });
            return;
        }
        case RelayCommand::data: {
            if (!ex.recv.receive(m.body.size())) {
                const auto it = ex.streams.find(m.stream_id);
                if (it == ex.streams.end() || !it->second.demand.hostile)
                    fail("an honest user exceeded its circuit window");
                ++m_r.hostile_destroyed;
                destroy("circuit window exceeded");
                return;
            }
            const auto it = ex.streams.find(m.stream_id);
            if (it == ex.streams.end()) {
                credit(0, m.body.size());  // raced a RESET
                return;
            }
            ExitStream& s = it->second;
            if (!s.core.on_data(m.body.size())) {
                if (!s.demand.hostile) fail("an honest user exceeded its stream window or sent after END");
                ++m_r.hostile_destroyed;
                destroy("stream window exceeded");
                return;
            }
            for (std::size_t i = 0; i < m.body.size(); ++i)
                if (m.body[i] != pattern(s.key_up, s.got + i)) {
                    fail("relay " + std::to_string(r) + " got a wrong byte at offset " + std::to_string(s.got + i) +
                         " of an upload");
                    return;
                }
            s.got += m.body.size();
            m_r.bytes_delivered += m.body.size();
            if (s.got > s.demand.up && !s.demand.hostile) fail("an upload carried more bytes than it has");
            // The exit's own check: it never accepts more than the window beyond what it granted.
            if (s.got - s.granted > static_cast<std::uint64_t>(net::stream_window_bytes))
                fail("an exit accepted " + std::to_string(s.got - s.granted) +
                     " bytes beyond its grants on a stream (window " + std::to_string(net::stream_window_bytes) + ")");
            if (s.read_delay == 0) {
                credit(m.stream_id, m.body.size());
                return;
            }
            const std::uint64_t life = rel.life;
            const std::uint32_t id = m.stream_id;
            const std::size_t n = m.body.size();
            m_sched.at(m_sched.now() + s.read_delay, [this, r, c, id, n, life] {
                Relay& rl = m_relays[r];
                if (!rl.up || rl.life != life || !rl.table->alive(c) || !rl.exits.count(c)) return;
                ExitCircuit& e = rl.exits.at(c);
                const auto st = e.streams.find(id);
                if (st != e.streams.end())
                    if (const std::uint32_t sc = st->second.core.written(n)) {
                        st->second.granted += sc;
                        exit_send(r, c, RelayCommand::sendme, id, net::encode_u32(sc));
                    }
                if (!rl.table->alive(c) || !rl.exits.count(c)) return;
                if (const std::uint32_t cc = rl.exits.at(c).recv.consume(n))
                    exit_send(r, c, RelayCommand::sendme, 0, net::encode_u32(cc));
                exit_check_done(r, c, id);
            });
            return;
        }
        case RelayCommand::end: {
            const auto it = ex.streams.find(m.stream_id);
            if (it == ex.streams.end()) return;
            ExitStream& s = it->second;
            if (s.got != s.demand.up)
                fail("an upload ended after " + std::to_string(s.got) + " of " + std::to_string(s.demand.up) +
                     " bytes");
            s.core.on_end();
            exit_check_done(r, c, m.stream_id);
            return;
        }
        case RelayCommand::reset: {
            // As the real exit: a stream still connecting is cancelled and answered when the connect ends.
            const bool opening = ex.unanswered.count(m.stream_id) != 0;
            if (ex.openings.on_reset(m.stream_id) != opening) {
                fail("the exit core " + std::string(opening ? "did not cancel" : "cancelled") + " stream " +
                     std::to_string(m.stream_id) + " on a RESET while it was " + (opening ? "" : "not ") +
                     "connecting");
                return;
            }
            if (opening)
                ex.reset_while_opening.insert(m.stream_id);
            else
                ex.streams.erase(m.stream_id);
            return;
        }
        case RelayCommand::sendme: {
            auto credit_bytes = net::decode_u32(m.body);
            if (!credit_bytes) {
                destroy("bad SENDME");
                return;
            }
            ++m_r.sendmes;
            if (m.stream_id == 0) {
                if (!ex.send.grant(*credit_bytes)) {
                    fail("an honest user granted more circuit credit than it was sent");
                    return;
                }
                std::vector<std::uint32_t> ids;
                for (const auto& [id, s] : ex.streams) ids.push_back(id);
                for (const auto id : ids) exit_pump(r, c, id);
                return;
            }
            const auto it = ex.streams.find(m.stream_id);
            if (it == ex.streams.end()) return;
            if (!it->second.core.on_sendme(*credit_bytes)) {
                if (!it->second.demand.hostile) {
                    fail("an honest user granted more stream credit than it was sent");
                    return;
                }
                ++m_r.hostile_destroyed;
                destroy("stream credit beyond what was sent");
                return;
            }
            exit_pump(r, c, m.stream_id);
            return;
        }
        default: destroy("unexpected message"); return;
    }
}

void Dataplane::exit_pump(std::size_t r, CircuitKey c, std::uint32_t id) {
    for (;;) {
        Relay& rel = m_relays[r];
        if (!rel.table->alive(c) || !rel.exits.count(c)) return;
        ExitCircuit& ex = rel.exits.at(c);
        const auto it = ex.streams.find(id);
        if (it == ex.streams.end() || it->second.core.sent_end()) return;
        ExitStream& s = it->second;
        if (s.sent == s.demand.down) {
            s.core.local_end();
            exit_send(r, c, RelayCommand::end, id, {});
            exit_check_done(r, c, id);
            return;
        }
        const std::size_t room = s.core.room(ex.send.available());
        if (room == 0) {
            if (s.core.room(ex.send.available() + 1) == 0)
                ++m_r.stream_window_stalls;  // its own window, not the circuit's
            return;                          // a SENDME restarts the pump
        }
        const std::size_t n = std::min({static_cast<std::size_t>(s.demand.down - s.sent), room,
                                        static_cast<std::size_t>(1 + m_rng.below(net::max_data_bytes))});
        util::Bytes body(n);
        for (std::size_t i = 0; i < n; ++i) body[i] = pattern(s.key_down, s.sent + i);
        s.sent += n;
        s.core.sent(n);
        ex.send.consume(n);
        exit_send(r, c, RelayCommand::data, id, body);
    }
}

void Dataplane::exit_check_done(std::size_t r, CircuitKey c, std::uint32_t id) {
    Relay& rel = m_relays[r];
    if (!rel.exits.count(c)) return;
    auto& streams = rel.exits.at(c).streams;
    const auto it = streams.find(id);
    if (it == streams.end()) return;
    if (it->second.core.shutdown_due()) it->second.core.shutdown_done();  // the destination sees EOF
    if (it->second.core.finished()) streams.erase(it);
}

void Dataplane::crash(std::size_t r) {
    Relay& rel = m_relays[r];
    if (!rel.up) return;
    ++m_r.relay_crashes;
    m_any_fault = true;
    if (m_punished_before) m_attack_excused = true;
    trace("relay " + std::to_string(r) + " crashes");
    for (auto& usr : m_users)
        if (std::count(usr.path.begin(), usr.path.end(), r)) usr.round_hit = true;
    rel.up = false;
    ++rel.life;
    rel.exits.clear();
    for (std::size_t l = 0; l < m_links.size(); ++l)
        if (m_links[l].up && (m_links[l].node[0] == r || m_links[l].node[1] == r)) break_link(l, false);
    rel.table = std::make_unique<relay::CircuitTable>(rel.key.clone(), util::Limits{}, m_directory);
    const TimeMs down_for = 200 + m_rng.below(2'000);
    m_sched.at(m_sched.now() + down_for, [this, r] {
        m_relays[r].up = true;
        trace("relay " + std::to_string(r) + " restarts");
    });
}

// ---- users --------------------------------------------------------------------------------

void Dataplane::start_round(std::size_t u) {
    User& usr = m_users[u];
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < m_relays.size(); ++i)
        if (m_relays[i].up) live.push_back(i);
    const std::size_t hops = 2 + m_rng.below(2);
    if (live.size() < hops) {
        m_sched.at(m_sched.now() + 500, [this, u] { start_round(u); });
        return;
    }
    std::vector<crypto::X25519Public> path;
    usr.path.clear();
    for (std::size_t k = 0; k < hops; ++k) {
        const std::size_t pick = m_rng.below(live.size());
        path.push_back(m_relays[live[pick]].key.public_key);
        usr.path.push_back(live[pick]);
        if (k == 0) {
            usr.link = connect(m_relays.size() + u, live[pick]);
            usr.local = m_links[usr.link].local[0];
            m_relays[live[pick]].table->link_up(m_links[usr.link].local[1],
                                                relay::LinkInfo{true, false, std::nullopt, "user"});
        }
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    ++usr.round;
    ++usr.life;
    usr.round_hit = false;
    usr.round_over = false;
    usr.streams.clear();
    usr.send = net::SendWindow(net::circuit_window_bytes);
    usr.recv = net::RecvWindow(net::circuit_window_bytes, net::circuit_sendme_bytes);
    usr.armed.reset();
    usr.core.emplace(std::move(path), usr.round, proxy::CircuitTimeouts{10'000, stream_timeout_ms});
    trace("user " + std::to_string(u) + " round " + std::to_string(usr.round) + (usr.final_round ? " (final)" : ""));
    apply_user(u, usr.core->start(m_sched.now()));
}

void Dataplane::apply_user(std::size_t u, CircuitActions a) {
    User& usr = m_users[u];
    const std::uint64_t life = usr.life;
    for (auto& cell : a.cells) send(m_relays.size() + u, usr.local, std::move(cell));
    for (const auto& ans : a.answers) {
        auto it = usr.streams.find(ans.stream_id);
        if (it == usr.streams.end()) continue;
        if (ans.connected) {
            it->second.state = UserStream::State::open;
            if (it->second.demand.hostile) attack(u, ans.stream_id);
            user_pump(u, ans.stream_id);
        } else {
            stream_ended(u, ans.stream_id, false, ans.reason);
        }
    }
    if (a.message && usr.life == life) user_message(u, a.message->view);
    if (a.ready && usr.life == life) {
        ++m_r.circuits_built;
        // Open this round's streams.
        const std::uint32_t n = usr.final_round ? 1 : 1 + static_cast<std::uint32_t>(m_rng.below(m_o.streams));
        for (std::uint32_t i = 0; i < n && usr.core->state() == ClientCircuitCore::State::ready; ++i) {
            Demand d;
            // Sizes from nothing to past the stream window (1 in 20: it takes SENDMEs of both kinds).
            const auto kind = m_rng.below(20);
            d.down = kind < 6    ? m_rng.below(2'000)
                     : kind < 19 ? m_rng.below(1 << 20)
                                 : static_cast<std::size_t>(net::stream_window_bytes) + m_rng.below(2u << 20);
            d.up = m_rng.below(4) == 0 ? m_rng.below(300'000) : m_rng.below(200);
            d.refuse = !usr.final_round && m_rng.below(15) == 0;
            d.slow = !usr.final_round && !d.refuse && m_rng.below(8) == 0;
            if (usr.hostile && usr.round == 1 && i == 0) {
                d.hostile = true;
                d.refuse = false;
                d.slow = false;
                d.up = static_cast<std::uint64_t>(net::stream_window_bytes) + 100'000;
            }
            d.key = m_rng.next() >> 1;
            auto open = usr.core->open_stream({encode_demand(d), 80}, m_sched.now());
            const std::uint32_t id = usr.core->last_stream_id();
            UserStream& s = usr.streams[id];
            s.demand = d;
            s.key_down = d.key;
            s.key_up = d.key ^ 0x5555'5555'5555'5555ull;
            apply_user(u, std::move(open));
        }
    }
    if (a.death && usr.life == life) {
        trace("user " + std::to_string(u) + " circuit dies: " + std::string(a.death->why));
        // Relays and exits here are honest: the user's core never has cause to call them wrong
        // (the forging user's entry rightly calls it wrong, and says so).
        const bool forger = usr.hostile && usr.round == 1 && usr.hostility == Hostility::forged && m_punished_before;
        if (usr.hostile) m_forged_in_flight = 0;  // refused by now, or lost with the circuit
        if (a.death->reason == EndReason::protocol_error && !forger)
            fail("user " + std::to_string(u) + "'s circuit died of a protocol error: " + std::string(a.death->why));
        if (a.death->build_hop) ++m_r.circuits_failed;
        std::vector<std::uint32_t> open;
        for (const auto& [id, s] : usr.streams)
            if (s.state == UserStream::State::opening || s.state == UserStream::State::open) open.push_back(id);
        for (const auto id : open) stream_ended(u, id, false, a.death->reason);
        end_round(u);
        return;
    }
    if (usr.life == life) arm(u);
}

void Dataplane::arm(std::size_t u) {
    User& usr = m_users[u];
    if (!usr.core) return;
    const auto next = usr.core->next_deadline();
    if (next == usr.armed) return;
    if (usr.timer) m_sched.cancel(usr.timer);
    usr.timer = 0;
    usr.armed = next;
    if (!next) return;
    const std::uint64_t life = usr.life;
    usr.timer = m_sched.at(*next, [this, u, life] {
        User& us = m_users[u];
        if (us.life != life || !us.core) return;
        us.timer = 0;
        us.armed.reset();
        apply_user(u, us.core->on_time(m_sched.now()));
    });
}

void Dataplane::user_send(std::size_t u, RelayCommand cmd, std::uint32_t stream, util::ByteView body) {
    User& usr = m_users[u];
    util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
    net::put_relay_header(buf.data() + net::cell_header_bytes, cmd, stream);
    util::append(buf, body);
    if (!usr.core || !usr.core->seal(buf)) return;
    send(m_relays.size() + u, usr.local, std::move(buf));
}

void Dataplane::attack(std::size_t u, std::uint32_t id) {
    User& usr = m_users[u];
    if (!m_punished_before) m_punished_before = m_r.hostile_destroyed;
    switch (usr.hostility) {
        case Hostility::window: return;  // user_pump sends past the window
        case Hostility::credit:
            trace("user " + std::to_string(u) + " grants credit for bytes it never got");
            // More than the exit can have sent: it has had no credit for this stream yet.
            user_send(u, RelayCommand::sendme, id, net::encode_u32(net::stream_window_bytes + 1));
            return;
        case Hostility::forged: {
            trace("user " + std::to_string(u) + " sends a forged cell");
            util::Bytes body(net::relay_header_bytes + 64 + crypto::noise::tag_bytes);
            for (auto& b : body) b = static_cast<std::uint8_t>(m_rng.next());
            ++m_forged_in_flight;
            send(m_relays.size() + u, usr.local, net::encode_cell(usr.core->circuit_id(), CellCommand::relay, body));
            return;
        }
    }
}

void Dataplane::user_pump(std::size_t u, std::uint32_t id) {
    for (;;) {
        User& usr = m_users[u];
        if (!usr.core || usr.core->state() != ClientCircuitCore::State::ready) return;
        const auto it = usr.streams.find(id);
        if (it == usr.streams.end() || it->second.state != UserStream::State::open || it->second.core.sent_end())
            return;
        UserStream& s = it->second;
        if (s.sent == s.demand.up) {
            s.core.local_end();
            user_send(u, RelayCommand::end, id, {});
            user_check_done(u, id);
            return;
        }
        std::size_t n = std::min<std::size_t>(s.demand.up - s.sent, net::max_data_bytes);
        // The window-ignoring stream keeps to neither window (its stream's is as
        // large as the circuit's, so passing one means passing both).
        const bool ignores_window = s.demand.hostile && usr.hostility == Hostility::window;
        if (!ignores_window) n = std::min(n, s.core.room(usr.send.available()));
        if (n == 0) return;  // a SENDME restarts the pump
        if (!ignores_window) s.core.sent(n);
        usr.send.consume(std::min(n, usr.send.available()));
        util::Bytes body(n);
        for (std::size_t i = 0; i < n; ++i) body[i] = pattern(s.key_up, s.sent + i);
        s.sent += n;
        user_send(u, RelayCommand::data, id, body);
    }
}

void Dataplane::user_consume(std::size_t u, std::uint32_t id, std::size_t n) {
    User& usr = m_users[u];
    const auto it = id ? usr.streams.find(id) : usr.streams.end();
    if (it != usr.streams.end()) it->second.read += n;
    if (it != usr.streams.end())
        if (const std::uint32_t sc = it->second.core.written(n))
            user_send(u, RelayCommand::sendme, id, net::encode_u32(sc));
    if (const std::uint32_t cc = usr.recv.consume(n)) user_send(u, RelayCommand::sendme, 0, net::encode_u32(cc));
    if (it != usr.streams.end()) user_check_done(u, id);
}

void Dataplane::user_check_done(std::size_t u, std::uint32_t id) {
    User& usr = m_users[u];
    const auto it = usr.streams.find(id);
    if (it == usr.streams.end() || it->second.state != UserStream::State::open) return;
    if (it->second.core.shutdown_due()) {
        if (it->second.read != it->second.demand.down)
            fail("the application saw EOF after reading " + std::to_string(it->second.read) + " of " +
                 std::to_string(it->second.demand.down) + " bytes");
        it->second.core.shutdown_done();  // the application sees EOF
    }
    if (it->second.core.finished()) stream_ended(u, id, true, EndReason::done);
}

void Dataplane::user_message(std::size_t u, const net::RelayView& m) {
    User& usr = m_users[u];
    switch (m.command) {
        case RelayCommand::data: {
            if (!usr.recv.receive(m.body.size())) {
                fail("an honest exit exceeded user " + std::to_string(u) + "'s circuit window");
                return;
            }
            const auto it = usr.streams.find(m.stream_id);
            if (it == usr.streams.end() || it->second.state != UserStream::State::open) {
                user_consume(u, 0, m.body.size());  // data racing our RESET: credited at once
                return;
            }
            UserStream& s = it->second;
            if (!s.core.on_data(m.body.size())) {
                fail("an honest exit exceeded a stream window or sent after END");
                return;
            }
            for (std::size_t i = 0; i < m.body.size(); ++i)
                if (m.body[i] != pattern(s.key_down, s.got + i)) {
                    fail("user " + std::to_string(u) + " got a wrong byte at offset " + std::to_string(s.got + i));
                    return;
                }
            s.got += m.body.size();
            m_r.bytes_delivered += m.body.size();
            if (s.got > s.demand.down) fail("a download carried more bytes than it has");
            const std::size_t n = m.body.size();
            const std::uint32_t id = m.stream_id;
            if (usr.read_delay == 0) {
                user_consume(u, id, n);
            } else {
                const std::uint64_t life = usr.life;
                m_sched.at(m_sched.now() + usr.read_delay, [this, u, id, n, life] {
                    if (m_users[u].life == life && m_users[u].core &&
                        m_users[u].core->state() == ClientCircuitCore::State::ready)
                        user_consume(u, id, n);
                });
            }
            return;
        }
        case RelayCommand::end: {
            const auto it = usr.streams.find(m.stream_id);
            if (it == usr.streams.end() || it->second.state != UserStream::State::open) return;
            UserStream& s = it->second;
            if (s.got != s.demand.down)
                fail("a download ended after " + std::to_string(s.got) + " of " + std::to_string(s.demand.down) +
                     " bytes");
            s.core.on_end();
            user_check_done(u, m.stream_id);
            return;
        }
        case RelayCommand::reset: {
            const auto reason = m.body.size() == 1 ? static_cast<EndReason>(m.body[0]) : EndReason::misc;
            if (usr.streams.count(m.stream_id)) stream_ended(u, m.stream_id, false, reason);
            return;
        }
        case RelayCommand::sendme: {
            auto credit = net::decode_u32(m.body);
            if (!credit) {
                fail("an honest exit sent a bad SENDME");
                return;
            }
            ++m_r.sendmes;
            if (m.stream_id == 0) {
                if (!usr.send.grant(*credit)) fail("an honest exit granted more circuit credit than it was sent");
                std::vector<std::uint32_t> ids;
                for (const auto& [id, s] : usr.streams) ids.push_back(id);
                for (const auto id : ids) user_pump(u, id);
                return;
            }
            const auto it = usr.streams.find(m.stream_id);
            if (it == usr.streams.end()) return;
            if (!(it->second.demand.hostile && usr.hostility == Hostility::window) &&
                !it->second.core.on_sendme(*credit))
                fail("an honest exit granted more stream credit than it was sent");
            user_pump(u, m.stream_id);
            return;
        }
        default: fail("user " + std::to_string(u) + " got an unexpected relay message"); return;
    }
}

void Dataplane::stream_ended(std::size_t u, std::uint32_t id, bool ok, EndReason reason) {
    User& usr = m_users[u];
    const auto it = usr.streams.find(id);
    if (it == usr.streams.end()) return;
    UserStream& s = it->second;
    if (s.state == UserStream::State::done || s.state == UserStream::State::failed) return;
    s.state = ok ? UserStream::State::done : UserStream::State::failed;
    s.reason = reason;
    mix(0xE11D0000ull + id + (ok ? 1 : 0));
    if (ok) {
        ++m_r.streams_completed;
    } else {
        ++m_r.streams_failed;
        trace("user " + std::to_string(u) + " stream " + std::to_string(id) +
              " fails: " + std::string(net::describe(reason)));
        // A failure needs a reason the run explains: a refused destination,
        // the hostile stream, or a fault that hit this round.
        const bool explained = (s.demand.refuse && reason == EndReason::connection_refused) ||
                               (s.demand.slow && reason == EndReason::timeout) || s.demand.hostile ||
                               (usr.hostile && usr.round == 1) || usr.round_hit;
        if (!explained)
            fail("user " + std::to_string(u) + "'s stream failed with no fault: " + std::string(net::describe(reason)));
    }
    for (const auto& [sid, st] : usr.streams)
        if (st.state == UserStream::State::opening || st.state == UserStream::State::open) return;
    end_round(u);
}

void Dataplane::end_round(std::size_t u) {
    User& usr = m_users[u];
    if (usr.round_over) return;
    usr.round_over = true;
    if (usr.hostile && usr.round == 1 && usr.round_hit) m_attack_excused = true;
    const std::uint64_t life = usr.life;
    if (usr.final_round) {
        bool all = usr.core && usr.core->state() == ClientCircuitCore::State::ready;
        for (const auto& [id, s] : usr.streams) all = all && s.state == UserStream::State::done;
        if (!all) {
            // A fault after the heal (none are scheduled then) is the only excuse.
            fail("user " + std::to_string(u) + "'s round after the faults did not complete");
            return;
        }
    }
    // Tear down: DESTROY, then close the link once it has left.
    m_sched.at(m_sched.now() + 1, [this, u, life] {
        User& us = m_users[u];
        if (us.life != life) return;
        if (us.core && us.core->state() != ClientCircuitCore::State::dead)
            apply_user(u, us.core->kill(EndReason::done, true, "round over"));
        if (us.link != none) {
            const std::size_t link = us.link;
            const TimeMs flushed = std::max(m_links[link].dir[0].last, m_sched.now()) + 1;
            m_sched.at(flushed, [this, link] { break_link(link, false); });
        }
        us.link = none;
        ++us.life;  // this round's timers are void
        if (us.final_round) {
            us.finished = true;
            return;
        }
        if (m_sched.now() >= m_fault_end) us.final_round = true;
        m_sched.at(m_sched.now() + 10 + m_rng.below(200), [this, u] { start_round(u); });
    });
}

// ---- the run ------------------------------------------------------------------------------------

DataplaneResult Dataplane::run() {
    std::vector<ledger::NodeRecord> records;
    for (std::uint32_t i = 0; i < m_o.relays; ++i) {
        Relay r{crypto::X25519KeyPair::generate(m_rng), nullptr, {}, true, 0};
        ledger::NodeRecord rec;
        rec.noise_key = r.key.public_key;
        rec.endpoints = {{"203.0.113." + std::to_string(i + 1), 443}};
        records.push_back(rec);
        m_relays.push_back(std::move(r));
    }
    m_directory = ledger::Directory(std::move(records));
    for (auto& r : m_relays)
        r.table = std::make_unique<relay::CircuitTable>(r.key.clone(), util::Limits{}, m_directory);
    m_users.resize(m_o.users);
    const bool hostile = m_rng.below(2) == 0;
    const bool faults = m_rng.below(3) != 0;
    m_lossy = m_rng.below(3) == 0;
    m_fault_end = static_cast<TimeMs>(m_o.fault_seconds) * 1000;
    std::uint32_t slow = 0;
    for (std::size_t u = 0; u < m_users.size(); ++u) {
        m_users[u].hostile = hostile && u == 0;
        if (m_users[u].hostile) m_users[u].hostility = static_cast<Hostility>(m_rng.below(3));
        if (m_rng.below(3) == 0) {
            m_users[u].read_delay = 5 + m_rng.below(200);
            ++slow;
        }
        m_sched.at(m_rng.below(100), [this, u] { start_round(u); });
    }
    std::uint32_t planned = 0;
    if (faults) {
        planned = 1 + static_cast<std::uint32_t>(m_rng.below(8));
        for (std::uint32_t i = 0; i < planned; ++i) {
            const TimeMs at = m_rng.below(std::max<TimeMs>(m_fault_end, 1));
            const bool crash_relay = m_rng.below(3) == 0;
            const std::size_t which = m_rng.below(1 << 20);
            m_sched.at(at, [this, crash_relay, which] {
                if (crash_relay) {
                    crash(which % m_relays.size());
                    return;
                }
                std::vector<std::size_t> up;
                for (std::size_t l = 0; l < m_links.size(); ++l)
                    if (m_links[l].up) up.push_back(l);
                if (up.empty()) return;
                m_any_fault = true;
                if (m_punished_before) m_attack_excused = true;
                break_link(up[which % up.size()], true);
            });
        }
    }
    m_r.scenario = std::to_string(m_o.relays) + " relays, " + std::to_string(m_o.users) + " users (" +
                   std::to_string(slow) + " slow readers" +
                   (hostile ? std::string(", user 0 hostile: ") + hostility_name(m_users[0].hostility) : "") + "), " +
                   (faults ? std::to_string(planned) + " faults in " + std::to_string(m_o.fault_seconds) + " s"
                           : std::string("no faults")) +
                   (m_lossy ? ", lossy links" : "");
    const TimeMs limit = m_fault_end + drain_ms;
    while (m_r.passed && m_sched.next_time() <= limit && m_sched.step()) {
    }
    if (!m_r.passed) return m_r;
    for (std::size_t u = 0; u < m_users.size(); ++u)
        if (!m_users[u].finished) fail("user " + std::to_string(u) + " did not finish its final round");
    for (std::size_t r = 0; r < m_relays.size() && m_r.passed; ++r) {
        if (m_relays[r].table->circuits() != 0)
            fail("relay " + std::to_string(r) + " still holds " + std::to_string(m_relays[r].table->circuits()) +
                 " circuits after every user tore down");
        if (!m_relays[r].exits.empty()) fail("relay " + std::to_string(r) + " still holds exit state");
    }
    if (m_users.front().hostile && !m_punished_before && !m_any_fault) fail("the hostile user never got to attack");
    // The attack must cost the hostile user its circuit (a relay may judge it
    // after the user's round is over: the excess is still on its way).
    if (m_punished_before && !m_attack_excused && m_r.hostile_destroyed == *m_punished_before)
        fail(std::string("the hostile user's attack went unpunished (") + hostility_name(m_users.front().hostility) +
             ")");
    return m_r;
}

}  // namespace

DataplaneResult run_dataplane(const DataplaneOptions& options) {
    CONET_ASSERT(options.relays >= 3 && options.users >= 1 && options.streams >= 1);
    Dataplane d(options);
    return d.run();
}

std::string dataplane_replay_command(const DataplaneOptions& o) {
    return "conet sim --dataplane --seed " + std::to_string(o.seed) + " --relays " + std::to_string(o.relays) +
           " --users " + std::to_string(o.users) + " --streams " + std::to_string(o.streams) + " --seconds " +
           std::to_string(o.fault_seconds) + " --trace";
}

}  // namespace conet::sim
