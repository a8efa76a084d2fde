#include "conet/net/peer_transport.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>

#include "conet/crypto/random.hpp"
#include "conet/runtime/asio_runtime.hpp"

namespace conet::net {
namespace {

using runtime::PeerId;
namespace noise = crypto::noise;

constexpr std::uint64_t chain = 7;
constexpr std::size_t max_message = 2u << 20;

/// Three validators' wallet keys and addresses (index order).
struct Validators {
    Validators() {
        crypto::SeededRng rng(42);
        for (int i = 0; i < 3; ++i) keys.push_back(crypto::PrivateKey::generate(rng));
        for (const auto& k : keys) addresses.push_back(k.address());
    }
    /// The identity validator `self` uses; `key` and `chain_id` may lie.
    std::shared_ptr<const ValidatorIdentity> identity(PeerId self, const crypto::PrivateKey& key,
                                                      std::uint64_t chain_id = chain) const {
        return std::make_shared<const ValidatorIdentity>(ValidatorIdentity{chain_id, self, addresses, key.clone()});
    }
    std::shared_ptr<const ValidatorIdentity> identity(PeerId self) const { return identity(self, keys[self]); }

    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::Address> addresses;
};

/// What went wrong on each side while two sessions talked.
struct Outcome {
    std::optional<PeerError> dialer;
    std::optional<PeerError> acceptor;
    std::vector<util::Bytes> delivered;  ///< messages the acceptor delivered
};

/// Moves output between the sessions until both are quiet or one fails.
Outcome pump(PeerSession& d, PeerSession& a, util::Rng& rng) {
    Outcome o;
    for (int round = 0; round < 8; ++round) {
        const util::Bytes to_a = d.take_output();
        const util::Bytes to_d = a.take_output();
        if (to_a.empty() && to_d.empty()) break;
        if (!to_a.empty()) {
            auto r = a.receive(to_a, rng);
            if (!r) return o.acceptor = r.error(), o;
            for (auto& m : *r) o.delivered.push_back(std::move(m));
        }
        if (!to_d.empty()) {
            auto r = d.receive(to_d, rng);
            if (!r) return o.dialer = r.error(), o;
            EXPECT_TRUE(r->empty());
        }
    }
    return o;
}

util::Bytes pattern_bytes(std::size_t n, std::uint8_t seed) {
    util::Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 31 + (i >> 8));
    return b;
}

/// Feeds `wire` to the acceptor in pieces of `piece` bytes.
util::Result<std::vector<util::Bytes>, PeerError> feed(PeerSession& a, util::ByteView wire, std::size_t piece,
                                                       util::Rng& rng) {
    std::vector<util::Bytes> all;
    for (std::size_t at = 0; at < wire.size(); at += piece) {
        auto r = a.receive(wire.subspan(at, std::min(piece, wire.size() - at)), rng);
        if (!r) return util::unexpected(r.error());
        for (auto& m : *r) all.push_back(std::move(m));
    }
    return all;
}

struct Established {
    PeerSession dialer;
    PeerSession acceptor;
};

/// Validator `from` dials validator `to`; both hellos checked.
Established establish(const Validators& v, PeerId from, PeerId to, util::Rng& rng, std::size_t dialer_max = max_message,
                      std::size_t acceptor_max = max_message) {
    auto d = PeerSession::dial(v.identity(from), to, dialer_max, rng);
    auto a = PeerSession::accept(v.identity(to), acceptor_max);
    EXPECT_TRUE(d && a);
    const Outcome o = pump(*d, *a, rng);
    EXPECT_FALSE(o.dialer.has_value());
    EXPECT_FALSE(o.acceptor.has_value());
    EXPECT_TRUE(d->established() && a->established());
    return {std::move(*d), std::move(*a)};
}

// ---- the I/O-free session ------------------------------------------------------------

TEST(PeerTransportSession, HandshakeAuthenticatesBothSidesAndCarriesMessagesOfAnySize) {
    Validators v;
    crypto::SeededRng rng(1);
    auto [d, a] = establish(v, 1, 0, rng);
    EXPECT_EQ(d.peer(), PeerId{0});
    EXPECT_EQ(a.peer(), PeerId{1});  // learnt from the hello, proved by the signature

    // Sizes around the record boundaries, an empty message and 1 MiB.
    const std::vector<std::size_t> sizes = {
        5,        0,          validator_chunk_bytes - 4, validator_chunk_bytes - 3, 2 * validator_chunk_bytes - 4,
        1u << 20, max_message};
    std::vector<util::Bytes> sent;
    util::Bytes wire;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        sent.push_back(pattern_bytes(sizes[i], static_cast<std::uint8_t>(i)));
        const std::size_t before = wire.size();
        ASSERT_TRUE(d.seal(sent.back(), wire));
        EXPECT_EQ(wire.size() - before, PeerSession::sealed_bytes(sizes[i]));
    }
    // Delivered whole and in order, whatever the read sizes.
    for (std::size_t piece : {std::size_t{1}, std::size_t{1000}, std::size_t{65537}, wire.size()}) {
        if (piece == 1) {
            // Byte by byte is slow for megabytes: do it on the first messages only.
            auto [d2, a2] = establish(v, 1, 0, rng);
            util::Bytes small;
            ASSERT_TRUE(d2.seal(sent[0], small));
            ASSERT_TRUE(d2.seal(sent[3], small));
            auto got = feed(a2, small, 1, rng);
            ASSERT_TRUE(got);
            ASSERT_EQ(got->size(), 2u);
            EXPECT_EQ((*got)[0], sent[0]);
            EXPECT_EQ((*got)[1], sent[3]);
            continue;
        }
        auto [d2, a2] = establish(v, 1, 0, rng);
        util::Bytes w;
        for (const auto& m : sent) ASSERT_TRUE(d2.seal(m, w));
        auto got = feed(a2, w, piece, rng);
        ASSERT_TRUE(got) << describe(got.error());
        EXPECT_EQ(*got, sent) << "piece " << piece;
    }
    auto got = feed(a, wire, 4096, rng);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, sent);
}

