// The validator transport's session (net/peer_transport.hpp) from arbitrary
// bytes: what a TCP peer can send before and after authenticating.
//   mode 0: the bytes arrive at a fresh acceptor (handshake, hello, records);
//   mode 1: at a dialer that sent its first handshake message;
//   mode 2: an authenticated pair; the bytes are cut into messages the
//           dialer seals and the acceptor receives in fuzz-chosen pieces:
//           every message arrives, intact and in order.
// Never a crash; an error is sticky.

#include <cstdlib>
#include <memory>

#include "conet/crypto/random.hpp"
#include "conet/net/peer_transport.hpp"

using namespace conet;

namespace {

struct World {
    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::Address> addresses;
    std::shared_ptr<const net::ValidatorIdentity> id(runtime::PeerId self) const {
        return std::make_shared<const net::ValidatorIdentity>(
            net::ValidatorIdentity{7, self, addresses, keys[self].clone()});
    }
};

const World& world() {
    static const World w = [] {
        World x;
        crypto::SeededRng rng(1);
        for (int i = 0; i < 2; ++i) {
            x.keys.push_back(crypto::PrivateKey::generate(rng));
            x.addresses.push_back(x.keys.back().address());
        }
        return x;
    }();
    return w;
}

constexpr std::size_t max_message = 1u << 16;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0] % 3;
    const util::ByteView in(data + 1, size - 1);
    crypto::SeededRng rng(size);
    if (mode == 0 || mode == 1) {
        auto s = mode == 0 ? net::PeerSession::accept(world().id(0), max_message)
                           : net::PeerSession::dial(world().id(0), 1, max_message, rng);
        if (!s) std::abort();
        (void)s->take_output();
        // In pieces whose sizes come from the input itself.
        std::size_t at = 0;
        std::optional<net::PeerError> failed;
        while (at < in.size()) {
            const std::size_t n = std::min<std::size_t>(1 + in[at] % 97, in.size() - at);
            auto r = s->receive(in.subspan(at, n), rng);
            if (failed && r) std::abort();  // an error is sticky
            if (!r) failed = r.error();
            at += n;
        }
        return 0;
    }
    auto d = net::PeerSession::dial(world().id(0), 1, max_message, rng);
    auto a = net::PeerSession::accept(world().id(1), max_message);
    if (!d || !a) std::abort();
    for (int round = 0; round < 4 && !(d->established() && a->established()); ++round) {
        auto to_a = d->take_output();
        auto to_d = a->take_output();
        if (!to_a.empty() && !a->receive(to_a, rng)) std::abort();
        if (!to_d.empty() && !d->receive(to_d, rng)) std::abort();
    }
    if (!d->established() || !a->established()) std::abort();
    // Messages: the input cut at every 0xff byte.
    std::vector<util::Bytes> sent(1);
    for (std::uint8_t b : in) {
        if (b == 0xff)
            sent.emplace_back();
        else
            sent.back().push_back(b);
    }
    util::Bytes wire;
    for (const auto& m : sent)
        if (!d->seal(m, wire)) std::abort();
    std::vector<util::Bytes> got;
    for (std::size_t at = 0, step = 1; at < wire.size(); at += step, step = step * 3 % 1001 + 1) {
        auto r = a->receive(util::ByteView(wire).subspan(at, std::min(step, wire.size() - at)), rng);
        if (!r) std::abort();
        for (auto& m : *r) got.push_back(std::move(m));
    }
    if (got != sent) std::abort();
    return 0;
}
