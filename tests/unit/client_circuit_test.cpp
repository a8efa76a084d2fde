// The user's circuit core (proxy/circuit_core) on simulated time: the test
// plays the relays (the entry answering on the link, later hops with real
// Noise NK responses and onion layers) and feeds cells and times.

#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/net/circuit_handshake.hpp"
#include "conet/proxy/circuit_core.hpp"

namespace conet::proxy {
namespace {

using net::CellCommand;
using net::EndReason;
using net::RelayCommand;
namespace noise = crypto::noise;

constexpr std::uint32_t circuit = 7;

/// The relays of one path as the user's cells reach them.
struct Relays {
    explicit Relays(std::size_t hops) : rng(99) {
        for (std::size_t i = 0; i < hops; ++i) keys.push_back(crypto::X25519KeyPair::generate(rng));
    }
    std::vector<crypto::X25519Public> path() const {
        std::vector<crypto::X25519Public> out;
        for (const auto& k : keys) out.push_back(k.public_key);
        return out;
    }

    /// The EXTEND a cell carries (a link EXTEND to the entry or a RELAY EXTEND
    /// for the last hop with a session), answered as the new hop would.
    util::Bytes answer_extend(const util::Bytes& cell_bytes) {
        auto cell = net::parse_cell(cell_bytes).value();
        util::Bytes ext;
        if (cell.command == CellCommand::extend) {
            ext = util::Bytes(cell.body.begin(), cell.body.end());
        } else {
            auto msg = open_forward(cell_bytes);
            EXPECT_EQ(msg.command, RelayCommand::extend);
            ext = msg.body;
        }
        auto req = net::decode_extend(ext).value();
        const std::size_t hop = sessions.size() + 1;
        EXPECT_EQ(req.node_key, keys[hop].public_key);
        auto resp = net::respond_circuit_handshake(keys[hop], req.handshake, rng).value();
        sessions.push_back(std::move(resp.transport));
        if (hop == 1) return net::encode_cell(circuit, CellCommand::extended, resp.reply);
        return from_hop(sessions.size() - 2, RelayCommand::extended, 0, resp.reply);
    }

    /// A relay message the user sealed for the last hop with a session, opened layer by layer.
    net::RelayMessage open_forward(const util::Bytes& cell_bytes) {
        auto cell = net::parse_cell(cell_bytes).value();
        EXPECT_EQ(cell.command, CellCommand::relay);
        util::Bytes data(cell.body.begin(), cell.body.end());
        for (auto& s : sessions) {
            auto opened = s.decrypt(data);
            if (!opened) break;  // a layer the next hop does not hold yet
            data = std::move(*opened);
            if (auto msg = net::decode_relay(data)) return *msg;
        }
        ADD_FAILURE() << "no relay message inside";
        return {};
    }

    /// A message from hop `hop` (session index) back to the user, sealed by it and every hop before.
    util::Bytes from_hop(std::size_t hop, RelayCommand cmd, std::uint32_t stream, util::ByteView body) {
        util::Bytes data{0x00};
        util::append(data, net::encode_relay(cmd, stream, body));
        for (std::size_t i = hop + 1; i-- > 0;) {
            data = sessions[i].encrypt(data).value();
            if (i > 0) data.insert(data.begin(), 0x01);
        }
        return net::encode_cell(circuit, CellCommand::relay, data);
    }
    util::Bytes from_exit(RelayCommand cmd, std::uint32_t stream, util::ByteView body = {}) {
        return from_hop(sessions.size() - 1, cmd, stream, body);
    }

