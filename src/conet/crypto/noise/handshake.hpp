#pragma once
/// The generic Noise handshake engine (spec §5.3) for 25519_ChaChaPoly_BLAKE2b.
/// It interprets a Pattern's tokens, so every supported pattern goes through
/// the same code. I/O-free: bytes in, bytes out; randomness comes from the
/// caller's Rng. Any failure poisons the state: later calls return `failed`.
///
///   auto hs = HandshakeState::create(std::move(config));
///   msg = hs->write_message(payload, rng);   // or read_message(msg)
///   ... until hs->finished(), then std::move(*hs).split() -> Transport.

#include <optional>
#include <vector>

#include "conet/crypto/noise/pattern.hpp"
#include "conet/crypto/noise/symmetric_state.hpp"
#include "conet/util/rng.hpp"

namespace conet::crypto::noise {

inline constexpr std::size_t max_message_bytes = 65535;
inline constexpr std::size_t max_payload_bytes = max_message_bytes - tag_bytes;
inline constexpr std::size_t dh_bytes = x25519_key_bytes;
inline constexpr std::size_t psk_bytes = 32;

enum class Role { initiator, responder };

struct HandshakeConfig {
    Protocol protocol;
    Role role = Role::initiator;
    util::Bytes prologue;
    std::optional<X25519KeyPair> s;       ///< our static key, if the pattern uses one
    std::optional<X25519KeyPair> e;       ///< preset ephemeral: test vectors only
    std::optional<X25519Public> rs;       ///< the peer's static key, when known in advance
    std::optional<X25519Public> re;       ///< the peer's ephemeral, when known in advance
    std::vector<Secret<psk_bytes>> psks;  ///< in the order the pattern's psk tokens use them
};

/// Transport phase (spec §5.1 after Split): one CipherState per direction.
class Transport {
public:
    Transport(CipherState send, CipherState recv, const HandshakeHash& h, std::optional<X25519Public> rs)
        : m_send(std::move(send)), m_recv(std::move(recv)), m_h(h), m_remote_static(rs) {}

    /// Plaintext of at most max_payload_bytes; returns ciphertext || tag.
    [[nodiscard]] Result<util::Bytes> encrypt(util::ByteView plaintext);
    [[nodiscard]] Result<util::Bytes> decrypt(util::ByteView ciphertext);
    /// Zero-copy forms for the data path: seal buf[offset..] in place (appends
    /// the tag); open `in` into `out` (may be the same memory).
    [[nodiscard]] Result<void> encrypt_in_place(util::Bytes& buf, std::size_t offset);
    [[nodiscard]] Result<std::size_t> decrypt_to(util::ByteView in, std::uint8_t* out);
    void rekey_send() { m_send.rekey(); }
    void rekey_recv() { m_recv.rekey(); }
    CipherState& send_cipher() { return m_send; }
    CipherState& recv_cipher() { return m_recv; }
    const HandshakeHash& handshake_hash() const { return m_h; }
    const std::optional<X25519Public>& remote_static() const { return m_remote_static; }

private:
    CipherState m_send;
    CipherState m_recv;
    HandshakeHash m_h;
    std::optional<X25519Public> m_remote_static;
};

class HandshakeState {
public:
    /// Checks that the keys the pattern needs are present and mixes the
    /// prologue and pre-message keys.
    [[nodiscard]] static Result<HandshakeState> create(HandshakeConfig config);

    [[nodiscard]] Result<util::Bytes> write_message(util::ByteView payload, util::Rng& rng);
    [[nodiscard]] Result<util::Bytes> read_message(util::ByteView message);

    bool my_turn() const;
    bool finished() const { return m_index == m_pattern.messages.size(); }
    const HandshakeHash& handshake_hash() const { return m_symmetric.handshake_hash(); }
    const std::optional<X25519Public>& remote_static() const { return m_rs; }
    const std::optional<X25519Public>& remote_ephemeral() const { return m_re; }

    /// After the last message: the initiator sends with c1, the responder with c2.
    [[nodiscard]] Result<Transport> split() &&;

private:
    HandshakeState(HandshakeConfig config);
    Result<void> mix_dh(Token token);
    Result<util::Bytes> write_tokens(util::ByteView payload, util::Rng& rng);
    Result<util::Bytes> read_tokens(util::ByteView message);
    bool initiator() const { return m_role == Role::initiator; }

    Pattern m_pattern;
    Role m_role;
    SymmetricState m_symmetric;
    std::optional<X25519KeyPair> m_s;
    std::optional<X25519KeyPair> m_e;
    std::optional<X25519Public> m_rs;
    std::optional<X25519Public> m_re;
    std::vector<Secret<psk_bytes>> m_psks;
    std::size_t m_psk_next = 0;
    std::size_t m_index = 0;  ///< next message in the pattern
    bool m_failed = false;
};

}  // namespace conet::crypto::noise
