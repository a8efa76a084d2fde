#pragma once
/// Noise SymmetricState (spec §5.2) with HASH = BLAKE2b: chaining key ck,
/// handshake hash h and a CipherState.

#include <string_view>
#include <utility>

#include "conet/crypto/noise/cipher_state.hpp"
#include "conet/crypto/sodium.hpp"

namespace conet::crypto::noise {

inline constexpr std::size_t hash_bytes = blake2b_bytes;
using HandshakeHash = util::ByteArray<hash_bytes>;

class SymmetricState {
public:
    explicit SymmetricState(std::string_view protocol_name);

    void mix_key(util::ByteView input_key_material);
    void mix_hash(util::ByteView data);
    void mix_key_and_hash(util::ByteView input_key_material);
    [[nodiscard]] Result<util::Bytes> encrypt_and_hash(util::ByteView plaintext);
    [[nodiscard]] Result<util::Bytes> decrypt_and_hash(util::ByteView ciphertext);
    bool has_key() const { return m_cipher.has_key(); }
    const HandshakeHash& handshake_hash() const { return m_h; }

    /// (c1, c2): c1 encrypts initiator -> responder, c2 the other way.
    std::pair<CipherState, CipherState> split() const;

private:
    Secret<hash_bytes> m_ck;
    HandshakeHash m_h{};
    CipherState m_cipher;
};

}  // namespace conet::crypto::noise
