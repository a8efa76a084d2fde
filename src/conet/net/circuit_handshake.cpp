#include "conet/net/circuit_handshake.hpp"

namespace conet::net {

namespace noise = crypto::noise;

namespace {
noise::Protocol nk() {
    return *noise::parse_protocol_name("Noise_NK_25519_ChaChaPoly_BLAKE2b");
}
}  // namespace

noise::Result<HopStart> start_circuit_handshake(const crypto::X25519Public& hop_key, util::Rng& rng) {
    auto hs = noise::HandshakeState::create(
        {nk(), noise::Role::initiator, util::to_bytes(circuit_prologue), {}, {}, hop_key, {}, {}});
    if (!hs) return util::unexpected(hs.error());
    auto m1 = hs->write_message({}, rng);
    if (!m1) return util::unexpected(m1.error());
    return HopStart{std::move(*hs), std::move(*m1)};
}

noise::Result<HopResponse> respond_circuit_handshake(const crypto::X25519KeyPair& static_key, util::ByteView message,
                                                     util::Rng& rng) {
    auto hs = noise::HandshakeState::create(
        {nk(), noise::Role::responder, util::to_bytes(circuit_prologue), static_key.clone(), {}, {}, {}, {}});
    if (!hs) return util::unexpected(hs.error());
    if (auto p = hs->read_message(message); !p) return util::unexpected(p.error());
    auto m2 = hs->write_message({}, rng);
    if (!m2) return util::unexpected(m2.error());
    auto t = std::move(*hs).split();
    if (!t) return util::unexpected(t.error());
    return HopResponse{std::move(*t), std::move(*m2)};
}

noise::Result<noise::Transport> finish_circuit_handshake(noise::HandshakeState state, util::ByteView reply) {
    if (auto p = state.read_message(reply); !p) return util::unexpected(p.error());
    return std::move(state).split();
}

}  // namespace conet::net
