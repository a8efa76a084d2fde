#pragma once
/// EIP-191 version 0x45 ("personal_sign"): what wallets sign for humans.
///   digest = keccak256("\x19Ethereum Signed Message:\n" || decimal(len) || message)
/// Signatures are r || s || v with v = 27 + recovery id, as ethers and geth give.

#include "conet/crypto/keys.hpp"

namespace conet::crypto {

Hash256 personal_message_digest(util::ByteView message);

util::ByteArray<65> personal_sign(const PrivateKey& key, util::ByteView message);

/// Recovers the signing address. Accepts v in {0, 1, 27, 28}; refuses high-s.
KeyResult<Address> personal_recover(util::ByteView message, util::ByteView signature65);

}  // namespace conet::crypto
