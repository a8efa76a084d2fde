#pragma once
/// Keccak-256 as Ethereum uses it (original Keccak padding, not SHA3-256).

#include <initializer_list>
#include <memory>

#include "conet/util/bytes.hpp"

namespace conet::crypto {

using Hash256 = util::ByteArray<32>;

Hash256 keccak256(util::ByteView data);
/// Keccak-256 of the pieces one after another, with no allocation (the Merkle
/// tree hashes millions of small nodes this way).
Hash256 keccak256(std::initializer_list<util::ByteView> pieces);

/// Incremental Keccak-256 for hashing several pieces without concatenating.
class Keccak256 {
public:
    Keccak256();
    ~Keccak256();
    Keccak256(const Keccak256&) = delete;
    Keccak256& operator=(const Keccak256&) = delete;
    Keccak256& update(util::ByteView data);
    Hash256 finish();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace conet::crypto
