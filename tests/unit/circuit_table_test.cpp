// The relay's circuit table (relay/circuit_table) on simulated time, wired
// to other tables and to the user's circuit core (proxy/circuit_core) in one
// process: a small data plane with no sockets, where every cell is a value.

#include "conet/relay/circuit_table.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "conet/crypto/random.hpp"
#include "conet/net/circuit_handshake.hpp"
#include "conet/proxy/circuit_core.hpp"

namespace conet::relay {
namespace {

using net::CellCommand;
using net::EndReason;
using net::RelayCommand;
using proxy::CircuitActions;
using proxy::ClientCircuitCore;

constexpr std::size_t user = 1000;  ///< the user's node number in the network below
constexpr std::uint32_t user_circuit = 5;

bool contains(const util::Bytes& haystack, std::string_view needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

/// Relays 0..n-1 and one user, connected by links that deliver cells in order.
struct Network {
    explicit Network(std::size_t n, util::Limits limits = {}) : rng(42) {
        std::vector<ledger::NodeRecord> records;
        for (std::size_t i = 0; i < n; ++i) {
            keys.push_back(crypto::X25519KeyPair::generate(rng));
            ledger::NodeRecord r;
            r.noise_key = keys.back().public_key;
            r.endpoints = {{"203.0.113." + std::to_string(i + 1), 443}};
            records.push_back(r);
        }
        directory = ledger::Directory(std::move(records));
        for (std::size_t i = 0; i < n; ++i)
            tables.push_back(std::make_unique<CircuitTable>(keys[i].clone(), limits, directory));
    }

    /// A link between node a and node b; returns (a's id, b's id).
    std::pair<LinkId, LinkId> connect(std::size_t a, std::size_t b, bool b_sees_user) {
        const LinkId la = next_link++, lb = next_link++;
        peer[{a, la}] = {b, lb};
        peer[{b, lb}] = {a, la};
        if (a != user) tables[a]->link_up(la, LinkInfo{false, true, keys[b].public_key, {}});
        tables[b]->link_up(lb,
                           LinkInfo{b_sees_user, false, b_sees_user ? std::nullopt : std::optional(keys[a].public_key),
                                    "198.51.100.0/24"});
        return {la, lb};
    }

    /// The user's link to `entry`; its core is built with this path.
    void attach_user(std::size_t entry, std::vector<std::size_t> path) {
        user_link = connect(user, entry, true).first;
        std::vector<crypto::X25519Public> keys_of_path;
        for (auto i : path) keys_of_path.push_back(keys[i].public_key);
        core.emplace(keys_of_path, user_circuit, proxy::CircuitTimeouts{10'000, 20'000});
    }

    void from_user(CircuitActions a) {
        for (auto& c : a.cells) queue.push_back({user, user_link, std::move(c)});
        user_events.push_back(std::move(a));
    }

    void apply(std::size_t node, TableActions& out) {
        for (auto& s : out.sends) queue.push_back({node, s.link, std::move(s.cell)});
        for (const char* r : out.rejects) rejects.push_back(r);
        for (auto& c : out.closes) closes.push_back({node, c.link});
        for (auto& d : out.dials) {
            std::size_t to = 0;
            while (keys[to].public_key != d.node.noise_key) ++to;
            TableActions next;
            if (refuse_dials) {
                tables[node]->extend_failed(d.circuit, EndReason::host_unreachable, next);
            } else {
                const auto [mine, theirs] = connect(node, to, false);
                tables[node]->extend_ready(d.circuit, mine, next);
            }
            apply(node, next);
        }
        for (auto& m : out.exit_messages) exit_messages.push_back({node, m.circuit, m.view.command, m.view.stream_id});
        for (auto& c : out.closed) closed.push_back({node, c.reason});
        unknown_relay = unknown_relay || out.unknown_relay;
    }

    /// Delivers every queued cell (and what it causes) at time `now`.
    void run(TimeMs now = 1'000) {
        while (!queue.empty()) {
            auto [from, link, cell] = std::move(queue.front());
            queue.pop_front();
            const auto [to, to_link] = peer.at({from, link});
            seen[to].push_back(cell);
            if (to == user) {
                auto parsed = net::parse_cell(cell);
                ASSERT_TRUE(parsed.has_value());
                from_user(core->on_cell(*parsed, now, rng));
                continue;
            }
            TableActions out;
            tables[to]->on_cell(to_link, cell, now, rng, out);
            apply(to, out);
        }
    }

    bool user_ready() const {
        return std::any_of(user_events.begin(), user_events.end(), [](const auto& a) { return a.ready; });
    }

    struct Queued {
        std::size_t from;
        LinkId link;
        util::Bytes cell;
    };
    struct ExitSeen {
        std::size_t node;
        CircuitKey circuit;
        RelayCommand command;
        std::uint32_t stream;
    };
    crypto::SeededRng rng;
    std::vector<crypto::X25519KeyPair> keys;
    ledger::Directory directory;
    std::vector<std::unique_ptr<CircuitTable>> tables;
    std::map<std::pair<std::size_t, LinkId>, std::pair<std::size_t, LinkId>> peer;
    LinkId next_link = 1;
    LinkId user_link = 0;
    std::optional<ClientCircuitCore> core;
    std::deque<Queued> queue;
    std::map<std::size_t, std::vector<util::Bytes>> seen;  ///< cells each node received
    std::vector<CircuitActions> user_events;
    std::vector<ExitSeen> exit_messages;
    std::vector<std::pair<std::size_t, EndReason>> closed;
    std::vector<const char*> rejects;
    std::vector<std::pair<std::size_t, LinkId>> closes;
    bool unknown_relay = false;
    bool refuse_dials = false;
};

TEST(CircuitTable, ThreeRelaysCarryAThreeHopCircuitAndTheEntrySeesNoPlaintext) {
    Network net(3);
    net.attach_user(0, {0, 1, 2});
    net.from_user(net.core->start(1'000));
    net.run();
    ASSERT_TRUE(net.user_ready());
    for (const auto& t : net.tables) EXPECT_EQ(t->circuits(), 1u);
    EXPECT_EQ(net.tables[0]->links(), 2u);  // the user, the middle

    net.from_user(net.core->open_stream({"secret-destination.example", 443}, 1'100));
    net.run();
    ASSERT_EQ(net.exit_messages.size(), 1u);
    const auto begin = net.exit_messages.back();
    EXPECT_EQ(begin.node, 2u);
    EXPECT_EQ(begin.command, RelayCommand::begin);
    EXPECT_EQ(begin.stream, net.core->last_stream_id());
    for (std::size_t hop : {0, 1})
        for (const auto& cell : net.seen[hop])
            EXPECT_FALSE(contains(cell, "secret-destination")) << "relay " << hop << " saw the destination";

    // The exit answers through both layers back to the user.
    TableActions out;
    util::Bytes buf(CircuitTable::headroom + net::relay_header_bytes);
    net::put_relay_header(buf.data() + CircuitTable::headroom, RelayCommand::connected, begin.stream);
    ASSERT_TRUE(net.tables[2]->send_from_exit(begin.circuit, std::move(buf), out));
    net.apply(2, out);
    net.run();
    ASSERT_EQ(net.user_events.back().answers.size(), 1u);
    EXPECT_TRUE(net.user_events.back().answers[0].connected);
}

TEST(CircuitTable, TheUsersDestroyTearsDownEveryHop) {
    Network net(3);
    net.attach_user(0, {0, 1, 2});
    net.from_user(net.core->start(1'000));
    net.run();
    ASSERT_TRUE(net.user_ready());
    net.from_user(net.core->kill(EndReason::done, true, "retired"));
    net.run();
    for (const auto& t : net.tables) EXPECT_EQ(t->circuits(), 0u) << "a circuit leaked after teardown";
    EXPECT_EQ(net.closed.size(), 3u);
}

TEST(CircuitTable, ALostUserLinkDestroysTheCircuitDownstream) {
    Network net(2);
    net.attach_user(0, {0, 1});
    net.from_user(net.core->start(1'000));
    net.run();
    ASSERT_TRUE(net.user_ready());
    TableActions out;
    net.tables[0]->link_down(net.peer.at({user, net.user_link}).second, out);
    net.apply(0, out);
    net.queue.erase(std::remove_if(net.queue.begin(), net.queue.end(),
                                   [&](const auto& q) {
                                       return q.from == 0 && !net.peer.count({0, q.link});
                                   }),
                    net.queue.end());
    net.run();
    EXPECT_EQ(net.tables[0]->circuits(), 0u);
    EXPECT_EQ(net.tables[1]->circuits(), 0u);
    EXPECT_EQ(net.tables[0]->links(), 1u);  // the link to the exit stays for other circuits
}

TEST(CircuitTable, ExtendToAnUnknownRelayOrAFailedDialFailsTheBuild) {
    {
        Network net(2);
        net.attach_user(0, {0, 1});
        // The user asks for a relay the entry's directory does not know.
        const auto stranger = crypto::X25519KeyPair::generate(net.rng).public_key;
        net.core.emplace(std::vector<crypto::X25519Public>{net.keys[0].public_key, stranger}, user_circuit,
                         proxy::CircuitTimeouts{});
        net.from_user(net.core->start(0));
        net.run();
        EXPECT_TRUE(net.unknown_relay);
        ASSERT_TRUE(net.user_events.back().death.has_value());
        EXPECT_EQ(net.user_events.back().death->build_hop, std::optional<std::size_t>(1));
        EXPECT_EQ(net.tables[0]->circuits(), 0u);
    }
    {
        Network net(2);
        net.refuse_dials = true;
        net.attach_user(0, {0, 1});
        net.from_user(net.core->start(0));
        net.run();
        ASSERT_TRUE(net.user_events.back().death.has_value());
        EXPECT_EQ(net.user_events.back().death->build_hop, std::optional<std::size_t>(1));
        EXPECT_EQ(net.tables[0]->circuits(), 0u);
    }
}

util::Bytes create_cell(std::uint32_t id, util::ByteView body = {}) {
    return net::encode_cell(id, CellCommand::create, body);
}

TEST(CircuitTable, CreatesPastTheRateAreRefusedThenTheLinkIsClosed) {
    util::Limits lim;
    lim.creates_per_second_per_link = 2;
    lim.creates_burst_per_link = 4;
    lim.creates_per_second_per_prefix = 1'000;
    Network net(1, lim);
    const LinkId l = net.connect(user, 0, true).second;
    std::size_t created = 0, refused = 0, closed = 0;
    for (std::uint32_t id = 1; id <= 20 && closed == 0; ++id) {
        TableActions out;
        net.tables[0]->on_cell(l, create_cell(id), 5'000, net.rng, out);
        for (const auto& s : out.sends) {
            const auto c = net::parse_cell(s.cell).value();
            created += c.command == CellCommand::created;
            refused += c.command == CellCommand::destroy;
        }
        for (const auto& c : out.closes) closed += c.punish;
    }
    EXPECT_EQ(created, 4u);  // the burst
    EXPECT_EQ(refused, 4u);  // refusals have the same budget
    EXPECT_EQ(closed, 1u);
    // A second later the bucket has refilled by the rate.
    Network fresh(1, lim);
    const LinkId f = fresh.connect(user, 0, true).second;
    std::size_t ok = 0;
    for (std::uint32_t id = 1; id <= 4; ++id) {
        TableActions out;
        fresh.tables[0]->on_cell(f, create_cell(id), 5'000, fresh.rng, out);
    }
    for (std::uint32_t id = 5; id <= 8; ++id) {
        TableActions out;
        fresh.tables[0]->on_cell(f, create_cell(id), 6'000, fresh.rng, out);
        ok += net::parse_cell(out.sends.at(0).cell).value().command == CellCommand::created;
    }
    EXPECT_EQ(ok, 2u);
}

TEST(CircuitTable, MalformedOrMisplacedCellsAreRefused) {
    Network net(2);
    const LinkId u = net.connect(user, 0, true).second;
    const LinkId r = net.connect(1, 0, false).second;  // relay 1 dialled relay 0
    auto run = [&](LinkId l, const util::Bytes& cell) {
        TableActions out;
        net.tables[0]->on_cell(l, cell, 1'000, net.rng, out);
        return out;
    };
    EXPECT_EQ(run(u, util::Bytes{1, 2}).closes.size(), 1u);  // not a cell
    // A relay link must create onion hops: an empty CREATE closes it.
    EXPECT_EQ(std::string(run(r, create_cell(3)).rejects.at(0)), "bad_create");
    // A reused circuit id closes the link.
    ASSERT_EQ(run(u, create_cell(9)).sends.size(), 1u);
    auto dup = run(u, create_cell(9));
    EXPECT_EQ(std::string(dup.rejects.at(0)), "duplicate_circuit");
    EXPECT_EQ(dup.closes.size(), 1u);
    // A relay cell that is not ours to open destroys the circuit (CREATE with a hop handshake).
    const LinkId u2 = net.connect(user, 0, true).second;
    auto hs = net::start_circuit_handshake(net.keys[0].public_key, net.rng).value();
    ASSERT_EQ(run(u2, create_cell(4, hs.message)).sends.size(), 1u);
    auto forged = run(u2, net::encode_cell(4, CellCommand::relay, util::Bytes(64, 0x33)));
    EXPECT_EQ(std::string(forged.rejects.at(0)), "onion_auth");
    ASSERT_EQ(forged.closed.size(), 1u);
    EXPECT_EQ(forged.closed[0].reason, EndReason::protocol_error);
    EXPECT_EQ(net.tables[0]->circuits(), 1u);  // only circuit 9 on the first link remains
}

TEST(CircuitTable, AQueueOverflowDestroysOnlyThatCircuit) {
    Network net(2);
    net.attach_user(0, {0, 1});
    net.from_user(net.core->start(1'000));
    net.run();
    ASSERT_TRUE(net.user_ready());
    const LinkId entry_side = net.peer.at({user, net.user_link}).second;
    TableActions out;
    net.tables[0]->on_circuit_overflow(entry_side, user_circuit, out);
    ASSERT_EQ(out.closed.size(), 1u);
    EXPECT_EQ(out.closed[0].reason, EndReason::resource_limit);
    net.apply(0, out);
    net.run();
    EXPECT_EQ(net.tables[1]->circuits(), 0u);
    ASSERT_TRUE(net.user_events.back().death.has_value());
    EXPECT_EQ(net.user_events.back().death->reason, EndReason::destroyed);
}

TEST(CircuitTable, AnExitInUseCannotBeExtended) {
    Network net(3);
    net.attach_user(0, {0, 1});
    net.from_user(net.core->start(1'000));
    net.run();
    ASSERT_TRUE(net.user_ready());
    net.from_user(net.core->open_stream({"a.example", 80}, 1'100));
    net.run();
    ASSERT_EQ(net.exit_messages.size(), 1u);
    // The user now (wrongly) asks the exit to extend: the circuit is destroyed.
    const CircuitKey at_exit = net.exit_messages[0].circuit;
    auto hs = net::start_circuit_handshake(net.keys[2].public_key, net.rng).value();
    util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
    net::put_relay_header(buf.data() + net::cell_header_bytes, RelayCommand::extend, 0);
    util::append(buf, net::encode_extend({net.keys[2].public_key, hs.message}));
    ASSERT_TRUE(net.core->seal(buf));
    net.queue.push_back({user, net.user_link, std::move(buf)});
    net.run();
    EXPECT_FALSE(net.tables[1]->alive(at_exit));
    EXPECT_EQ(net.tables[0]->circuits(), 0u);
}

}  // namespace
}  // namespace conet::relay
