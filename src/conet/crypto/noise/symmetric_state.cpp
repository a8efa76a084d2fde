#include "conet/crypto/noise/symmetric_state.hpp"

namespace conet::crypto::noise {

namespace {

/// HKDF (spec §4.3) producing two or three HASHLEN outputs.
struct HkdfOut {
    Secret<hash_bytes> o1, o2, o3;
};

HkdfOut hkdf(util::ByteView chaining_key, util::ByteView ikm, int outputs) {
    const Secret<hash_bytes> temp_key = hmac_blake2b(chaining_key, {ikm});
    const std::uint8_t one = 1, two = 2, three = 3;
    HkdfOut out;
    out.o1 = hmac_blake2b(temp_key.view(), {util::ByteView(&one, 1)});
    out.o2 = hmac_blake2b(temp_key.view(), {out.o1.view(), util::ByteView(&two, 1)});
    if (outputs == 3) out.o3 = hmac_blake2b(temp_key.view(), {out.o2.view(), util::ByteView(&three, 1)});
    return out;
}

}  // namespace

SymmetricState::SymmetricState(std::string_view protocol_name) {
    const util::ByteView name = util::as_bytes(protocol_name);
    if (name.size() <= hash_bytes) {
        std::copy(name.begin(), name.end(), m_h.begin());
    } else {
        m_h = blake2b({name});
    }
    m_ck = Secret<hash_bytes>(m_h);
}

void SymmetricState::mix_key(util::ByteView ikm) {
    HkdfOut out = hkdf(m_ck.view(), ikm, 2);
    m_ck = std::move(out.o1);
    m_cipher.initialize_key(out.o2.view().first(key_bytes));
}

void SymmetricState::mix_hash(util::ByteView data) {
    m_h = blake2b({m_h, data});
}

void SymmetricState::mix_key_and_hash(util::ByteView ikm) {
    HkdfOut out = hkdf(m_ck.view(), ikm, 3);
    m_ck = std::move(out.o1);
    mix_hash(out.o2.view());
    m_cipher.initialize_key(out.o3.view().first(key_bytes));
}

Result<util::Bytes> SymmetricState::encrypt_and_hash(util::ByteView plaintext) {
    auto ct = m_cipher.encrypt_with_ad(m_h, plaintext);
    if (ct) mix_hash(*ct);
    return ct;
}

Result<util::Bytes> SymmetricState::decrypt_and_hash(util::ByteView ciphertext) {
    auto pt = m_cipher.decrypt_with_ad(m_h, ciphertext);
    if (pt) mix_hash(ciphertext);
    return pt;
}

std::pair<CipherState, CipherState> SymmetricState::split() const {
    HkdfOut out = hkdf(m_ck.view(), {}, 2);
    return {CipherState(out.o1.view().first(key_bytes)), CipherState(out.o2.view().first(key_bytes))};
}

}  // namespace conet::crypto::noise
