#include "conet/crypto/sodium.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <limits>

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

// ChaCha20-Poly1305 (RFC 8439, the IETF construction Noise uses) runs on
// OpenSSL's EVP implementation: on this project's machines it is 2.4x faster
// than libsodium's (AVX-512; bench/README.md), and it is the same construction,
// as the Noise test vectors confirm.
namespace {

struct EvpCtx {
    EvpCtx() : ctx(EVP_CIPHER_CTX_new()) { CONET_ASSERT(ctx != nullptr); }
    ~EvpCtx() { EVP_CIPHER_CTX_free(ctx); }
    EvpCtx(const EvpCtx&) = delete;
    EvpCtx& operator=(const EvpCtx&) = delete;
    EVP_CIPHER_CTX* ctx;
};

int checked_len(std::size_t n) {
    CONET_ASSERT(n <= static_cast<std::size_t>(std::numeric_limits<int>::max()));
    return static_cast<int>(n);
}

}  // namespace

void aead_encrypt_to(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView in,
                     std::uint8_t* out) {
    EvpCtx e;
    int len = 0;
    CONET_ASSERT(EVP_EncryptInit_ex(e.ctx, EVP_chacha20_poly1305(), nullptr, key.data(), nonce.data()) == 1);
    if (!ad.empty()) CONET_ASSERT(EVP_EncryptUpdate(e.ctx, nullptr, &len, ad.data(), checked_len(ad.size())) == 1);
    if (!in.empty()) CONET_ASSERT(EVP_EncryptUpdate(e.ctx, out, &len, in.data(), checked_len(in.size())) == 1);
    CONET_ASSERT(EVP_EncryptFinal_ex(e.ctx, out + in.size(), &len) == 1);
    CONET_ASSERT(EVP_CIPHER_CTX_ctrl(e.ctx, EVP_CTRL_AEAD_GET_TAG, aead_tag_bytes, out + in.size()) == 1);
}

bool aead_decrypt_to(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView in,
                     std::uint8_t* out) {
    if (in.size() < aead_tag_bytes) return false;
    const std::size_t n = in.size() - aead_tag_bytes;
    // Copy the tag first: with out == in.data() the plaintext may overwrite nothing
    // past n, but keep it independent of the output buffer anyway.
    std::uint8_t tag[aead_tag_bytes];
    std::copy_n(in.data() + n, aead_tag_bytes, tag);
    EvpCtx e;
    int len = 0;
    CONET_ASSERT(EVP_DecryptInit_ex(e.ctx, EVP_chacha20_poly1305(), nullptr, key.data(), nonce.data()) == 1);
    if (!ad.empty() && EVP_DecryptUpdate(e.ctx, nullptr, &len, ad.data(), checked_len(ad.size())) != 1) return false;
    if (n > 0 && EVP_DecryptUpdate(e.ctx, out, &len, in.data(), checked_len(n)) != 1) return false;
    CONET_ASSERT(EVP_CIPHER_CTX_ctrl(e.ctx, EVP_CTRL_AEAD_SET_TAG, aead_tag_bytes, tag) == 1);
    if (EVP_DecryptFinal_ex(e.ctx, out + n, &len) != 1) {
        sodium_memzero(out, n);  // never leave unauthenticated plaintext behind
        return false;
    }
    return true;
}

util::Bytes aead_encrypt(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad, util::ByteView plaintext) {
    util::Bytes out(plaintext.size() + aead_tag_bytes);
    aead_encrypt_to(key, nonce, ad, plaintext, out.data());
    return out;
}

util::Result<util::Bytes, CryptoError> aead_decrypt(const Secret<32>& key, const AeadNonce& nonce, util::ByteView ad,
                                                    util::ByteView ciphertext) {
    if (ciphertext.size() < aead_tag_bytes) return util::unexpected(CryptoError::too_short);
    util::Bytes out(ciphertext.size() - aead_tag_bytes);
    if (!aead_decrypt_to(key, nonce, ad, ciphertext, out.data())) return util::unexpected(CryptoError::auth_failed);
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
