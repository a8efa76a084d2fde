#include "conet/net/link_handshake.hpp"

#include <algorithm>

#include "conet/codec/codec.hpp"
#include "conet/util/assert.hpp"

namespace conet::net {

namespace noise = crypto::noise;

std::string_view describe(LinkError e) {
    switch (e) {
        case LinkError::connect_failed: return "connection failed";
        case LinkError::handshake_failed: return "link handshake failed";
        case LinkError::timeout: return "link handshake timed out";
        case LinkError::peer_not_allowed: return "peer is not a known relay";
    }
    return "unknown link error";
}

namespace {

constexpr std::string_view link_prologue = "CONET link v2";
constexpr std::size_t header_bytes = 2;
static_assert(max_handshake_message_bytes <= 0xffff);

util::Bytes prologue_for(LinkKind kind) {
    util::Bytes p = util::to_bytes(link_prologue);
    p.push_back(static_cast<std::uint8_t>(kind));
    return p;
}

noise::Result<noise::HandshakeState> new_handshake(LinkKind kind, noise::Role role,
                                                   std::optional<crypto::X25519KeyPair> s,
                                                   std::optional<crypto::X25519Public> rs) {
    const char* name =
        kind == LinkKind::client ? "Noise_NK_25519_ChaChaPoly_BLAKE2b" : "Noise_XK_25519_ChaChaPoly_BLAKE2b";
    auto protocol = noise::parse_protocol_name(name);
    CONET_ASSERT(protocol.has_value());
    return noise::HandshakeState::create(
        {*protocol, role, prologue_for(kind), std::move(s), {}, std::move(rs), {}, {}});
}

}  // namespace

LinkHandshake LinkHandshake::initiate(const crypto::X25519KeyPair* our_static, const crypto::X25519Public& their_static,
                                      runtime::TimeMs now, runtime::TimeMs timeout_ms, util::Rng& rng) {
    const LinkKind kind = our_static ? LinkKind::relay : LinkKind::client;
    std::optional<crypto::X25519KeyPair> s;
    if (our_static) s = our_static->clone();
    auto hs = new_handshake(kind, noise::Role::initiator, std::move(s), their_static);
    CONET_ASSERT(hs.has_value());  // fixed protocol names and keys of the right size
    LinkHandshake h(kind, now + timeout_ms, Step::header);
    h.m_hs = std::move(*hs);
    h.m_out.push_back(static_cast<std::uint8_t>(kind));
    h.write(rng);
    return h;
}

LinkHandshake LinkHandshake::respond(const crypto::X25519KeyPair& our_static, PeerCheck allow, runtime::TimeMs now,
                                     runtime::TimeMs timeout_ms) {
    // The Noise state waits for the kind byte, which picks the pattern.
    LinkHandshake h(LinkKind::client, now + timeout_ms, Step::kind_byte);
    h.m_responder_static = our_static.clone();
    h.m_allow = std::move(allow);
    return h;
}

std::size_t LinkHandshake::wanted() const {
    switch (m_step) {
        case Step::kind_byte: return 1;
        case Step::header: return header_bytes - m_have;
        case Step::body: return m_body.size() - m_have;
        case Step::done:
        case Step::failed: return 0;
    }
    return 0;
}

std::size_t LinkHandshake::receive(util::ByteView bytes, util::Rng& rng) {
    std::size_t used = 0;
    while (used < bytes.size() && wanted() > 0) {
        const std::size_t n = std::min(wanted(), bytes.size() - used);
        const auto chunk = bytes.subspan(used, n);
        used += n;
        switch (m_step) {
            case Step::kind_byte: {
                const std::uint8_t k = chunk[0];
                if (k != static_cast<std::uint8_t>(LinkKind::client) && k != static_cast<std::uint8_t>(LinkKind::relay))
                    return fail(LinkError::handshake_failed), used;
                m_kind = static_cast<LinkKind>(k);
                auto hs = new_handshake(m_kind, noise::Role::responder, m_responder_static->clone(), {});
                CONET_ASSERT(hs.has_value());
                m_hs = std::move(*hs);
                m_step = Step::header;
                break;
            }
            case Step::header: {
                std::copy(chunk.begin(), chunk.end(), m_header + m_have);
                m_have += n;
                if (m_have < header_bytes) break;
                const std::size_t len = codec::load_be<std::uint16_t>(m_header);
                if (len == 0 || len > max_handshake_message_bytes) return fail(LinkError::handshake_failed), used;
                m_body.assign(len, 0);
                m_have = 0;
                m_step = Step::body;
                break;
            }
            case Step::body: {
                std::copy(chunk.begin(), chunk.end(), m_body.begin() + static_cast<std::ptrdiff_t>(m_have));
                m_have += n;
                if (m_have < m_body.size()) break;
                m_have = 0;
                m_step = Step::header;
                on_message(m_body, rng);
                break;
            }
            case Step::done:
            case Step::failed: break;
        }
    }
    return used;
}

void LinkHandshake::on_message(util::ByteView message, util::Rng& rng) {
    CONET_ASSERT(m_hs && !m_hs->finished());
    if (!m_hs->read_message(message)) return fail(LinkError::handshake_failed);
    if (!m_hs->finished()) write(rng);
    if (m_step != Step::failed && m_hs->finished()) finish();
}

void LinkHandshake::write(util::Rng& rng) {
    auto m = m_hs->write_message({}, rng);
    if (!m) return fail(LinkError::handshake_failed);
    CONET_ASSERT(m->size() <= max_handshake_message_bytes);
    codec::append_be(m_out, static_cast<std::uint16_t>(m->size()));
    util::append(m_out, *m);
}

void LinkHandshake::finish() {
    if (m_allow && !m_allow(m_kind, m_hs->remote_static())) return fail(LinkError::peer_not_allowed);
    auto transport = std::move(*m_hs).split();
    m_hs.reset();
    if (!transport) return fail(LinkError::handshake_failed);
    m_transport = std::move(*transport);
    m_step = Step::done;
}

void LinkHandshake::tick(runtime::TimeMs now) {
    if (m_step != Step::done && m_step != Step::failed && now >= m_deadline) fail(LinkError::timeout);
}

void LinkHandshake::fail(LinkError e) {
    if (m_step == Step::failed) return;
    m_step = Step::failed;
    m_failure = e;
    m_hs.reset();
    m_out.clear();
}

noise::Transport LinkHandshake::take_transport() {
    CONET_ASSERT(m_step == Step::done && m_transport.has_value());
    auto t = std::move(*m_transport);
    m_transport.reset();
    return t;
}

}  // namespace conet::net
