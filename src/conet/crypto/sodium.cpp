#include "conet/crypto/sodium.hpp"

#include <sodium.h>

#include "conet/util/assert.hpp"

namespace conet::crypto {

static_assert(crypto_scalarmult_BYTES == x25519_key_bytes);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == aead_key_bytes);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == aead_nonce_bytes);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == aead_tag_bytes);
static_assert(crypto_generichash_blake2b_BYTES_MAX == blake2b_bytes);

std::string_view describe(CryptoError e) {
    switch (e) {
        case CryptoError::weak_public_key: return "peer public key has low order";
        case CryptoError::auth_failed: return "authentication failed (forged or corrupted ciphertext)";
        case CryptoError::too_short: return "ciphertext shorter than its authentication tag";
    }
    return "unknown crypto error";
}

X25519KeyPair X25519KeyPair::generate(util::Rng& rng) {
    Secret<32> sk;
    rng.fill(sk.span());
    return from_secret(sk.view());
}

X25519KeyPair X25519KeyPair::from_secret(util::ByteView secret32) {
    CONET_ASSERT(secret32.size() == x25519_key_bytes);
    X25519KeyPair kp{Secret<32>(secret32), {}};
    CONET_ASSERT(crypto_scalarmult_base(kp.public_key.data(), kp.secret.data()) == 0);
    return kp;
}

util::Result<Secret<32>, CryptoError> x25519(const Secret<32>& secret, const X25519Public& peer) {
    Secret<32> shared;
    if (crypto_scalarmult(shared.data(), secret.data(), peer.data()) != 0)
        return util::unexpected(CryptoError::weak_public_key);
    return shared;
}

util::Bytes aead_encrypt(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView plaintext) {
    util::Bytes out(plaintext.size() + aead_tag_bytes);
    unsigned long long out_len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(), plaintext.size(), ad.data(),
                                              ad.size(), nullptr, nonce.data(), key.data());
    CONET_ASSERT(out_len == out.size());
    return out;
}

util::Result<util::Bytes, CryptoError> aead_decrypt(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad,
                                                    util::ByteView ciphertext) {
    if (ciphertext.size() < aead_tag_bytes) return util::unexpected(CryptoError::too_short);
    util::Bytes out(ciphertext.size() - aead_tag_bytes);
    unsigned long long out_len = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &out_len, nullptr, ciphertext.data(), ciphertext.size(),
                                                  ad.data(), ad.size(), nonce.data(), key.data()) != 0)
        return util::unexpected(CryptoError::auth_failed);
    return out;
}

Blake2bHash blake2b(std::initializer_list<util::ByteView> parts) {
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, nullptr, 0, blake2b_bytes);
    for (util::ByteView p : parts) crypto_generichash_blake2b_update(&st, p.data(), p.size());
    Blake2bHash out{};
    crypto_generichash_blake2b_final(&st, out.data(), out.size());
    sodium_memzero(&st, sizeof st);
    return out;
}

Secret<blake2b_bytes> hmac_blake2b(util::ByteView key, std::initializer_list<util::ByteView> parts) {
    Secret<blake2b_block_bytes> block;
    if (key.size() > blake2b_block_bytes) {
        const Blake2bHash hk = blake2b({key});
        std::copy(hk.begin(), hk.end(), block.data());
    } else {
        std::copy(key.begin(), key.end(), block.data());
    }
    Secret<blake2b_block_bytes> ipad;
    Secret<blake2b_block_bytes> opad;
    for (std::size_t i = 0; i < blake2b_block_bytes; ++i) {
        ipad.data()[i] = block.data()[i] ^ 0x36;
        opad.data()[i] = block.data()[i] ^ 0x5c;
    }
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, nullptr, 0, blake2b_bytes);
    crypto_generichash_blake2b_update(&st, ipad.data(), ipad.size());
    for (util::ByteView p : parts) crypto_generichash_blake2b_update(&st, p.data(), p.size());
    Secret<blake2b_bytes> inner;
    crypto_generichash_blake2b_final(&st, inner.data(), inner.size());
    crypto_generichash_blake2b_init(&st, nullptr, 0, blake2b_bytes);
    crypto_generichash_blake2b_update(&st, opad.data(), opad.size());
    crypto_generichash_blake2b_update(&st, inner.data(), inner.size());
    Secret<blake2b_bytes> out;
    crypto_generichash_blake2b_final(&st, out.data(), out.size());
    sodium_memzero(&st, sizeof st);
    return out;
}

}  // namespace conet::crypto
