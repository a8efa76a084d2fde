#pragma once
/// Noise CipherState (spec §5.1) for ChaChaPoly: key k, 64-bit nonce n.
/// The AEAD nonce is 32 zero bits followed by n little-endian. Nonce 2^64-1
/// is reserved (used only by rekey), so a state that reaches it refuses to
/// encrypt or decrypt again. A failed decryption does not advance n.

#include <cstdint>
#include <limits>
#include <optional>

#include "conet/crypto/noise/error.hpp"
#include "conet/crypto/secret.hpp"
#include "conet/util/bytes.hpp"

namespace conet::crypto::noise {

inline constexpr std::size_t key_bytes = 32;
inline constexpr std::size_t tag_bytes = 16;
inline constexpr std::uint64_t max_nonce = std::numeric_limits<std::uint64_t>::max();  // reserved

class CipherState {
public:
    CipherState() = default;
    explicit CipherState(util::ByteView key32) { initialize_key(key32); }

    void initialize_key(util::ByteView key32);
    bool has_key() const { return m_key.has_value(); }
    std::uint64_t nonce() const { return m_n; }
    void set_nonce(std::uint64_t n) { m_n = n; }

    /// With no key, returns the plaintext unchanged (handshake before any DH).
    [[nodiscard]] Result<util::Bytes> encrypt_with_ad(util::ByteView ad, util::ByteView plaintext);
    [[nodiscard]] Result<util::Bytes> decrypt_with_ad(util::ByteView ad, util::ByteView ciphertext);

    /// Encrypts buf[offset..] in place and appends the tag (requires a key).
    [[nodiscard]] Result<void> encrypt_in_place(util::Bytes& buf, std::size_t offset);
    /// Decrypts `in` (ciphertext || tag) to `out` (may equal in.data()); returns the plaintext length.
    [[nodiscard]] Result<std::size_t> decrypt_to(util::ByteView in, std::uint8_t* out);

    /// k = first 32 bytes of ENCRYPT(k, 2^64-1, "", 32 zero bytes); n unchanged.
    void rekey();

private:
    std::optional<Secret<key_bytes>> m_key;
    std::uint64_t m_n = 0;
};

}  // namespace conet::crypto::noise
