#include "conet/crypto/noise/handshake.hpp"

#include <algorithm>

namespace conet::crypto::noise {

namespace {

std::size_t count_token(const Pattern& p, Token t, bool sent_by_initiator) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < p.messages.size(); ++i) {
        if ((i % 2 == 0) != sent_by_initiator) continue;
        n += static_cast<std::size_t>(std::count(p.messages[i].begin(), p.messages[i].end(), t));
    }
    return n;
}

bool contains(const std::vector<Token>& v, Token t) {
    return std::find(v.begin(), v.end(), t) != v.end();
}

}  // namespace

// ---- Transport -----------------------------------------------------------------

Result<util::Bytes> Transport::encrypt(util::ByteView plaintext) {
    if (plaintext.size() > max_payload_bytes) return util::unexpected(NoiseError::message_too_long);
    return m_send.encrypt_with_ad({}, plaintext);
}

Result<util::Bytes> Transport::decrypt(util::ByteView ciphertext) {
    if (ciphertext.size() > max_message_bytes) return util::unexpected(NoiseError::message_too_long);
    if (ciphertext.size() < tag_bytes) return util::unexpected(NoiseError::decrypt_failed);
    return m_recv.decrypt_with_ad({}, ciphertext);
}

Result<void> Transport::encrypt_in_place(util::Bytes& buf, std::size_t offset) {
    if (buf.size() - offset > max_payload_bytes) return util::unexpected(NoiseError::message_too_long);
    return m_send.encrypt_in_place(buf, offset);
}

Result<std::size_t> Transport::decrypt_to(util::ByteView in, std::uint8_t* out) {
    if (in.size() > max_message_bytes) return util::unexpected(NoiseError::message_too_long);
    return m_recv.decrypt_to(in, out);
}

// ---- HandshakeState --------------------------------------------------------------

HandshakeState::HandshakeState(HandshakeConfig c)
    : m_pattern(std::move(c.protocol.pattern)),
      m_role(c.role),
      m_symmetric(c.protocol.name),
      m_s(std::move(c.s)),
      m_e(std::move(c.e)),
      m_rs(c.rs),
      m_re(c.re),
      m_psks(std::move(c.psks)) {}

Result<HandshakeState> HandshakeState::create(HandshakeConfig config) {
    const Pattern& p = config.protocol.pattern;
    const bool init = config.role == Role::initiator;
    const auto& my_pre = init ? p.pre_initiator : p.pre_responder;
    const auto& their_pre = init ? p.pre_responder : p.pre_initiator;

    // Our static key is needed when we send it or when it is a pre-message.
    const bool need_s = contains(my_pre, Token::s) || count_token(p, Token::s, init) > 0 ||
                        // DH tokens that use our static key without our sending it
                        (init ? count_token(p, Token::se, true) + count_token(p, Token::se, false)
                              : count_token(p, Token::es, true) + count_token(p, Token::es, false)) > 0 ||
                        count_token(p, Token::ss, true) + count_token(p, Token::ss, false) > 0;
    if (need_s && !config.s) return util::unexpected(NoiseError::missing_key);
    if (contains(their_pre, Token::s) && !config.rs) return util::unexpected(NoiseError::missing_key);
    if (contains(my_pre, Token::e) && !config.e) return util::unexpected(NoiseError::missing_key);
    if (contains(their_pre, Token::e) && !config.re) return util::unexpected(NoiseError::missing_key);
    const std::size_t psks_needed = count_token(p, Token::psk, true) + count_token(p, Token::psk, false);
    if (config.psks.size() != psks_needed) return util::unexpected(NoiseError::missing_key);

    const util::Bytes prologue = config.prologue;
    HandshakeState hs(std::move(config));
    hs.m_symmetric.mix_hash(prologue);
    // Pre-messages: the initiator's keys first, then the responder's.
    for (const bool initiator_side : {true, false}) {
        const bool mine = initiator_side == init;
        for (Token t : initiator_side ? hs.m_pattern.pre_initiator : hs.m_pattern.pre_responder) {
            const X25519Public& key =
                t == Token::s ? (mine ? hs.m_s->public_key : *hs.m_rs) : (mine ? hs.m_e->public_key : *hs.m_re);
            hs.m_symmetric.mix_hash(key);
            if (t == Token::e && hs.m_pattern.has_psk) hs.m_symmetric.mix_key(key);
        }
    }
    return hs;
}

bool HandshakeState::my_turn() const {
    if (m_failed || finished()) return false;
    return (m_index % 2 == 0) == initiator();
}

