#pragma once
/// Keccak-256 as Ethereum uses it (original Keccak padding, not SHA3-256).

#include <memory>

#include "conet/util/bytes.hpp"

namespace conet::crypto {

using Hash256 = util::ByteArray<32>;

Hash256 keccak256(util::ByteView data);

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
