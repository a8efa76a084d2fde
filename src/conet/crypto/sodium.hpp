#pragma once
/// Thin wrappers over libsodium (X25519, BLAKE2b) and OpenSSL (ChaCha20-Poly1305
/// IETF, faster here; see sodium.cpp).
/// Secret inputs and outputs are Secret<N>, wiped when dropped.

#include <initializer_list>

#include "conet/crypto/secret.hpp"
#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"
#include "conet/util/rng.hpp"

namespace conet::crypto {

inline constexpr std::size_t x25519_key_bytes = 32;
inline constexpr std::size_t aead_key_bytes = 32;
inline constexpr std::size_t aead_nonce_bytes = 12;
inline constexpr std::size_t aead_tag_bytes = 16;
inline constexpr std::size_t blake2b_bytes = 64;
inline constexpr std::size_t blake2b_block_bytes = 128;

using X25519Public = util::ByteArray<x25519_key_bytes>;
using AeadNonce = util::ByteArray<aead_nonce_bytes>;
using Blake2bHash = util::ByteArray<blake2b_bytes>;

enum class CryptoError {
    weak_public_key,  ///< X25519 with a low-order point (all-zero shared secret)
    auth_failed,      ///< AEAD tag mismatch: forged, corrupted or wrong key
    too_short,        ///< ciphertext shorter than a tag
};
std::string_view describe(CryptoError e);

struct X25519KeyPair {
    Secret<x25519_key_bytes> secret;
    X25519Public public_key{};

    static X25519KeyPair generate(util::Rng& rng);
    static X25519KeyPair from_secret(util::ByteView secret32);
    X25519KeyPair clone() const { return from_secret(secret.view()); }
};

/// X25519(secret, public). Fails when the peer's point has low order.
[[nodiscard]] util::Result<Secret<32>, CryptoError> x25519(const Secret<32>& secret, const X25519Public& peer);

/// ChaCha20-Poly1305 IETF: returns ciphertext || 16-byte tag.
util::Bytes aead_encrypt(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView plaintext);
[[nodiscard]] util::Result<util::Bytes, CryptoError> aead_decrypt(const Secret<32>& key, const AeadNonce& nonce,
                                                                  util::ByteView ad, util::ByteView ciphertext);

/// In-place capable forms for the data path: `out` may equal `in` exactly.
/// Encrypt writes in.size() + 16 bytes to out; decrypt writes in.size() - 16.
void aead_encrypt_to(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView in,
                     std::uint8_t* out);
[[nodiscard]] bool aead_decrypt_to(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView in,
                                   std::uint8_t* out);

/// BLAKE2b-512 over the concatenation of `parts`.
Blake2bHash blake2b(std::initializer_list<util::ByteView> parts);

/// HMAC (RFC 2104) with BLAKE2b-512 as Noise defines it (block 128 bytes),
/// over the concatenation of `parts`. Not BLAKE2b's keyed mode.
Secret<blake2b_bytes> hmac_blake2b(util::ByteView key, std::initializer_list<util::ByteView> parts);

}  // namespace conet::crypto