TEST(PeerTransportSession, OnlyAnEstablishedDialerSends) {
    Validators v;
    crypto::SeededRng rng(2);
    auto d = PeerSession::dial(v.identity(1), 0, max_message, rng);
    ASSERT_TRUE(d);
    util::Bytes out;
    EXPECT_EQ(d->seal(util::to_bytes("early"), out).error(), PeerError::not_ready);
    auto [d2, a2] = establish(v, 1, 0, rng);
    EXPECT_EQ(a2.seal(util::to_bytes("wrong way"), out).error(), PeerError::not_ready);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(d2.seal(pattern_bytes(max_message + 1, 0), out).error(), PeerError::message_too_long);

    // Anything the acceptor's side sends after the hellos is refused by the dialer.
    auto [d3, a3] = establish(v, 2, 0, rng);
    util::Bytes record = {0, 20};
    record.resize(22, 0x55);
    EXPECT_EQ(d3.receive(record, rng).error(), PeerError::unexpected_data);
}

TEST(PeerTransportSession, HelloSignedByAnUnknownKeyIsRefusedAndAKnownKeyIsWhoItIs) {
    Validators v;
    crypto::SeededRng rng(3);
    crypto::SeededRng other(99);
    const auto intruder = crypto::PrivateKey::generate(other);
    // Runs as validator 1 but signs with a key that is no peer's.
    auto d = PeerSession::dial(v.identity(1, intruder), 0, max_message, rng);
    auto a = PeerSession::accept(v.identity(0), max_message);
    const Outcome o = pump(*d, *a, rng);
    EXPECT_EQ(o.acceptor, PeerError::unknown_validator);
    EXPECT_FALSE(a->established());
    EXPECT_FALSE(a->peer().has_value());
    // The peer is whoever signed: validator 2's key is validator 2, whatever number the dialer uses for itself.
    auto d2 = PeerSession::dial(v.identity(1, v.keys[2]), 0, max_message, rng);
    auto a2 = PeerSession::accept(v.identity(0), max_message);
    EXPECT_FALSE(pump(*d2, *a2, rng).acceptor);
    EXPECT_TRUE(a2->established());
    EXPECT_EQ(a2->peer(), PeerId{2});
}

TEST(PeerTransportSession, HelloForAnotherChainIsRefused) {
    Validators v;
    crypto::SeededRng rng(4);
    // Validator 1's genuine key, but its hello is for chain + 1.
    auto d = PeerSession::dial(v.identity(1, v.keys[1], chain + 1), 0, max_message, rng);
    auto a = PeerSession::accept(v.identity(0), max_message);
    ASSERT_TRUE(a->receive(d->take_output(), rng));
    const util::Bytes back = a->take_output();
    const std::size_t reply = 2 + validator_handshake2_bytes;
    // Give the dialer only the handshake reply, so that it sends its hello.
    ASSERT_TRUE(d->receive(util::ByteView(back).first(reply), rng));
    EXPECT_EQ(a->receive(d->take_output(), rng).error(), PeerError::unknown_validator);
    EXPECT_FALSE(a->established());
    // The other way: the acceptor's hello (chain) is refused by this dialer.
    EXPECT_EQ(d->receive(util::ByteView(back).subspan(reply), rng).error(), PeerError::unexpected_peer);
    EXPECT_FALSE(d->established());
    // Control: the same exchange on the same chain succeeds.
    auto [d2, a2] = establish(v, 1, 0, rng);
    EXPECT_EQ(a2.peer(), PeerId{1});
}

