#include <gtest/gtest.h>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/crypto/noise/vectors.hpp"
#include "conet/crypto/random.hpp"

#include "test_data.hpp"

namespace conet::crypto::noise {
namespace {

constexpr std::string_view suite = "_25519_ChaChaPoly_BLAKE2b";

Protocol protocol(std::string_view pattern) {
    auto p = parse_protocol_name("Noise_" + std::string(pattern) + std::string(suite));
    EXPECT_TRUE(p.has_value());
    return *p;
}

/// Both parties of one handshake, with keys set as the pattern needs.
struct Pair {
    HandshakeState initiator;
    HandshakeState responder;
};

Pair make_parties(std::string_view pattern, util::Rng& rng, util::Bytes prologue = util::to_bytes("conet test")) {
    const Protocol p = protocol(pattern);
    X25519KeyPair is = X25519KeyPair::generate(rng);
    X25519KeyPair rs = X25519KeyPair::generate(rng);
    const bool i_static_known = !p.pattern.pre_initiator.empty();
    const bool r_static_known = !p.pattern.pre_responder.empty();
    HandshakeConfig ic{p, Role::initiator, prologue, is.clone(), {}, {}, {}, {}};
    HandshakeConfig rc{p, Role::responder, prologue, rs.clone(), {}, {}, {}, {}};
    if (r_static_known) ic.rs = rs.public_key;
    if (i_static_known) rc.rs = is.public_key;
    auto i = HandshakeState::create(std::move(ic));
    auto r = HandshakeState::create(std::move(rc));
    EXPECT_TRUE(i && r);
    return Pair{std::move(*i), std::move(*r)};
}

/// Runs the handshake to completion; returns both transports.
std::pair<Transport, Transport> complete(Pair& pair, util::Rng& rng) {
    std::size_t i = 0;
    while (!pair.initiator.finished() || !pair.responder.finished()) {
        HandshakeState& sender = pair.initiator.my_turn() ? pair.initiator : pair.responder;
        HandshakeState& receiver = &sender == &pair.initiator ? pair.responder : pair.initiator;
        const util::Bytes payload = util::to_bytes("payload " + std::to_string(i++));
        auto msg = sender.write_message(payload, rng);
        EXPECT_TRUE(msg) << describe(msg.error());
        auto got = receiver.read_message(*msg);
        EXPECT_TRUE(got) << describe(got.error());
        EXPECT_EQ(*got, payload);
    }
    EXPECT_EQ(pair.initiator.handshake_hash(), pair.responder.handshake_hash());
    auto ti = std::move(pair.initiator).split();
    auto tr = std::move(pair.responder).split();
    EXPECT_TRUE(ti && tr);
    return {std::move(*ti), std::move(*tr)};
}

class AllPatterns : public ::testing::TestWithParam<std::string> {};

TEST_P(AllPatterns, BothSidesCompleteAndTransportWorksBothWays) {
    SeededRng rng(42);
    Pair pair = make_parties(GetParam(), rng);
    auto [ti, tr] = complete(pair, rng);
    for (int round = 0; round < 3; ++round) {
        const util::Bytes a = util::to_bytes("to responder " + std::to_string(round));
        EXPECT_EQ(*tr.decrypt(*ti.encrypt(a)), a);
        if (!protocol(GetParam()).pattern.one_way) {
            const util::Bytes b = util::to_bytes("to initiator " + std::to_string(round));
            EXPECT_EQ(*ti.decrypt(*tr.encrypt(b)), b);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Noise, AllPatterns,
                         ::testing::Values("N", "K", "X", "NN", "NK", "NX", "XN", "XK", "XX", "KN", "KK", "KX", "IN",
                                           "IK", "IX"));

TEST(NoiseHandshake, ResponderLearnsInitiatorStaticInXKAndIK) {
    for (std::string_view pattern : {"XK", "IK"}) {
        SeededRng rng(1);
        Pair pair = make_parties(pattern, rng);
        auto [ti, tr] = complete(pair, rng);
        ASSERT_TRUE(tr.remote_static().has_value());
        ASSERT_TRUE(ti.remote_static().has_value());
    }
}

class Tamper : public ::testing::TestWithParam<std::string> {};

TEST_P(Tamper, EveryFlippedByteOfEveryAuthenticatedHandshakeMessageIsRejected) {
    // Count the messages first, then for each message and byte flip one bit.
    SeededRng probe_rng(5);
    Pair probe = make_parties(GetParam(), probe_rng);
    std::size_t messages = 0;
    while (!probe.initiator.finished()) {
        HandshakeState& s = probe.initiator.my_turn() ? probe.initiator : probe.responder;
        HandshakeState& r = &s == &probe.initiator ? probe.responder : probe.initiator;
        auto m = s.write_message(util::to_bytes("p"), probe_rng);
        ASSERT_TRUE(r.read_message(*m));
        ++messages;
    }

    for (std::size_t target = 0; target < messages; ++target) {
        SeededRng length_rng(5);
        Pair measure = make_parties(GetParam(), length_rng);
        util::Bytes original;
        for (std::size_t k = 0; k <= target; ++k) {
            HandshakeState& s = measure.initiator.my_turn() ? measure.initiator : measure.responder;
            HandshakeState& r = &s == &measure.initiator ? measure.responder : measure.initiator;
            original = *s.write_message(util::to_bytes("p"), length_rng);
            if (k < target) {
                ASSERT_TRUE(r.read_message(original));
            }
        }
        for (std::size_t byte = 0; byte < original.size(); ++byte) {
            SeededRng rng(5);
            Pair pair = make_parties(GetParam(), rng);
            for (std::size_t k = 0; k <= target; ++k) {
                HandshakeState& s = pair.initiator.my_turn() ? pair.initiator : pair.responder;
                HandshakeState& r = &s == &pair.initiator ? pair.responder : pair.initiator;
                util::Bytes m = *s.write_message(util::to_bytes("p"), rng);
                if (k < target) {
                    ASSERT_TRUE(r.read_message(m));
                    continue;
                }
                m[byte] ^= 0x01;
                // In NK, XK and IK every handshake message carries a payload
                // encrypted under keys that depend on all earlier bytes, so
                // any flipped bit must be caught at once.
                auto got = r.read_message(m);
                ASSERT_FALSE(got) << "message " << target << " byte " << byte << " accepted";
                EXPECT_EQ(r.read_message(m).error(), NoiseError::failed) << "state must stay poisoned";
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Noise, Tamper, ::testing::Values("NK", "XK", "IK"));

TEST(NoiseHandshake, NKWithTheWrongResponderKeyFails) {
    SeededRng rng(8);
    const Protocol p = protocol("NK");
    const X25519KeyPair real = X25519KeyPair::generate(rng);
    const X25519KeyPair impostor = X25519KeyPair::generate(rng);
    auto i = HandshakeState::create({p, Role::initiator, {}, {}, {}, real.public_key, {}, {}});
    auto r = HandshakeState::create({p, Role::responder, {}, impostor.clone(), {}, {}, {}, {}});
    ASSERT_TRUE(i && r);
    auto m = i->write_message({}, rng);
    EXPECT_EQ(r->read_message(*m).error(), NoiseError::decrypt_failed);
}

TEST(NoiseHandshake, PrologueMismatchFails) {
    SeededRng rng(9);
    const Protocol p = protocol("NK");
    const X25519KeyPair rs = X25519KeyPair::generate(rng);
    auto i = HandshakeState::create({p, Role::initiator, util::to_bytes("a"), {}, {}, rs.public_key, {}, {}});
    auto r = HandshakeState::create({p, Role::responder, util::to_bytes("b"), rs.clone(), {}, {}, {}, {}});
    auto m = i->write_message({}, rng);
    EXPECT_EQ(r->read_message(*m).error(), NoiseError::decrypt_failed);
}

TEST(NoiseHandshake, MissingKeysAreReportedAtCreation) {
    const Protocol nk = protocol("NK");
    EXPECT_EQ(HandshakeState::create({nk, Role::initiator, {}, {}, {}, {}, {}, {}}).error(), NoiseError::missing_key);
    EXPECT_EQ(HandshakeState::create({nk, Role::responder, {}, {}, {}, {}, {}, {}}).error(), NoiseError::missing_key);
    const Protocol xk = protocol("XK");
    SeededRng rng(1);
    const auto rs = X25519KeyPair::generate(rng);
    EXPECT_EQ(HandshakeState::create({xk, Role::initiator, {}, {}, {}, rs.public_key, {}, {}}).error(),
              NoiseError::missing_key);
}

TEST(NoiseHandshake, OutOfTurnAndShortMessagesAreRejected) {
    SeededRng rng(2);
    Pair pair = make_parties("NN", rng);
    EXPECT_EQ(pair.responder.write_message({}, rng).error(), NoiseError::wrong_turn);
    EXPECT_EQ(pair.initiator.read_message(util::Bytes(40)).error(), NoiseError::wrong_turn);
    EXPECT_EQ(pair.responder.read_message(util::Bytes(31)).error(), NoiseError::message_too_short);
    EXPECT_EQ(pair.responder.read_message(util::Bytes(40)).error(), NoiseError::failed);
}

TEST(NoiseHandshake, OversizedMessagesAreRejected) {
    SeededRng rng(3);
    Pair pair = make_parties("NN", rng);
    EXPECT_EQ(pair.initiator.write_message(util::Bytes(max_message_bytes), rng).error(), NoiseError::message_too_long);
    Pair pair2 = make_parties("NN", rng);
    EXPECT_EQ(pair2.responder.read_message(util::Bytes(max_message_bytes + 1)).error(), NoiseError::message_too_long);
}

TEST(NoiseHandshake, LowOrderEphemeralIsRejected) {
    SeededRng rng(4);
    Pair pair = make_parties("NN", rng);
    auto m = pair.initiator.write_message({}, rng);
    ASSERT_TRUE(pair.responder.read_message(*m));
    auto reply = *pair.responder.write_message({}, rng);
    std::fill(reply.begin(), reply.begin() + 32, 0);  // the identity point
    EXPECT_EQ(pair.initiator.read_message(reply).error(), NoiseError::weak_public_key);
}

TEST(NoiseTransport, TamperedReplayedAndReorderedMessagesAreRejected) {
    SeededRng rng(6);
    Pair pair = make_parties("XK", rng);
    auto [ti, tr] = complete(pair, rng);
    const auto m1 = *ti.encrypt(util::to_bytes("one"));
    const auto m2 = *ti.encrypt(util::to_bytes("two"));
    auto bad = m1;
    bad.back() ^= 0x80;
    EXPECT_EQ(tr.decrypt(bad).error(), NoiseError::decrypt_failed);
    EXPECT_EQ(tr.decrypt(m2).error(), NoiseError::decrypt_failed);  // out of order
    EXPECT_EQ(*tr.decrypt(m1), util::to_bytes("one"));              // failures did not advance the nonce
    EXPECT_EQ(tr.decrypt(m1).error(), NoiseError::decrypt_failed);  // replay
    EXPECT_EQ(*tr.decrypt(m2), util::to_bytes("two"));
    EXPECT_EQ(tr.decrypt(util::Bytes(5)).error(), NoiseError::decrypt_failed);
    EXPECT_EQ(ti.encrypt(util::Bytes(max_payload_bytes + 1)).error(), NoiseError::message_too_long);
    EXPECT_TRUE(ti.encrypt(util::Bytes(max_payload_bytes)));
}

TEST(NoiseTransport, NonceExhaustionIsRefused) {
    SeededRng rng(7);
    Pair pair = make_parties("NN", rng);
    auto [ti, tr] = complete(pair, rng);
    ti.send_cipher().set_nonce(max_nonce - 1);
    tr.recv_cipher().set_nonce(max_nonce - 1);
    const auto last = ti.encrypt(util::to_bytes("last"));
    ASSERT_TRUE(last);
    EXPECT_EQ(*tr.decrypt(*last), util::to_bytes("last"));
    EXPECT_EQ(ti.encrypt(util::to_bytes("more")).error(), NoiseError::nonce_exhausted);
    EXPECT_EQ(tr.decrypt(*last).error(), NoiseError::nonce_exhausted);
}

TEST(NoiseTransport, RekeyOnBothSidesKeepsTheChannelAndChangesTheKey) {
    SeededRng rng(8);
    Pair pair = make_parties("NN", rng);
    auto [ti, tr] = complete(pair, rng);
    const auto before = *ti.encrypt(util::to_bytes("x"));
    ASSERT_TRUE(tr.decrypt(before));
    ti.rekey_send();
    const auto after = *ti.encrypt(util::to_bytes("x"));
    auto stale = tr.decrypt(after);
    EXPECT_FALSE(stale);  // the receiver has not rekeyed yet
    tr.rekey_recv();
    EXPECT_EQ(*tr.decrypt(after), util::to_bytes("x"));
}

TEST(NoiseProtocolName, ParsesSupportedAndRejectsOthers) {
    EXPECT_TRUE(parse_protocol_name("Noise_XK_25519_ChaChaPoly_BLAKE2b"));
    EXPECT_TRUE(parse_protocol_name("Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b"));
    EXPECT_TRUE(parse_protocol_name("Noise_XXpsk0+psk3_25519_ChaChaPoly_BLAKE2b"));
    EXPECT_FALSE(parse_protocol_name("Noise_XK_448_ChaChaPoly_BLAKE2b"));
    EXPECT_FALSE(parse_protocol_name("Noise_XK_25519_AESGCM_BLAKE2b"));
    EXPECT_FALSE(parse_protocol_name("Noise_XK_25519_ChaChaPoly_SHA256"));
    EXPECT_FALSE(parse_protocol_name("Noise_XKfallback_25519_ChaChaPoly_BLAKE2b"));
    EXPECT_FALSE(parse_protocol_name("Noise_ZZ_25519_ChaChaPoly_BLAKE2b"));
    EXPECT_FALSE(parse_protocol_name("Noise_NNpsk9_25519_ChaChaPoly_BLAKE2b"));
    EXPECT_FALSE(parse_protocol_name("garbage"));
}

TEST(NoisePsk, PskHandshakesCompleteOnlyWithTheSamePsk) {
    for (bool same : {true, false}) {
        SeededRng rng(10);
        const Protocol p = protocol("NNpsk0");
        util::ByteArray<32> k1{}, k2{};
        k1.fill(1);
        k2.fill(same ? 1 : 2);
        HandshakeConfig ic{p, Role::initiator, {}, {}, {}, {}, {}, {}};
        ic.psks.emplace_back(k1);
        HandshakeConfig rc{p, Role::responder, {}, {}, {}, {}, {}, {}};
        rc.psks.emplace_back(k2);
        auto i = HandshakeState::create(std::move(ic));
        auto r = HandshakeState::create(std::move(rc));
        auto m = i->write_message(util::to_bytes("hi"), rng);
        EXPECT_EQ(r->read_message(*m).has_value(), same);
    }
}

TEST(NoiseVectors, CacophonySubsetPassesEveryVector) {
    const VectorReport report = run_cacophony_vectors(test::read_data_file("noise/cacophony-subset.json"));
    EXPECT_TRUE(report.fatal.empty());
    EXPECT_EQ(report.passed, 4u);
    EXPECT_EQ(report.failed, 0u) << (report.failures.empty() ? "" : report.failures.front());
    EXPECT_EQ(report.skipped, 0u);
}

TEST(NoiseVectors, OriginalSubsetDiffersOnlyInTheRecordedHandshakeHash) {
    // See tests/data/README.md: the shared copy records an intermediate h.
    const VectorReport report = run_cacophony_vectors(test::read_data_file("noise/cacophony-subset.original.json"));
    EXPECT_EQ(report.failed, 4u);
    for (const std::string& f : report.failures) EXPECT_NE(f.find("handshake hash differs"), std::string::npos) << f;
}

TEST(NoiseVectors, TamperedVectorCiphertextFails) {
    std::string text = test::read_data_file("noise/cacophony-subset.json");
    const auto pos = text.find("\"ciphertext\": \"") + 20;
    text[pos] = text[pos] == '0' ? '1' : '0';
    const VectorReport report = run_cacophony_vectors(text);
    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(report.passed, 3u);
}

TEST(NoiseVectors, UnsupportedProtocolsAreSkippedAndJunkIsFatal) {
    const VectorReport skipped =
        run_cacophony_vectors(R"({"vectors": [{"protocol_name": "Noise_NN_448_AESGCM_SHA512", "messages": []}]})");
    EXPECT_EQ(skipped.skipped, 1u);
    EXPECT_EQ(skipped.failed, 0u);
    EXPECT_FALSE(run_cacophony_vectors("{").fatal.empty());
    EXPECT_FALSE(run_cacophony_vectors(R"({"x": 1})").fatal.empty());
}

}  // namespace
}  // namespace conet::crypto::noise

namespace conet::crypto::noise {
namespace {

TEST(NoiseTransport, InPlaceSealingMatchesTheCopyingApiBothWays) {
    SeededRng rng(12);
    Pair a = make_parties("NN", rng);
    auto [ai, ar] = complete(a, rng);
    SeededRng rng2(12);
    Pair b = make_parties("NN", rng2);
    auto [bi, br] = complete(b, rng2);
    for (std::size_t size : {0u, 1u, 1000u, 65000u}) {
        const util::Bytes msg(size, 0x5a);
        util::Bytes buf = {0xaa, 0xbb};  // a header that must stay untouched
        util::append(buf, msg);
        ASSERT_TRUE(ai.encrypt_in_place(buf, 2));
        const util::Bytes twin = *bi.encrypt(msg);
        EXPECT_EQ(util::Bytes(buf.begin() + 2, buf.end()), twin);
        EXPECT_EQ(buf[0], 0xaa);
        auto n = ar.decrypt_to(util::ByteView(buf).subspan(2), buf.data() + 2);
        ASSERT_TRUE(n);
        EXPECT_EQ(util::Bytes(buf.begin() + 2, buf.begin() + 2 + static_cast<std::ptrdiff_t>(*n)), msg);
        ASSERT_TRUE(br.decrypt(twin));  // the copying API opens the same bytes
    }
    util::Bytes bad = {1, 2, 3};
    ASSERT_TRUE(ai.encrypt_in_place(bad, 0));
    bad[0] ^= 1;
    EXPECT_EQ(ar.decrypt_to(bad, bad.data()).error(), NoiseError::decrypt_failed);
}

}  // namespace
}  // namespace conet::crypto::noise
