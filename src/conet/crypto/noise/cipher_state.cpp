#include "conet/crypto/noise/cipher_state.hpp"

#include "conet/crypto/sodium.hpp"
#include "conet/util/assert.hpp"

namespace conet::crypto::noise {

std::string_view describe(NoiseError e) {
    switch (e) {
        case NoiseError::unsupported_protocol: return "unsupported Noise protocol";
        case NoiseError::missing_key: return "a key required by the handshake pattern is missing";
        case NoiseError::message_too_long: return "Noise message longer than 65535 bytes";
        case NoiseError::message_too_short: return "Noise handshake message is truncated";
        case NoiseError::decrypt_failed: return "Noise decryption failed (tampered message or wrong key)";
        case NoiseError::weak_public_key: return "peer sent a low-order X25519 public key";
        case NoiseError::nonce_exhausted: return "Noise cipher nonce exhausted";
        case NoiseError::wrong_turn: return "Noise message out of turn";
        case NoiseError::not_finished: return "Noise handshake not finished";
        case NoiseError::failed: return "Noise handshake already failed";
    }
    return "unknown Noise error";
}

namespace {
AeadNonce make_nonce(std::uint64_t n) {
    AeadNonce nonce{};
    for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
    return nonce;
}
}  // namespace

void CipherState::initialize_key(util::ByteView key32) {
    CONET_ASSERT(key32.size() == key_bytes);
    m_key.emplace(key32);
    m_n = 0;
}

Result<util::Bytes> CipherState::encrypt_with_ad(util::ByteView ad, util::ByteView plaintext) {
    if (!m_key) return util::Bytes(plaintext.begin(), plaintext.end());
    if (m_n == max_nonce) return util::unexpected(NoiseError::nonce_exhausted);
    util::Bytes out = aead_encrypt(*m_key, make_nonce(m_n), ad, plaintext);
    ++m_n;
    return out;
}

Result<util::Bytes> CipherState::decrypt_with_ad(util::ByteView ad, util::ByteView ciphertext) {
    if (!m_key) return util::Bytes(ciphertext.begin(), ciphertext.end());
    if (m_n == max_nonce) return util::unexpected(NoiseError::nonce_exhausted);
    auto out = aead_decrypt(*m_key, make_nonce(m_n), ad, ciphertext);
    if (!out) return util::unexpected(NoiseError::decrypt_failed);
    ++m_n;
    return std::move(*out);
}

Result<void> CipherState::encrypt_in_place(util::Bytes& buf, std::size_t offset) {
    CONET_ASSERT(m_key.has_value() && offset <= buf.size());
    if (m_n == max_nonce) return util::unexpected(NoiseError::nonce_exhausted);
    const std::size_t len = buf.size() - offset;
    buf.resize(buf.size() + tag_bytes);
    aead_encrypt_to(*m_key, make_nonce(m_n), {}, util::ByteView(buf.data() + offset, len), buf.data() + offset);
    ++m_n;
    return {};
}

Result<std::size_t> CipherState::decrypt_to(util::ByteView in, std::uint8_t* out) {
    CONET_ASSERT(m_key.has_value());
    if (m_n == max_nonce) return util::unexpected(NoiseError::nonce_exhausted);
    if (in.size() < tag_bytes || !aead_decrypt_to(*m_key, make_nonce(m_n), {}, in, out))
        return util::unexpected(NoiseError::decrypt_failed);
    ++m_n;
    return in.size() - tag_bytes;
}

void CipherState::rekey() {
    CONET_ASSERT(m_key.has_value());
    const util::ByteArray<key_bytes> zeros{};
    util::Bytes out = aead_encrypt(*m_key, make_nonce(max_nonce), {}, zeros);
    m_key.emplace(util::ByteView(out).first(key_bytes));
    detail::wipe(out.data(), out.size());
}

}  // namespace conet::crypto::noise
