// Noise responder: feed arbitrary bytes as the initiator's handshake messages
// (and, once a handshake completes — possible only for unauthenticated NN —
// as transport messages). Must never crash or leak; failures are errors.
//
// Input: byte 0 picks the pattern; the rest is a sequence of
// [u16 big-endian length][message] records.

#include <array>
#include <cstdlib>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/crypto/random.hpp"

namespace {
using namespace conet::crypto;
using namespace conet::crypto::noise;

constexpr std::array<const char*, 5> k_patterns = {"NK", "XK", "IK", "NN", "XX"};
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    SeededRng rng(1);
    const std::string name =
        std::string("Noise_") + k_patterns[data[0] % k_patterns.size()] + "_25519_ChaChaPoly_BLAKE2b";
    auto protocol = parse_protocol_name(name);
    if (!protocol) std::abort();
    HandshakeConfig config{
        *protocol, Role::responder, conet::util::to_bytes("fuzz"), X25519KeyPair::generate(rng), {}, {}, {}, {}};
    auto hs = HandshakeState::create(std::move(config));
    if (!hs) std::abort();

    conet::util::ByteView rest(data + 1, size - 1);
    std::optional<Transport> transport;
    while (rest.size() >= 2) {
        const std::size_t len = std::min<std::size_t>((rest[0] << 8) | rest[1], rest.size() - 2);
        const conet::util::ByteView msg = rest.subspan(2, len);
        rest = rest.subspan(2 + len);
        if (transport) {
            (void)transport->decrypt(msg);
            continue;
        }
        if (!hs->read_message(msg)) return 0;
        if (!hs->finished() && hs->my_turn()) {
            // Writing can only fail because the peer sent a low-order ephemeral.
            auto reply = hs->write_message({}, rng);
            if (!reply && reply.error() != NoiseError::weak_public_key) std::abort();
            if (!reply) return 0;
        }
        if (hs->finished()) {
            auto t = std::move(*hs).split();
            if (!t) std::abort();
            transport.emplace(std::move(*t));
        }
    }
    return 0;
}