Result<void> HandshakeState::mix_dh(Token token) {
    const X25519KeyPair* local = nullptr;
    const X25519Public* remote = nullptr;
    switch (token) {
        case Token::ee:
            local = m_e ? &*m_e : nullptr;
            remote = m_re ? &*m_re : nullptr;
            break;
        case Token::ss:
            local = m_s ? &*m_s : nullptr;
            remote = m_rs ? &*m_rs : nullptr;
            break;
        case Token::es:  // initiator's e with responder's s
            local = initiator() ? (m_e ? &*m_e : nullptr) : (m_s ? &*m_s : nullptr);
            remote = initiator() ? (m_rs ? &*m_rs : nullptr) : (m_re ? &*m_re : nullptr);
            break;
        case Token::se:  // initiator's s with responder's e
            local = initiator() ? (m_s ? &*m_s : nullptr) : (m_e ? &*m_e : nullptr);
            remote = initiator() ? (m_re ? &*m_re : nullptr) : (m_rs ? &*m_rs : nullptr);
            break;
        default: return util::unexpected(NoiseError::failed);
    }
    if (!local || !remote) return util::unexpected(NoiseError::missing_key);
    auto shared = x25519(local->secret, *remote);
    if (!shared) return util::unexpected(NoiseError::weak_public_key);
    m_symmetric.mix_key(shared->view());
    return {};
}

Result<util::Bytes> HandshakeState::write_tokens(util::ByteView payload, util::Rng& rng) {
    util::Bytes out;
    for (Token t : m_pattern.messages[m_index]) {
        switch (t) {
            case Token::e: {
                if (!m_e) m_e = X25519KeyPair::generate(rng);
                util::append(out, m_e->public_key);
                m_symmetric.mix_hash(m_e->public_key);
                if (m_pattern.has_psk) m_symmetric.mix_key(m_e->public_key);
                break;
            }
            case Token::s: {
                auto ct = m_symmetric.encrypt_and_hash(m_s->public_key);
                if (!ct) return util::unexpected(ct.error());
                util::append(out, *ct);
                break;
            }
            case Token::psk: m_symmetric.mix_key_and_hash(m_psks[m_psk_next++].view()); break;
            default:
                if (auto ok = mix_dh(t); !ok) return util::unexpected(ok.error());
        }
    }
    auto ct = m_symmetric.encrypt_and_hash(payload);
    if (!ct) return util::unexpected(ct.error());
    util::append(out, *ct);
    if (out.size() > max_message_bytes) return util::unexpected(NoiseError::message_too_long);
    return out;
}

Result<util::Bytes> HandshakeState::read_tokens(util::ByteView msg) {
    for (Token t : m_pattern.messages[m_index]) {
        switch (t) {
            case Token::e: {
                if (msg.size() < dh_bytes) return util::unexpected(NoiseError::message_too_short);
                X25519Public re{};
                std::copy_n(msg.begin(), dh_bytes, re.begin());
                msg = msg.subspan(dh_bytes);
                m_re = re;
                m_symmetric.mix_hash(re);
                if (m_pattern.has_psk) m_symmetric.mix_key(re);
                break;
            }
            case Token::s: {
                const std::size_t len = dh_bytes + (m_symmetric.has_key() ? tag_bytes : 0);
                if (msg.size() < len) return util::unexpected(NoiseError::message_too_short);
                auto pt = m_symmetric.decrypt_and_hash(msg.first(len));
                if (!pt) return util::unexpected(pt.error());
                msg = msg.subspan(len);
                X25519Public rs{};
                std::copy(pt->begin(), pt->end(), rs.begin());
                m_rs = rs;
                break;
            }
            case Token::psk: m_symmetric.mix_key_and_hash(m_psks[m_psk_next++].view()); break;
            default:
                if (auto ok = mix_dh(t); !ok) return util::unexpected(ok.error());
        }
    }
    if (m_symmetric.has_key() && msg.size() < tag_bytes) return util::unexpected(NoiseError::message_too_short);
    return m_symmetric.decrypt_and_hash(msg);
}

Result<util::Bytes> HandshakeState::write_message(util::ByteView payload, util::Rng& rng) {
    if (m_failed) return util::unexpected(NoiseError::failed);
    if (!my_turn()) return util::unexpected(NoiseError::wrong_turn);
    if (payload.size() > max_message_bytes) return util::unexpected(NoiseError::message_too_long);
    auto out = write_tokens(payload, rng);
    if (!out) {
        m_failed = true;
        return out;
    }
    ++m_index;
    return out;
}

Result<util::Bytes> HandshakeState::read_message(util::ByteView message) {
    if (m_failed) return util::unexpected(NoiseError::failed);
    if (finished() || my_turn()) return util::unexpected(NoiseError::wrong_turn);
    if (message.size() > max_message_bytes) {
        m_failed = true;
        return util::unexpected(NoiseError::message_too_long);
    }
    auto out = read_tokens(message);
    if (!out) {
        m_failed = true;
        return out;
    }
    ++m_index;
    return out;
}

Result<Transport> HandshakeState::split() && {
    if (m_failed) return util::unexpected(NoiseError::failed);
    if (!finished()) return util::unexpected(NoiseError::not_finished);
    auto [c1, c2] = m_symmetric.split();
    if (initiator()) return Transport(std::move(c1), std::move(c2), handshake_hash(), m_rs);
    return Transport(std::move(c2), std::move(c1), handshake_hash(), m_rs);
}

}  // namespace conet::crypto::noise