    crypto::SeededRng rng;
    std::vector<crypto::X25519KeyPair> keys;
    std::vector<noise::Transport> sessions;  ///< with keys[1..]
};

CircuitActions feed(ClientCircuitCore& core, const util::Bytes& cell, TimeMs now, util::Rng& rng) {
    return core.on_cell(net::parse_cell(cell).value(), now, rng);
}

util::Bytes one_cell(const CircuitActions& a) {
    EXPECT_EQ(a.cells.size(), 1u);
    return a.cells.empty() ? util::Bytes{} : a.cells.front();
}

const CircuitTimeouts timeouts{10'000, 20'000};

/// Builds a ready circuit through `relays`, starting at `t`.
ClientCircuitCore build(Relays& relays, util::Rng& rng, TimeMs t = 1'000) {
    ClientCircuitCore core(relays.path(), circuit, timeouts);
    auto create = one_cell(core.start(t));
    EXPECT_EQ(net::parse_cell(create).value().command, CellCommand::create);
    auto a = feed(core, net::encode_cell(circuit, CellCommand::created, {}), t + 3, rng);
    while (!a.ready && !a.death) a = feed(core, relays.answer_extend(one_cell(a)), t + 5, rng);
    EXPECT_TRUE(a.ready);
    return core;
}

TEST(ClientCircuitCore, BuildsATwoHopCircuitAndCarriesAStream) {
    crypto::SeededRng rng(1);
    Relays relays(2);
    ClientCircuitCore core(relays.path(), circuit, timeouts);
    EXPECT_EQ(core.next_deadline(), std::nullopt);
    auto a = core.start(1'000);
    EXPECT_EQ(core.next_deadline(), TimeMs{11'000});
    a = feed(core, net::encode_cell(circuit, CellCommand::created, {}), 1'007, rng);
    ASSERT_EQ(a.entry_rtt, TimeMs{7});
    EXPECT_FALSE(a.ready);
    a = feed(core, relays.answer_extend(one_cell(a)), 1'010, rng);
    ASSERT_TRUE(a.ready);
    EXPECT_EQ(core.state(), ClientCircuitCore::State::ready);
    EXPECT_EQ(core.sessions(), 1u);

    a = core.open_stream({"example.org", 443}, 2'000);
    const std::uint32_t id = core.last_stream_id();
    auto begin = relays.open_forward(one_cell(a));
    EXPECT_EQ(begin.command, RelayCommand::begin);
    EXPECT_EQ(begin.stream_id, id);
    EXPECT_EQ(net::decode_target(begin.body).value().host, "example.org");
    EXPECT_EQ(core.next_deadline(), TimeMs{22'000});

    a = feed(core, relays.from_exit(RelayCommand::connected, id), 2'050, rng);
    ASSERT_EQ(a.answers.size(), 1u);
    EXPECT_TRUE(a.answers[0].connected);
    EXPECT_EQ(core.next_deadline(), std::nullopt);

    const util::Bytes payload{'h', 'i'};
    a = feed(core, relays.from_exit(RelayCommand::data, id, payload), 2'060, rng);
    ASSERT_TRUE(a.message.has_value());
    EXPECT_EQ(a.message->view.command, RelayCommand::data);
    EXPECT_EQ(util::Bytes(a.message->view.body.begin(), a.message->view.body.end()), payload);

    // What the stream layer sends is sealed for the exit.
    util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
    net::put_relay_header(buf.data() + net::cell_header_bytes, RelayCommand::data, id);
    util::append(buf, payload);
    ASSERT_TRUE(core.seal(buf));
    auto data = relays.open_forward(buf);
    EXPECT_EQ(data.command, RelayCommand::data);
    EXPECT_EQ(data.body, payload);
}

TEST(ClientCircuitCore, BuildsAThreeHopCircuitThroughTheMiddle) {
    crypto::SeededRng rng(2);
    Relays relays(3);
    ClientCircuitCore core(relays.path(), circuit, timeouts);
    core.start(0);
    auto a = feed(core, net::encode_cell(circuit, CellCommand::created, {}), 1, rng);
    EXPECT_EQ(net::parse_cell(one_cell(a)).value().command, CellCommand::extend);  // the entry extends on a link cell
    a = feed(core, relays.answer_extend(one_cell(a)), 2, rng);
    EXPECT_FALSE(a.ready);
    EXPECT_EQ(net::parse_cell(one_cell(a)).value().command, CellCommand::relay);  // the middle, inside its layer
    a = feed(core, relays.answer_extend(one_cell(a)), 3, rng);
    ASSERT_TRUE(a.ready);
    EXPECT_EQ(core.sessions(), 2u);
    a = core.open_stream({"10.0.0.1", 80}, 4);
    EXPECT_EQ(relays.open_forward(one_cell(a)).command, RelayCommand::begin);  // two layers off
    // A message that only the middle sealed, once the circuit is ready, is a protocol error.
    a = feed(core, relays.from_hop(0, RelayCommand::data, core.last_stream_id(), util::Bytes{1}), 5, rng);
    ASSERT_TRUE(a.death.has_value());
    EXPECT_EQ(a.death->reason, EndReason::protocol_error);
    EXPECT_FALSE(a.death->build_hop.has_value());
}

TEST(ClientCircuitCore, ExtendFailureBlamesTheHopItWaitedFor) {
    crypto::SeededRng rng(3);
    Relays relays(3);
    ClientCircuitCore core(relays.path(), circuit, timeouts);
    core.start(0);
    auto a = feed(core, net::encode_cell(circuit, CellCommand::created, {}), 1, rng);
    a = feed(core, relays.answer_extend(one_cell(a)), 2, rng);  // the middle joined; the exit is asked
    const std::uint8_t reason = 7;
    a = feed(core, net::encode_cell(circuit, CellCommand::destroy, util::ByteView(&reason, 1)), 3, rng);
    ASSERT_TRUE(a.death.has_value());
    EXPECT_EQ(a.death->build_hop, std::optional<std::size_t>(2));
    EXPECT_TRUE(a.cells.empty()) << "no DESTROY back for a circuit the entry destroyed";
    EXPECT_EQ(core.state(), ClientCircuitCore::State::dead);
    // Cells after death are dropped.
    a = feed(core, net::encode_cell(circuit, CellCommand::created, {}), 4, rng);
    EXPECT_TRUE(a.cells.empty() && !a.death && !a.ready);
}

TEST(ClientCircuitCore, AForgedHopAnswerFailsTheBuild) {
    crypto::SeededRng rng(4);
    Relays relays(2);
    ClientCircuitCore core(relays.path(), circuit, timeouts);
    core.start(0);
    auto a = feed(core, net::encode_cell(circuit, CellCommand::created, {}), 1, rng);
    ASSERT_EQ(a.cells.size(), 1u);
    // An entry answering EXTEND itself, without the exit's key, cannot authenticate.
    a = feed(core, net::encode_cell(circuit, CellCommand::extended, util::Bytes(48, 0x42)), 2, rng);
    ASSERT_TRUE(a.death.has_value());
    EXPECT_EQ(a.death->build_hop, std::optional<std::size_t>(1));
    EXPECT_EQ(a.death->why, "hop authentication failed");
    ASSERT_EQ(a.cells.size(), 1u);
    EXPECT_EQ(net::parse_cell(a.cells[0]).value().command, CellCommand::destroy);
}

TEST(ClientCircuitCore, BuildTimesOutAtItsDeadlineAndNotBefore) {
    crypto::SeededRng rng(5);
    Relays relays(2);
    ClientCircuitCore core(relays.path(), circuit, timeouts);
    core.start(500);
    auto a = core.on_time(10'499);
    EXPECT_FALSE(a.death.has_value());
    a = core.on_time(10'500);
    ASSERT_TRUE(a.death.has_value());
    EXPECT_EQ(a.death->build_hop, std::optional<std::size_t>(0));
    EXPECT_EQ(a.death->why, "no CREATED");
    EXPECT_EQ(core.next_deadline(), std::nullopt);
}

TEST(ClientCircuitCore, StreamOpenTimeoutRacingConnectedKeepsTheCircuit) {
    crypto::SeededRng rng(6);
    Relays relays(2);
    auto core = build(relays, rng);
    auto a = core.open_stream({"slow.example", 80}, 5'000);
    const std::uint32_t slow = core.last_stream_id();
    EXPECT_EQ(relays.open_forward(one_cell(a)).command, RelayCommand::begin);
    EXPECT_TRUE(core.on_time(24'999).answers.empty());
    a = core.on_time(25'000);
    ASSERT_EQ(a.answers.size(), 1u);
    EXPECT_FALSE(a.answers[0].connected);
    EXPECT_EQ(a.answers[0].reason, EndReason::timeout);
    auto reset = relays.open_forward(one_cell(a));
    EXPECT_EQ(reset.command, RelayCommand::reset);
    EXPECT_EQ(reset.stream_id, slow);
    EXPECT_EQ(reset.body, util::Bytes{static_cast<std::uint8_t>(EndReason::timeout)});
    EXPECT_EQ(core.streams_abandoned(), 1u);

    // The exit's CONNECTED crossed our RESET: dropped, the circuit lives on.
    a = feed(core, relays.from_exit(RelayCommand::connected, slow), 25'001, rng);
    EXPECT_FALSE(a.death.has_value());
    EXPECT_TRUE(a.answers.empty());
    EXPECT_FALSE(a.message.has_value());
    EXPECT_EQ(core.streams_abandoned(), 0u);
    EXPECT_EQ(core.state(), ClientCircuitCore::State::ready);

    // The next stream opens normally.
    a = core.open_stream({"fast.example", 80}, 25'010);
    const std::uint32_t fast = core.last_stream_id();
    EXPECT_NE(fast, slow);
    a = feed(core, relays.from_exit(RelayCommand::connected, fast), 25'020, rng);
    ASSERT_EQ(a.answers.size(), 1u);
    EXPECT_TRUE(a.answers[0].connected);

    // A second CONNECTED for the same stream is a protocol error.
    a = feed(core, relays.from_exit(RelayCommand::connected, slow), 25'030, rng);
    ASSERT_TRUE(a.death.has_value());
    EXPECT_EQ(a.death->reason, EndReason::protocol_error);
}

TEST(ClientCircuitCore, ConnectedJustBeforeTheDeadlineWins) {
    crypto::SeededRng rng(7);
    Relays relays(2);
    auto core = build(relays, rng);
    core.open_stream({"a.example", 80}, 1'000);
    auto a = feed(core, relays.from_exit(RelayCommand::connected, core.last_stream_id()), 20'999, rng);
    ASSERT_EQ(a.answers.size(), 1u);
    EXPECT_TRUE(a.answers[0].connected);
    a = core.on_time(21'000);
    EXPECT_TRUE(a.answers.empty() && a.cells.empty());
}

TEST(ClientCircuitCore, ARefusalForPaymentIsReportedWithItsReason) {
    crypto::SeededRng rng(8);
    Relays relays(2);
    auto core = build(relays, rng);
    core.open_stream({"a.example", 80}, 1'000);
    const std::uint8_t reason = static_cast<std::uint8_t>(EndReason::payment_required);
    auto a = feed(core, relays.from_exit(RelayCommand::reset, core.last_stream_id(), util::ByteView(&reason, 1)), 1'010,
                  rng);
    ASSERT_EQ(a.answers.size(), 1u);
    EXPECT_FALSE(a.answers[0].connected);
    EXPECT_EQ(a.answers[0].reason, EndReason::payment_required);
    EXPECT_EQ(a.refusal, EndReason::payment_required);
}

TEST(ClientCircuitCore, DeathAnswersEveryStreamBeingOpened) {
    crypto::SeededRng rng(9);
    Relays relays(2);
    auto core = build(relays, rng);
    core.open_stream({"a.example", 80}, 1'000);
    core.open_stream({"b.example", 80}, 1'001);
    auto a = core.kill(EndReason::destroyed, false, "link lost");
    ASSERT_TRUE(a.death.has_value());
    EXPECT_FALSE(a.death->build_hop.has_value());
    EXPECT_TRUE(a.cells.empty());
    ASSERT_EQ(a.answers.size(), 2u);
    for (const auto& ans : a.answers) {
        EXPECT_FALSE(ans.connected);
        EXPECT_EQ(ans.reason, EndReason::destroyed);
    }
    EXPECT_EQ(core.next_deadline(), std::nullopt);
    util::Bytes buf(net::cell_header_bytes + net::relay_header_bytes);
    EXPECT_FALSE(core.seal(buf)) << "a dead circuit seals nothing";
}

TEST(ClientCircuitCore, UnexpectedCellsAreProtocolErrors) {
    crypto::SeededRng rng(10);
    Relays relays(2);
    {
        ClientCircuitCore core(relays.path(), circuit, timeouts);
        core.start(0);
        // EXTENDED before CREATED.
        auto a = feed(core, net::encode_cell(circuit, CellCommand::extended, {}), 1, rng);
        ASSERT_TRUE(a.death.has_value());
        EXPECT_EQ(a.death->reason, EndReason::protocol_error);
    }
    {
        auto core = build(relays, rng);
        // Garbage where a sealed relay cell belongs.
        auto a = feed(core, net::encode_cell(circuit, CellCommand::relay, util::Bytes(40, 1)), 2'000, rng);
        ASSERT_TRUE(a.death.has_value());
        EXPECT_EQ(a.death->reason, EndReason::protocol_error);
    }
}

}  // namespace
}  // namespace conet::proxy
