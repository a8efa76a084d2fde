#pragma once
/// The per-hop handshake of a circuit: Noise NK from the circuit's originator
/// to a relay it knows by static key (I/O-free). The originator stays
/// anonymous; the hop proves it holds the key from the directory.
///   start(hop_key, rng)      -> (state, message 1)     originator
///   respond(static, m1, rng) -> (transport, message 2) relay
///   finish(state, m2)        -> transport              originator

#include "conet/crypto/noise/handshake.hpp"

namespace conet::net {

inline constexpr std::string_view circuit_prologue = "CONET circuit v1";

struct HopResponse {
    crypto::noise::Transport transport;
    util::Bytes reply;
};

struct HopStart {
    crypto::noise::HandshakeState state;
    util::Bytes message;
};

[[nodiscard]] crypto::noise::Result<HopStart> start_circuit_handshake(const crypto::X25519Public& hop_key,
                                                                      util::Rng& rng);
[[nodiscard]] crypto::noise::Result<HopResponse> respond_circuit_handshake(const crypto::X25519KeyPair& static_key,
                                                                           util::ByteView message, util::Rng& rng);
[[nodiscard]] crypto::noise::Result<crypto::noise::Transport> finish_circuit_handshake(
    crypto::noise::HandshakeState state, util::ByteView reply);

}  // namespace conet::net
