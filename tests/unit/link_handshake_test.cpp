// The link handshake core (net::LinkHandshake) on simulated time: two cores
// facing each other, no sockets. NK for users, XK between relays, the
// responder's peer check, malformed and oversized frames, split delivery,
// bytes past the handshake, and the deadline.

#include "conet/net/link_handshake.hpp"

#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"

namespace conet::net {
namespace {

constexpr runtime::TimeMs timeout = 5'000;

struct Pair {
    crypto::SeededRng rng{7};
    crypto::X25519KeyPair relay = crypto::X25519KeyPair::generate(rng);
    crypto::X25519KeyPair other_relay = crypto::X25519KeyPair::generate(rng);
    std::vector<std::pair<LinkKind, std::optional<crypto::X25519Public>>> asked;
    bool allow = true;

    LinkHandshake responder() {
        return LinkHandshake::respond(
            relay,
            [this](LinkKind k, const std::optional<crypto::X25519Public>& s) {
                asked.emplace_back(k, s);
                return allow;
            },
            0, timeout);
    }
};

/// Passes bytes both ways, `chunk` at a time, until neither side has more to say.
void exchange(LinkHandshake& a, LinkHandshake& b, util::Rng& rng, std::size_t chunk = 1'000) {
    for (int round = 0; round < 10; ++round) {
        bool moved = false;
        for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
            const util::Bytes out = from->take_output();
            for (std::size_t at = 0; at < out.size(); at += chunk) {
                const auto piece = util::ByteView(out).subspan(at, std::min(chunk, out.size() - at));
                EXPECT_EQ(to->receive(piece, rng), piece.size());
            }
            moved = moved || !out.empty();
        }
        if (!moved) return;
    }
    FAIL() << "the handshake never settled";
}

void expect_session(LinkHandshake& a, LinkHandshake& b) {
    ASSERT_TRUE(a.done());
    ASSERT_TRUE(b.done());
    auto ta = a.take_transport();
    auto tb = b.take_transport();
    const util::Bytes hello = util::to_bytes("first cell");
    auto sealed = ta.encrypt(hello);
    ASSERT_TRUE(sealed.has_value());
    auto opened = tb.decrypt(*sealed);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(*opened, hello);
}

TEST(LinkHandshake, UserToRelayIsNkAndTheRelayLearnsNoStaticKey) {
    Pair p;
    auto user = LinkHandshake::initiate(nullptr, p.relay.public_key, 0, timeout, p.rng);
    auto relay = p.responder();
    exchange(user, relay, p.rng);
    expect_session(user, relay);
    EXPECT_EQ(relay.kind(), LinkKind::client);
    ASSERT_EQ(p.asked.size(), 1u);
    EXPECT_EQ(p.asked[0].first, LinkKind::client);
    EXPECT_FALSE(p.asked[0].second.has_value());
}

TEST(LinkHandshake, RelayToRelayIsXkAndTheResponderChecksTheInitiatorsKey) {
    Pair p;
    auto initiator = LinkHandshake::initiate(&p.other_relay, p.relay.public_key, 0, timeout, p.rng);
    auto responder = p.responder();
    exchange(initiator, responder, p.rng, 1);  // one byte at a time
    expect_session(initiator, responder);
    EXPECT_EQ(responder.kind(), LinkKind::relay);
    ASSERT_EQ(p.asked.size(), 1u);
    EXPECT_EQ(p.asked[0].first, LinkKind::relay);
    EXPECT_EQ(p.asked[0].second, p.other_relay.public_key);
}

TEST(LinkHandshake, ARelayTheResponderDoesNotKnowIsRefused) {
    Pair p;
    p.allow = false;
    auto initiator = LinkHandshake::initiate(&p.other_relay, p.relay.public_key, 0, timeout, p.rng);
    auto responder = p.responder();
    exchange(initiator, responder, p.rng);
    EXPECT_EQ(responder.failure(), LinkError::peer_not_allowed);
    EXPECT_FALSE(responder.done());
    EXPECT_TRUE(responder.take_output().empty());
}

TEST(LinkHandshake, AnInitiatorWithTheWrongRelayKeyFails) {
    Pair p;
    auto user = LinkHandshake::initiate(nullptr, p.other_relay.public_key, 0, timeout, p.rng);
    auto relay = p.responder();
    exchange(user, relay, p.rng);
    EXPECT_EQ(relay.failure(), LinkError::handshake_failed);
    EXPECT_FALSE(user.done());
    EXPECT_TRUE(p.asked.empty());
}

TEST(LinkHandshake, AnUnknownLinkKindFailsOnTheFirstByte) {
    Pair p;
    auto relay = p.responder();
    const util::Bytes junk{0x07, 0x00, 0x30};
    EXPECT_EQ(relay.receive(junk, p.rng), 1u);
    EXPECT_EQ(relay.failure(), LinkError::handshake_failed);
    EXPECT_EQ(relay.wanted(), 0u);
}

TEST(LinkHandshake, AnOversizedOrEmptyMessageFailsOnItsHeaderAlone) {
    for (std::uint16_t len :
         {std::uint16_t{0}, std::uint16_t{max_handshake_message_bytes + 1}, std::uint16_t{0xffff}}) {
        Pair p;
        auto relay = p.responder();
        const util::Bytes head{static_cast<std::uint8_t>(LinkKind::client), static_cast<std::uint8_t>(len >> 8),
                               static_cast<std::uint8_t>(len)};
        EXPECT_EQ(relay.receive(head, p.rng), 3u);
        EXPECT_EQ(relay.failure(), LinkError::handshake_failed) << len;
    }
}

TEST(LinkHandshake, ATamperedFirstMessageFails) {
    Pair p;
    auto user = LinkHandshake::initiate(nullptr, p.relay.public_key, 0, timeout, p.rng);
    auto relay = p.responder();
    util::Bytes m1 = user.take_output();
    m1.back() ^= 0x01;  // inside the tag
    relay.receive(m1, p.rng);
    EXPECT_EQ(relay.failure(), LinkError::handshake_failed);
    EXPECT_TRUE(relay.take_output().empty());
}

TEST(LinkHandshake, BytesPastTheHandshakeAreLeftForTheLink) {
    Pair p;
    auto user = LinkHandshake::initiate(nullptr, p.relay.public_key, 0, timeout, p.rng);
    auto relay = p.responder();
    util::Bytes m1 = user.take_output();
    const std::size_t handshake_bytes = m1.size();
    m1.insert(m1.end(), {0x00, 0x05, 1, 2, 3});  // the user's first frame, sent early
    EXPECT_EQ(relay.receive(m1, p.rng), handshake_bytes);
    EXPECT_TRUE(relay.done());  // NK: the responder is done once it answers
    EXPECT_EQ(relay.wanted(), 0u);
}

TEST(LinkHandshake, TheDeadlineFailsAnUnfinishedHandshakeOnly) {
    Pair p;
    auto relay = p.responder();
    relay.tick(timeout - 1);
    EXPECT_FALSE(relay.failure().has_value());
    relay.tick(timeout);
    EXPECT_EQ(relay.failure(), LinkError::timeout);

    auto user = LinkHandshake::initiate(nullptr, p.relay.public_key, 100, timeout, p.rng);
    EXPECT_EQ(user.deadline(), 100 + timeout);
    auto relay2 = p.responder();
    exchange(user, relay2, p.rng);
    ASSERT_TRUE(user.done());
    user.tick(user.deadline() + 1);
    EXPECT_TRUE(user.done());
    EXPECT_FALSE(user.failure().has_value());
}

}  // namespace
}  // namespace conet::net
