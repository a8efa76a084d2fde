#pragma once
/// secp256k1 wallet keys (DESIGN §4): private/public keys, Ethereum addresses
/// with EIP-55 text, and 65-byte recoverable ECDSA signatures with low-s.
/// Signing is deterministic (RFC 6979), so it matches ethers byte for byte.

#include <compare>
#include <string>
#include <string_view>

#include "conet/crypto/keccak.hpp"
#include "conet/crypto/secret.hpp"
#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"
#include "conet/util/rng.hpp"

namespace conet::crypto {

enum class KeyError {
    bad_private_key,  ///< zero, not below the group order, or wrong length
    bad_public_key,   ///< not a point on the curve or wrong encoding
    bad_address,      ///< not 20 bytes of hex, or a wrong EIP-55 checksum
    bad_signature,    ///< wrong length, r/s out of range or bad recovery id
    high_s,           ///< s above n/2: malleable form, refused
    recovery_failed,  ///< no public key recovers from the signature
};
std::string_view describe(KeyError e);

template <class T>
using KeyResult = util::Result<T, KeyError>;

struct Address {
    util::ByteArray<20> bytes{};

    /// Mixed-case EIP-55 text with "0x".
    std::string to_string() const;
    /// Accepts "0x" + 40 hex digits: all lower, all upper, or a valid EIP-55 mix.
    static KeyResult<Address> parse(std::string_view text);
    auto operator<=>(const Address&) const = default;
};

struct PublicKey {
    util::ByteArray<64> xy{};  ///< uncompressed point without the 0x04 prefix

    util::ByteArray<65> uncompressed() const;
    static KeyResult<PublicKey> from_uncompressed(util::ByteView bytes65);
    Address address() const;
    bool operator==(const PublicKey&) const = default;
};

/// A signature as (r, s, recovery id 0/1). Wire form is r || s || v.
struct Signature {
    util::ByteArray<32> r{};
    util::ByteArray<32> s{};
    std::uint8_t recid = 0;

    /// r || s || (recid + v_offset): offset 0 for protocol signatures, 27 for EIP-191.
    util::ByteArray<65> to_bytes(std::uint8_t v_offset) const;
    /// Accepts v in {0, 1, 27, 28}.
    static KeyResult<Signature> from_bytes(util::ByteView bytes65);
    bool operator==(const Signature&) const = default;
};

class PrivateKey {
public:
    static KeyResult<PrivateKey> from_bytes(util::ByteView bytes32);
    static PrivateKey generate(util::Rng& rng);

    PrivateKey clone() const { return PrivateKey(m_key.clone()); }
    const Secret<32>& secret() const { return m_key; }
    PublicKey public_key() const;
    Address address() const { return public_key().address(); }

private:
    explicit PrivateKey(Secret<32> key) : m_key(std::move(key)) {}
    Secret<32> m_key;
};

/// Deterministic (RFC 6979) recoverable signature over a 32-byte digest, low-s.
Signature sign_hash(const PrivateKey& key, const Hash256& digest);

/// Recovers the signer's public key; refuses high-s signatures.
KeyResult<PublicKey> recover(const Hash256& digest, const Signature& sig);

}  // namespace conet::crypto
