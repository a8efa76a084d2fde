#pragma once

#include <string_view>

#include "conet/util/result.hpp"

namespace conet::crypto::noise {

enum class NoiseError {
    unsupported_protocol,  ///< protocol name the engine does not implement
    missing_key,           ///< a key the pattern needs was not configured
    message_too_long,      ///< over the 65535-byte Noise message limit
    message_too_short,     ///< a handshake message ends inside a token
    decrypt_failed,        ///< authentication failed: tampered or wrong keys
    weak_public_key,       ///< the peer sent a low-order X25519 point
    nonce_exhausted,       ///< the CipherState used all 2^64-1 nonces
    wrong_turn,            ///< write/read called out of turn or after the handshake
    not_finished,          ///< split() before the last handshake message
    failed,                ///< the handshake already failed; the state is unusable
};
std::string_view describe(NoiseError e);

template <class T>
using Result = util::Result<T, NoiseError>;

}  // namespace conet::crypto::noise
