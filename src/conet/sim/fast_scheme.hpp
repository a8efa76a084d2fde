#pragma once
/// A keyed-hash signature scheme for the simulator and unit tests: a
/// "signature" is keccak256(key || digest). It is unforgeable only in a
/// closed world where the verifier holds every key, which is exactly the
/// simulator; it is ~50x cheaper than secp256k1, so CI can run hundreds of
/// seeds. Production always uses consensus::WalletSigner/WalletVerifier,
/// and `conet sim --real-crypto` runs the simulator with them.

#include "conet/consensus/types.hpp"

namespace conet::sim {

class FastSigner final : public consensus::Signer {
public:
    explicit FastSigner(consensus::Hash256 key) : m_key(key) {}
    consensus::SignatureBytes sign(const consensus::Hash256& digest) const override { return mac(m_key, digest); }
    static consensus::SignatureBytes mac(const consensus::Hash256& key, const consensus::Hash256& digest) {
        crypto::Keccak256 h;
        h.update(key).update(digest);
        const consensus::Hash256 t = h.finish();
        consensus::SignatureBytes s{};
        std::copy(t.begin(), t.end(), s.begin());
        return s;
    }

private:
    consensus::Hash256 m_key;
};

class FastVerifier final : public consensus::Verifier {
public:
    explicit FastVerifier(std::vector<consensus::Hash256> keys) : m_keys(std::move(keys)) {}
    std::uint32_t validators() const override { return static_cast<std::uint32_t>(m_keys.size()); }
    bool verify(consensus::ValidatorIndex signer, const consensus::Hash256& digest,
                const consensus::SignatureBytes& sig) const override {
        return signer < m_keys.size() && FastSigner::mac(m_keys[signer], digest) == sig;
    }

private:
    std::vector<consensus::Hash256> m_keys;
};

}  // namespace conet::sim
