#pragma once
/// Handshake patterns as data (spec §7): pre-message tokens and message token
/// lists. The engine in handshake.hpp interprets any pattern; nothing is
/// hand-coded per pattern.

#include <string>
#include <string_view>
#include <vector>

#include "conet/crypto/noise/error.hpp"

namespace conet::crypto::noise {

enum class Token { e, s, ee, es, se, ss, psk };

struct Pattern {
    std::string name;                          ///< e.g. "XK" or "XKpsk3"
    std::vector<Token> pre_initiator;          ///< "-> ..." before "..."
    std::vector<Token> pre_responder;          ///< "<- ..." before "..."
    std::vector<std::vector<Token>> messages;  ///< message i is sent by the initiator when i is even
    bool one_way = false;                      ///< N, K, X: only the initiator ever sends
    bool has_psk = false;
};

/// The pieces of "Noise_<pattern>_<dh>_<cipher>_<hash>" this engine supports:
/// the 12 fundamental and 3 one-way patterns, pskN modifiers, 25519,
/// ChaChaPoly and BLAKE2b.
struct Protocol {
    std::string name;
    Pattern pattern;
};

[[nodiscard]] Result<Protocol> parse_protocol_name(std::string_view name);

}  // namespace conet::crypto::noise
