#include "conet/crypto/eip191.hpp"

#include <string>

namespace conet::crypto {

Hash256 personal_message_digest(util::ByteView message) {
    const std::string prefix =
        "\x19"
        "Ethereum Signed Message:\n" +
        std::to_string(message.size());
    Keccak256 h;
    h.update(util::as_bytes(prefix)).update(message);
    return h.finish();
}

util::ByteArray<65> personal_sign(const PrivateKey& key, util::ByteView message) {
    return sign_hash(key, personal_message_digest(message)).to_bytes(27);
}

KeyResult<Address> personal_recover(util::ByteView message, util::ByteView signature65) {
    auto sig = Signature::from_bytes(signature65);
    if (!sig) return util::unexpected(sig.error());
    auto pk = recover(personal_message_digest(message), *sig);
    if (!pk) return util::unexpected(pk.error());
    return pk->address();
}

}  // namespace conet::crypto
