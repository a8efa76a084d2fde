#include "conet/crypto/keys.hpp"

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>

#include <cctype>

#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::crypto {

namespace {

/// One signing context per process, created on first use and immutable after
/// its randomisation (side-channel blinding), so sharing it is safe.
const secp256k1_context* context() {
    static const secp256k1_context* const ctx = [] {
        secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        CONET_ASSERT(c != nullptr);
        unsigned char seed[32];
        randombytes_buf(seed, sizeof seed);
        CONET_ASSERT(secp256k1_context_randomize(c, seed) == 1);
        sodium_memzero(seed, sizeof seed);
        return c;
    }();
    return ctx;
}

}  // namespace

std::string_view describe(KeyError e) {
    switch (e) {
        case KeyError::bad_private_key: return "invalid secp256k1 private key";
        case KeyError::bad_public_key: return "invalid secp256k1 public key";
        case KeyError::bad_address: return "invalid address (expected 0x + 40 hex digits with a valid EIP-55 checksum)";
        case KeyError::bad_signature: return "malformed signature (expected 65 bytes r || s || v)";
        case KeyError::high_s: return "signature is not in low-s form";
        case KeyError::recovery_failed: return "no public key can be recovered from the signature";
    }
    return "unknown key error";
}

// ---- Address ----------------------------------------------------------------

std::string Address::to_string() const {
    const std::string lower = util::to_hex(bytes);
    const Hash256 h = keccak256(util::as_bytes(lower));
    std::string out = "0x";
    for (std::size_t i = 0; i < lower.size(); ++i) {
        const std::uint8_t nibble = (i % 2 == 0) ? (h[i / 2] >> 4) : (h[i / 2] & 0x0f);
        const char c = lower[i];
        out.push_back((c >= 'a' && nibble >= 8) ? static_cast<char>(std::toupper(c)) : c);
    }
    return out;
}

KeyResult<Address> Address::parse(std::string_view text) {
    if (text.size() != 42 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return util::unexpected(KeyError::bad_address);
    auto raw = util::from_hex_fixed<20>(text);
    if (!raw) return util::unexpected(KeyError::bad_address);
    Address a{*raw};
    const std::string_view digits = text.substr(2);
    const bool has_lower = digits.find_first_of("abcdef") != std::string_view::npos;
    const bool has_upper = digits.find_first_of("ABCDEF") != std::string_view::npos;
    if (has_lower && has_upper && a.to_string().substr(2) != digits) return util::unexpected(KeyError::bad_address);
    return a;
}

// ---- PublicKey -----------------------------------------------------------------

util::ByteArray<65> PublicKey::uncompressed() const {
    util::ByteArray<65> out{};
    out[0] = 0x04;
    std::copy(xy.begin(), xy.end(), out.begin() + 1);
    return out;
}

KeyResult<PublicKey> PublicKey::from_uncompressed(util::ByteView bytes65) {
    if (bytes65.size() != 65 || bytes65[0] != 0x04) return util::unexpected(KeyError::bad_public_key);
    secp256k1_pubkey pk;
    if (secp256k1_ec_pubkey_parse(context(), &pk, bytes65.data(), bytes65.size()) != 1)
        return util::unexpected(KeyError::bad_public_key);
    PublicKey out;
    std::copy(bytes65.begin() + 1, bytes65.end(), out.xy.begin());
    return out;
}

Address PublicKey::address() const {
    const Hash256 h = keccak256(xy);
    Address a;
    std::copy(h.begin() + 12, h.end(), a.bytes.begin());
    return a;
}

namespace {
PublicKey serialize(const secp256k1_pubkey& pk) {
    unsigned char buf[65];
    size_t len = sizeof buf;
    CONET_ASSERT(secp256k1_ec_pubkey_serialize(context(), buf, &len, &pk, SECP256K1_EC_UNCOMPRESSED) == 1);
    CONET_ASSERT(len == 65);
    PublicKey out;
    std::copy(buf + 1, buf + 65, out.xy.begin());
    return out;
}
}  // namespace

// ---- Signature ----------------------------------------------------------------

util::ByteArray<65> Signature::to_bytes(std::uint8_t v_offset) const {
    util::ByteArray<65> out{};
    std::copy(r.begin(), r.end(), out.begin());
    std::copy(s.begin(), s.end(), out.begin() + 32);
    out[64] = static_cast<std::uint8_t>(recid + v_offset);
    return out;
}

KeyResult<Signature> Signature::from_bytes(util::ByteView b) {
    if (b.size() != 65) return util::unexpected(KeyError::bad_signature);
    std::uint8_t v = b[64];
    if (v == 27 || v == 28) v -= 27;
    if (v > 1) return util::unexpected(KeyError::bad_signature);
    Signature sig;
    std::copy(b.begin(), b.begin() + 32, sig.r.begin());
    std::copy(b.begin() + 32, b.begin() + 64, sig.s.begin());
    sig.recid = v;
    return sig;
}

// ---- PrivateKey -----------------------------------------------------------------

KeyResult<PrivateKey> PrivateKey::from_bytes(util::ByteView bytes32) {
    if (bytes32.size() != 32 || secp256k1_ec_seckey_verify(context(), bytes32.data()) != 1)
        return util::unexpected(KeyError::bad_private_key);
    return PrivateKey(Secret<32>(bytes32));
}

PrivateKey PrivateKey::generate(util::Rng& rng) {
    Secret<32> candidate;
    do {
        rng.fill(candidate.span());
    } while (secp256k1_ec_seckey_verify(context(), candidate.data()) != 1);
    return PrivateKey(std::move(candidate));
}

PublicKey PrivateKey::public_key() const {
    secp256k1_pubkey pk;
    CONET_ASSERT(secp256k1_ec_pubkey_create(context(), &pk, m_key.data()) == 1);
    return serialize(pk);
}

// ---- sign / recover --------------------------------------------------------------

Signature sign_hash(const PrivateKey& key, const Hash256& digest) {
    secp256k1_ecdsa_recoverable_signature rsig;
    // nullptr nonce function = RFC 6979; libsecp256k1 always emits low-s.
    CONET_ASSERT(
        secp256k1_ecdsa_sign_recoverable(context(), &rsig, digest.data(), key.secret().data(), nullptr, nullptr) == 1);
    unsigned char compact[64];
    int recid = 0;
    CONET_ASSERT(secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), compact, &recid, &rsig) == 1);
    Signature sig;
    std::copy(compact, compact + 32, sig.r.begin());
    std::copy(compact + 32, compact + 64, sig.s.begin());
    sig.recid = static_cast<std::uint8_t>(recid);
    return sig;
}

KeyResult<PublicKey> recover(const Hash256& digest, const Signature& sig) {
    unsigned char compact[64];
    std::copy(sig.r.begin(), sig.r.end(), compact);
    std::copy(sig.s.begin(), sig.s.end(), compact + 32);
    secp256k1_ecdsa_recoverable_signature rsig;
    if (sig.recid > 1 || secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &rsig, compact, sig.recid) != 1)
        return util::unexpected(KeyError::bad_signature);

    secp256k1_ecdsa_signature plain;
    CONET_ASSERT(secp256k1_ecdsa_recoverable_signature_convert(context(), &plain, &rsig) == 1);
    if (secp256k1_ecdsa_signature_normalize(context(), nullptr, &plain) == 1) return util::unexpected(KeyError::high_s);

    secp256k1_pubkey pk;
    if (secp256k1_ecdsa_recover(context(), &pk, &rsig, digest.data()) != 1)
        return util::unexpected(KeyError::recovery_failed);
    return serialize(pk);
}

}  // namespace conet::crypto