TEST(PeerTransportSession, OurOwnHelloOrAnotherValidatorThanTheOneDialedIsRefused) {
    Validators v;
    crypto::SeededRng rng(5);
    {
        // Validator 0's own (genuine) hello, e.g. reflected back to it.
        auto d = PeerSession::dial(v.identity(0), 0, max_message, rng);
        auto a = PeerSession::accept(v.identity(0), max_message);
        EXPECT_EQ(pump(*d, *a, rng).acceptor, PeerError::own_address);
    }
    {
        // The dialer meant to reach validator 2 but validator 0 answered.
        auto d = PeerSession::dial(v.identity(1), 2, max_message, rng);
        auto a = PeerSession::accept(v.identity(0), max_message);
        ASSERT_TRUE(a->receive(d->take_output(), rng));
        EXPECT_EQ(d->receive(a->take_output(), rng).error(), PeerError::unexpected_peer);
        EXPECT_FALSE(d->established());
    }
}

TEST(PeerTransportSession, RelayedHelloFromAnotherSessionIsRefused) {
    // A man in the middle M sits between validator 1 (dialing) and validator 0.
    // It completes NN with each and forwards 1's genuine hello to 0.
    Validators v;
    crypto::SeededRng rng(6);
    auto protocol = noise::parse_protocol_name(validator_link_protocol);
    ASSERT_TRUE(protocol);
    const util::Bytes prologue = util::to_bytes(validator_link_prologue);
    auto strip = [](util::ByteView record) { return util::Bytes(record.begin() + 2, record.end()); };
    auto frame = [](util::ByteView body) {
        util::Bytes out = {static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
        util::append(out, body);
        return out;
    };

    // Session 1: validator 1 -> M (M answers as a responder).
    auto d = PeerSession::dial(v.identity(1), 0, max_message, rng);
    auto m1 = noise::HandshakeState::create({*protocol, noise::Role::responder, prologue, {}, {}, {}, {}, {}});
    ASSERT_TRUE(m1 && m1->read_message(strip(d->take_output())));
    auto reply = m1->write_message({}, rng);
    ASSERT_TRUE(reply);
    auto t1 = std::move(*m1).split();
    ASSERT_TRUE(t1);
    ASSERT_TRUE(d->receive(frame(*reply), rng));
    auto hello = t1->decrypt(strip(d->take_output()));
    ASSERT_TRUE(hello);
    ASSERT_EQ(hello->size(), validator_hello_bytes);

    // Session 2: M -> validator 0, presenting validator 1's hello.
    auto a = PeerSession::accept(v.identity(0), max_message);
    auto m2 = noise::HandshakeState::create({*protocol, noise::Role::initiator, prologue, {}, {}, {}, {}, {}});
    ASSERT_TRUE(m2);
    auto first = m2->write_message({}, rng);
    ASSERT_TRUE(first && a->receive(frame(*first), rng));
    const util::Bytes from_a = a->take_output();
    const std::size_t len2 = (std::size_t(from_a[0]) << 8) | from_a[1];
    ASSERT_TRUE(m2->read_message(util::ByteView(from_a).subspan(2, len2)));
    auto t2 = std::move(*m2).split();
    ASSERT_TRUE(t2);
    auto relayed = t2->encrypt(*hello);
    ASSERT_TRUE(relayed);
    EXPECT_EQ(a->receive(frame(*relayed), rng).error(), PeerError::unknown_validator)
        << "a hello signed over another session recovers nobody we know";
    EXPECT_FALSE(a->established());
}

TEST(PeerTransportSession, MessageLongerThanTheLimitCloses) {
    Validators v;
    crypto::SeededRng rng(7);
    // The sender allows 4 MiB, the receiver 1 MiB.
    auto [d, a] = establish(v, 1, 0, rng, 4u << 20, 1u << 20);
    util::Bytes ok, too_long;
    ASSERT_TRUE(d.seal(pattern_bytes(1u << 20, 1), ok));
    ASSERT_TRUE(d.seal(pattern_bytes((1u << 20) + 1, 2), too_long));
    auto got = a.receive(ok, rng);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->size(), 1u);  // exactly the limit passes
    // The length is refused from the first record: far less than the message is read.
    EXPECT_EQ(a.receive(util::ByteView(too_long).first(70'000), rng).error(), PeerError::message_too_long);
    EXPECT_EQ(a.receive(util::ByteView(too_long).subspan(70'000), rng).error(), PeerError::message_too_long);
}

TEST(PeerTransportSession, GarbageInsteadOfTheHandshakeCloses) {
    Validators v;
    crypto::SeededRng rng(8);
    {
        auto a = PeerSession::accept(v.identity(0), max_message);
        const util::Bytes garbage(200, 0xab);  // "record" of 0xabab bytes
        EXPECT_EQ(a->receive(garbage, rng).error(), PeerError::handshake_failed);
        EXPECT_TRUE(a->take_output().empty());
        // Failed for good.
        EXPECT_EQ(a->receive(util::Bytes(1, 0), rng).error(), PeerError::handshake_failed);
    }
    {
        // A first message of the right size, then a garbage hello.
        auto d = PeerSession::dial(v.identity(1), 0, max_message, rng);
        auto a = PeerSession::accept(v.identity(0), max_message);
        ASSERT_TRUE(a->receive(d->take_output(), rng));
        util::Bytes fake_hello = {0, static_cast<std::uint8_t>(validator_hello_bytes + noise::tag_bytes)};
        fake_hello.resize(2 + validator_hello_bytes + noise::tag_bytes, 0x11);
        EXPECT_EQ(a->receive(fake_hello, rng).error(), PeerError::bad_hello);
    }
    {
        // The dialer gets a reply of the wrong size.
        auto d = PeerSession::dial(v.identity(1), 0, max_message, rng);
        util::Bytes reply = {0, 10};
        reply.resize(12, 0);
        EXPECT_EQ(d->receive(reply, rng).error(), PeerError::handshake_failed);
    }
}

TEST(PeerTransportSession, AnyFlippedHandshakeByteFailsTheSession) {
    Validators v;
    crypto::SeededRng rng(9);
    // Direction 0 flips a byte of the dialer's first message; direction 1
    // one of the acceptor's reply (handshake message and hello).
    for (int direction = 0; direction < 2; ++direction) {
        // Record the genuine transcript of one flight, then replay it with one byte flipped.
        std::size_t length = 0;
        {
            crypto::SeededRng r(100);
            auto d = PeerSession::dial(v.identity(1), 0, max_message, r);
            auto a = PeerSession::accept(v.identity(0), max_message);
            const util::Bytes m1 = d->take_output();
            ASSERT_TRUE(a->receive(m1, r));
            length = direction == 0 ? m1.size() : a->take_output().size();
        }
        for (std::size_t i = 0; i < length; ++i) {
            crypto::SeededRng r(100);  // the same ephemeral keys every time
            auto d = PeerSession::dial(v.identity(1), 0, max_message, r);
            auto a = PeerSession::accept(v.identity(0), max_message);
            util::Bytes m1 = d->take_output();
            if (direction == 0) m1[i] ^= 0x01;
            auto ra = a->receive(m1, r);
            util::Bytes back = a->take_output();
            if (direction == 1) back[i] ^= 0x01;
            Outcome o;
            if (!ra) {
                o.acceptor = ra.error();
            } else if (auto rd = d->receive(back, r); !rd) {
                o.dialer = rd.error();
            } else {
                o = pump(*d, *a, r);
            }
            EXPECT_TRUE(o.dialer || o.acceptor) << "direction " << direction << " byte " << i;
            EXPECT_FALSE(d->established() && a->established()) << "direction " << direction << " byte " << i;
        }
    }
}

TEST(PeerTransportSession, TamperedOrReorderedRecordCloses) {
    Validators v;
    crypto::SeededRng rng(10);
    const util::Bytes message = pattern_bytes(200'000, 3);  // four records
    {
        auto [d, a] = establish(v, 1, 0, rng);
        util::Bytes wire;
        ASSERT_TRUE(d.seal(message, wire));
        wire[wire.size() / 2] ^= 0x80;  // a ciphertext byte in the middle of the message
        EXPECT_EQ(a.receive(wire, rng).error(), PeerError::decrypt_failed);
    }
    {
        auto [d, a] = establish(v, 1, 0, rng);
        util::Bytes first, second;
        ASSERT_TRUE(d.seal(util::to_bytes("one"), first));
        ASSERT_TRUE(d.seal(util::to_bytes("two"), second));
        EXPECT_EQ(a.receive(second, rng).error(), PeerError::decrypt_failed);
    }
    {
        // Control: the same wire untouched is delivered.
        auto [d, a] = establish(v, 1, 0, rng);
        util::Bytes wire;
        ASSERT_TRUE(d.seal(message, wire));
        auto got = a.receive(wire, rng);
        ASSERT_TRUE(got);
        ASSERT_EQ(got->size(), 1u);
        EXPECT_EQ((*got)[0], message);
    }
}

// ---- AsioTimers ----------------------------------------------------------------------

/// Runs handlers until `done` or 10 s have passed.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        if (io.stopped()) io.restart();
        io.run_one_for(std::chrono::milliseconds(20));
    }
    return true;
}

TEST(AsioClock, MonotonicAndWallClockAreSensible) {
    runtime::AsioClock clock;
    const auto a = clock.now_ms();
    const auto b = clock.now_ms();
    EXPECT_LE(a, b);
    EXPECT_GT(clock.unix_ms(), 1'600'000'000'000u);  // after September 2020
    EXPECT_LT(clock.unix_ms(), 4'102'444'800'000u);  // before 2100
}

TEST(AsioTimers, FireInOrderOfTimeNotOfSetting) {
    boost::asio::io_context io;
    runtime::AsioClock clock;
    runtime::AsioTimers timers(io);
    std::vector<int> order;
    std::vector<bool> on_time;
    const auto now = clock.now_ms();
    auto at = [&](int tag, runtime::TimeMs when) {
        timers.set_timer(when, [&, tag, when] {
            order.push_back(tag);
            on_time.push_back(clock.now_ms() >= when);
        });
    };
    at(30, now + 30);
    at(10, now + 10);
    at(20, now + 20);
    at(0, now - 5);  // already passed
    EXPECT_EQ(timers.pending(), 4u);
    ASSERT_TRUE(run_until(io, [&] { return order.size() == 4; }));
    EXPECT_EQ(order, (std::vector<int>{0, 10, 20, 30}));
    EXPECT_EQ(on_time, (std::vector<bool>{true, true, true, true}));
    EXPECT_EQ(timers.pending(), 0u);
}

TEST(AsioTimers, CancelledTimerNeverRunsEvenIfAlreadyDue) {
    boost::asio::io_context io;
    runtime::AsioClock clock;
    runtime::AsioTimers timers(io);
    const auto now = clock.now_ms();
    int fired_a = 0, fired_b = 0, fired_c = 0, fired_last = 0;
    const auto c = timers.set_timer(now, [&] { ++fired_c; });
    timers.cancel_timer(c);
    // b is due when a runs; a cancels it after its completion may be queued.
    runtime::TimerId b = 0;
    timers.set_timer(now - 10, [&] {
        ++fired_a;
        timers.cancel_timer(b);
    });
    b = timers.set_timer(now - 5, [&] { ++fired_b; });
    timers.set_timer(now + 20, [&] { ++fired_last; });
    timers.cancel_timer(12345);  // unknown: ignored
    ASSERT_TRUE(run_until(io, [&] { return fired_last == 1; }));
    io.poll();
    EXPECT_EQ(fired_a, 1);
    EXPECT_EQ(fired_b, 0);
    EXPECT_EQ(fired_c, 0);
    EXPECT_EQ(timers.pending(), 0u);
}

TEST(AsioTimers, CallbacksNeverRunInsideARuntimeCall) {
    boost::asio::io_context io;
    runtime::AsioClock clock;
    runtime::AsioTimers timers(io);
    std::vector<std::string> log;
    timers.set_timer(0, [&] {
        log.push_back("outer begins");
        timers.set_timer(0, [&] { log.push_back("inner"); });  // due at once, still later
        log.push_back("outer ends");
    });
    EXPECT_TRUE(log.empty());  // not inside set_timer, although due
    ASSERT_TRUE(run_until(io, [&] { return log.size() == 3; }));
    EXPECT_EQ(log, (std::vector<std::string>{"outer begins", "outer ends", "inner"}));
}

TEST(AsioTimers, DestroyingTheTimersCancelsEverything) {
    boost::asio::io_context io;
    runtime::AsioClock clock;
    int fired = 0;
    bool control = false;
    {
        runtime::AsioTimers timers(io);
        timers.set_timer(0, [&] { ++fired; });
        timers.set_timer(clock.now_ms() + 5, [&] { ++fired; });
    }
    // Destroyed from inside a callback while another one is already due.
    auto owned = std::make_unique<runtime::AsioTimers>(io);
    owned->set_timer(1, [&] {
        ++fired;
        owned.reset();
    });
    owned->set_timer(2, [&] { ++fired; });
    runtime::AsioTimers other(io);
    other.set_timer(clock.now_ms() + 30, [&] { control = true; });
    const runtime::TimerId never = other.set_timer(UINT64_MAX, [&] { ++fired; });
    ASSERT_TRUE(run_until(io, [&] { return control; }));
    io.poll();
    EXPECT_EQ(fired, 1);  // only the one that destroyed its owner
    EXPECT_EQ(owned, nullptr);
    EXPECT_EQ(other.pending(), 1u);  // the "never" timer saturates instead of wrapping into the past
    other.cancel_timer(never);
}

// ---- PeerTransport on loopback --------------------------------------------------------

struct Received {
    PeerId from;
    util::Bytes bytes;
    bool operator==(const Received&) const = default;
};

/// n validators on one io_context, listening on 127.0.0.1 with free ports.
struct Network {
    explicit Network(std::uint32_t n, PeerTransportLimits l = {}) : limits(l) {
        crypto::SeededRng rng(5);
        for (std::uint32_t i = 0; i < n; ++i) keys.push_back(crypto::PrivateKey::generate(rng));
        for (const auto& k : keys) addresses.push_back(k.address());
        for (std::uint32_t i = 0; i < n; ++i) rngs.push_back(std::make_unique<crypto::SeededRng>(1000 + i));
        nodes.resize(n);
        inbox.resize(n);
        ports.assign(n, 0);
        for (std::uint32_t i = 0; i < n; ++i) {
            make(i);
            ports[i] = nodes[i]->listen().value();
        }
        for (std::uint32_t i = 0; i < n; ++i)
            for (std::uint32_t j = 0; j < n; ++j) nodes[i]->set_endpoint(j, {"127.0.0.1", ports[j]});
    }
    ~Network() {
        nodes.clear();
        // Let the stopped transports' coroutines finish.
        io.run_for(std::chrono::seconds(2));
    }
    void make(PeerId i) {
        PeerTransportConfig config;
        config.chain_id = chain;
        config.self = i;
        config.validators = addresses;
        config.limits = limits;
        for (std::size_t j = 0; j < addresses.size(); ++j)
            config.endpoints.push_back({"127.0.0.1", ports.empty() ? std::uint16_t{0} : ports[j]});
        EXPECT_TRUE(PeerTransport::check(config, keys[i]));
        nodes[i] = std::make_unique<PeerTransport>(io.get_executor(), config, keys[i].clone(), *rngs[i]);
        nodes[i]->set_handler([this, i](PeerId from, util::ByteView m) {
            inbox[i].push_back({from, util::Bytes(m.begin(), m.end())});
        });
    }
    bool all_connected() const {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            for (std::size_t j = 0; j < nodes.size(); ++j)
                if (i != j && !nodes[i]->connected(static_cast<PeerId>(j))) return false;
        return true;
    }

    boost::asio::io_context io;
    PeerTransportLimits limits;
    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::Address> addresses;
    std::vector<std::unique_ptr<crypto::SeededRng>> rngs;
    std::vector<std::uint16_t> ports;
    std::vector<std::unique_ptr<PeerTransport>> nodes;
    std::vector<std::vector<Received>> inbox;
};

util::Bytes text(const std::string& s) {
    return util::to_bytes(s);
}

TEST(PeerTransportLoopback, EveryValidatorReceivesTheOthersMessagesAndAgainAfterARestart) {
    Network net(3);
    // Sent before any connection exists: queued, then delivered.
    for (PeerId i = 0; i < 3; ++i)
        for (PeerId j = 0; j < 3; ++j)
            if (i != j) net.nodes[i]->send(j, text("hello " + std::to_string(i) + "->" + std::to_string(j)));
    const util::Bytes big = pattern_bytes(1u << 20, 9);
    net.nodes[0]->send(1, big);
    net.nodes[2]->send(2, text("to myself"));
    for (auto& n : net.nodes) ASSERT_TRUE(n->start());

    auto expected_inbox = [&](PeerId j) {
        std::map<PeerId, std::vector<util::Bytes>> by_from;
        for (PeerId i = 0; i < 3; ++i)
            if (i != j) by_from[i].push_back(text("hello " + std::to_string(i) + "->" + std::to_string(j)));
        if (j == 1) by_from[0].push_back(big);
        if (j == 2) by_from[2].push_back(text("to myself"));
        return by_from;
    };
    auto inbox_by_from = [&](PeerId j) {
        std::map<PeerId, std::vector<util::Bytes>> by_from;
        for (const auto& r : net.inbox[j]) by_from[r.from].push_back(r.bytes);
        return by_from;
    };
    const bool arrived = run_until(
        net.io, [&] { return net.inbox[0].size() == 2 && net.inbox[1].size() == 3 && net.inbox[2].size() == 3; });
    ASSERT_TRUE(arrived) << net.inbox[0].size() << " " << net.inbox[1].size() << " " << net.inbox[2].size();
    for (PeerId j = 0; j < 3; ++j) EXPECT_EQ(inbox_by_from(j), expected_inbox(j)) << "validator " << j;
    ASSERT_TRUE(run_until(net.io, [&] { return net.all_connected(); }));
    EXPECT_EQ(net.nodes[0]->stats().messages_sent, 3u);
    EXPECT_EQ(net.nodes[1]->stats().messages_received, 3u);
    EXPECT_EQ(net.nodes[0]->stats().handshake_failures, 0u);
    EXPECT_EQ(net.nodes[0]->stats().outbound_established, 2u);

    // Validator 2 stops and comes back on the same port.
    const auto out0 = net.nodes[0]->stats().outbound_established;
    const auto out1 = net.nodes[1]->stats().outbound_established;
    const auto in0 = net.nodes[0]->stats().inbound_established;
    net.nodes[2].reset();
    net.inbox[2].clear();
    net.rngs[2] = std::make_unique<crypto::SeededRng>(2000);
    net.make(2);
    ASSERT_TRUE(net.nodes[2]->start());
    ASSERT_TRUE(run_until(net.io, [&] {
        return net.nodes[0]->stats().outbound_established > out0 && net.nodes[1]->stats().outbound_established > out1 &&
               net.nodes[0]->stats().inbound_established > in0 && net.all_connected();
    }));
    net.inbox[0].clear();
    net.inbox[1].clear();
    net.nodes[0]->send(2, text("again 0->2"));
    net.nodes[1]->send(2, text("again 1->2"));
    net.nodes[2]->send(0, text("again 2->0"));
    net.nodes[2]->send(1, text("again 2->1"));
    ASSERT_TRUE(run_until(
        net.io, [&] { return net.inbox[0].size() == 1 && net.inbox[1].size() == 1 && net.inbox[2].size() == 2; }));
    EXPECT_EQ(net.inbox[0], (std::vector<Received>{{2, text("again 2->0")}}));
    EXPECT_EQ(net.inbox[1], (std::vector<Received>{{2, text("again 2->1")}}));
    EXPECT_EQ(inbox_by_from(2),
              (std::map<PeerId, std::vector<util::Bytes>>{{0, {text("again 0->2")}}, {1, {text("again 1->2")}}}));
}

TEST(PeerTransportLoopback, UnauthenticatedGarbageIsClosedAndCounted) {
    Network net(2);
    for (auto& n : net.nodes) ASSERT_TRUE(n->start());
    ASSERT_TRUE(run_until(net.io, [&] { return net.all_connected(); }));

    boost::asio::ip::tcp::socket raw(net.io);
    raw.connect({boost::asio::ip::make_address("127.0.0.1"), net.ports[0]});
    const util::Bytes garbage(300, 0x42);
    boost::asio::write(raw, boost::asio::buffer(garbage));
    bool closed = false;
    std::uint8_t byte = 0;
    raw.async_read_some(boost::asio::buffer(&byte, 1), [&](boost::system::error_code ec, std::size_t) {
        closed = ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
    });
    ASSERT_TRUE(run_until(net.io, [&] { return closed; }));
    EXPECT_EQ(net.nodes[0]->stats().handshake_failures, 1u);
    EXPECT_EQ(net.nodes[0]->stats().messages_received, 0u);

    // The real link still works.
    net.nodes[1]->send(0, text("still here"));
    ASSERT_TRUE(run_until(net.io, [&] { return net.inbox[0].size() == 1; }));
    EXPECT_EQ(net.inbox[0][0], (Received{1, text("still here")}));
}

TEST(PeerTransportLoopback, FullQueueDropsTheOldestAndCounts) {
    PeerTransportLimits limits;
    limits.max_message_bytes = 1000;
    limits.max_queue_bytes_per_peer = 2500;
    Network net(2, limits);
    // Not started yet: everything stays queued.
    for (int i = 0; i < 4; ++i) net.nodes[0]->send(1, pattern_bytes(1000, static_cast<std::uint8_t>(i)));
    net.nodes[0]->send(1, pattern_bytes(1001, 9));
    EXPECT_EQ(net.nodes[0]->stats().dropped_queue_full, 2u);
    EXPECT_EQ(net.nodes[0]->stats().dropped_too_large, 1u);
    EXPECT_EQ(net.nodes[0]->queued_bytes(1), 2000u);
    for (auto& n : net.nodes) ASSERT_TRUE(n->start());
    ASSERT_TRUE(run_until(net.io, [&] { return net.inbox[1].size() == 2; }));
    // The two newest survived, in order.
    EXPECT_EQ(net.inbox[1], (std::vector<Received>{{0, pattern_bytes(1000, 2)}, {0, pattern_bytes(1000, 3)}}));
    EXPECT_EQ(net.nodes[0]->queued_bytes(1), 0u);
}

TEST(PeerTransportLoopback, AValidatorIsRefusedUntilAddedTalksUnderEachNodesOwnNumbersAndIsDroppedWhenInactive) {
    Network net(2);  // A = 0, B = 1
    crypto::SeededRng rng(77);
    const auto c_key = crypto::PrivateKey::generate(rng);
    crypto::SeededRng c_rng(3000);
    // C numbers itself 0 and A, B as 1, 2.
    PeerTransportConfig config;
    config.chain_id = chain;
    config.self = 0;
    config.validators = {c_key.address(), net.addresses[0], net.addresses[1]};
    config.endpoints = {{"127.0.0.1", 0}, {"127.0.0.1", net.ports[0]}, {"127.0.0.1", net.ports[1]}};
    ASSERT_TRUE(PeerTransport::check(config, c_key));
    PeerTransport c(net.io.get_executor(), config, c_key.clone(), c_rng);
    std::vector<Received> c_inbox;
    c.set_handler([&](PeerId from, util::ByteView m) { c_inbox.push_back({from, util::Bytes(m.begin(), m.end())}); });
    const std::uint16_t c_port = c.listen().value();
    for (auto& n : net.nodes) ASSERT_TRUE(n->start());
    ASSERT_TRUE(c.start());
    // A and B do not know C yet: its hellos are refused.
    ASSERT_TRUE(run_until(net.io, [&] {
        return net.nodes[0]->stats().handshake_failures > 0 && net.nodes[1]->stats().handshake_failures > 0;
    }));
    EXPECT_EQ(net.nodes[0]->stats().inbound_established, 1u) << "only B";
    EXPECT_EQ(net.nodes[0]->find_peer(c_key.address()), std::nullopt);
    // Once added they accept it and dial it; C is 2 on A and B.
    EXPECT_EQ(net.nodes[0]->add_peer(c_key.address(), {"127.0.0.1", c_port}), PeerId{2});
    EXPECT_EQ(net.nodes[1]->add_peer(c_key.address(), {"127.0.0.1", c_port}), PeerId{2});
    EXPECT_EQ(net.nodes[0]->add_peer(c_key.address(), {}), PeerId{2}) << "a known validator keeps its number";
    EXPECT_EQ(net.nodes[0]->peers(), 3u);
    ASSERT_TRUE(run_until(net.io, [&] {
        return c.connected(1) && c.connected(2) && net.nodes[0]->connected(2) && net.nodes[1]->connected(2);
    }));
    net.nodes[0]->send(2, text("A to C"));
    c.send(2, text("C to B"));
    ASSERT_TRUE(run_until(net.io, [&] { return c_inbox.size() == 1 && net.inbox[1].size() == 1; }));
    EXPECT_EQ(c_inbox[0], (Received{1, text("A to C")}));
    EXPECT_EQ(net.inbox[1][0], (Received{2, text("C to B")}));

    // C leaves every set on A: A stops dialing it and drops what it would send.
    net.nodes[0]->set_active(2, false);
    ASSERT_TRUE(run_until(net.io, [&] { return !net.nodes[0]->connected(2); }));
    const auto dialed = net.nodes[0]->stats().outbound_established;
    net.nodes[0]->send(2, text("dropped"));
    EXPECT_EQ(net.nodes[0]->stats().dropped_inactive, 1u);
    EXPECT_EQ(net.nodes[0]->queued_bytes(2), 0u);
    c.send(1, text("C still reaches A"));  // its own link to A stays
    ASSERT_TRUE(run_until(net.io, [&] { return net.inbox[0].size() == 1; }));
    EXPECT_EQ(net.inbox[0][0], (Received{2, text("C still reaches A")}));
    EXPECT_EQ(net.nodes[0]->stats().outbound_established, dialed) << "an inactive peer was dialed again";
    EXPECT_FALSE(net.nodes[0]->connected(2));
    // Back in a set: dialed again, and messages flow.
    net.nodes[0]->set_active(2, true);
    net.nodes[0]->send(2, text("A to C again"));
    ASSERT_TRUE(run_until(net.io, [&] { return c_inbox.size() == 2; }));
    EXPECT_EQ(c_inbox[1], (Received{1, text("A to C again")}));
    EXPECT_EQ(c_inbox.size(), 2u) << "the dropped message arrived";
    c.stop();
}

TEST(PeerTransportLoopback, ConfigIsChecked) {
    Validators v;
    PeerTransportConfig config;
    config.chain_id = chain;
    config.self = 0;
    config.validators = v.addresses;
    config.endpoints.assign(3, {"127.0.0.1", 0});
    EXPECT_TRUE(PeerTransport::check(config, v.keys[0]));
    EXPECT_EQ(PeerTransport::check(config, v.keys[1]).error(), PeerTransportError::key_mismatch);
    config.limits.max_queue_bytes_per_peer = config.limits.max_message_bytes - 1;
    EXPECT_EQ(PeerTransport::check(config, v.keys[0]).error(), PeerTransportError::bad_limits);
    config.limits = {};
    config.endpoints.pop_back();
    EXPECT_EQ(PeerTransport::check(config, v.keys[0]).error(), PeerTransportError::bad_config);
    config.endpoints.assign(3, {"127.0.0.1", 0});
    config.self = 3;
    EXPECT_EQ(PeerTransport::check(config, v.keys[0]).error(), PeerTransportError::bad_config);
    config.self = 0;
    config.validators[2] = config.validators[1];
    EXPECT_EQ(PeerTransport::check(config, v.keys[0]).error(), PeerTransportError::bad_config)
        << "one address listed twice";
}

}  // namespace
}  // namespace conet::net
