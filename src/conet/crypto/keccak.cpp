#include "conet/crypto/keccak.hpp"

#include <cryptopp/keccak.h>

namespace conet::crypto {

struct Keccak256::Impl {
    CryptoPP::Keccak_256 hash;
};

Keccak256::Keccak256() : m_impl(std::make_unique<Impl>()) {}
Keccak256::~Keccak256() = default;

Keccak256& Keccak256::update(util::ByteView data) {
    m_impl->hash.Update(data.data(), data.size());
    return *this;
}

Hash256 Keccak256::finish() {
    Hash256 out{};
    m_impl->hash.Final(out.data());
    return out;
}

Hash256 keccak256(util::ByteView data) {
    CryptoPP::Keccak_256 hash;
    hash.Update(data.data(), data.size());
    Hash256 out{};
    hash.Final(out.data());
    return out;
}

Hash256 keccak256(std::initializer_list<util::ByteView> pieces) {
    CryptoPP::Keccak_256 hash;
    for (const auto& p : pieces) hash.Update(p.data(), p.size());
    Hash256 out{};
    hash.Final(out.data());
    return out;
}

}  // namespace conet::crypto
