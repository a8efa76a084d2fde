// Consensus messages from arbitrary bytes (votes, certificates, proposals,
// sync and block requests): never a crash; what decodes re-encodes
// identically; a Simplex core fed the message stays within its invariants
// (it asserts them) and never accepts a vote or certificate whose signatures
// it did not verify.

#include <cstdlib>

#include "conet/consensus/simplex.hpp"
#include "conet/crypto/random.hpp"
#include "conet/sim/fast_scheme.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::consensus;
    const conet::util::ByteView in(data, size);
    auto msg = Message::decode(in);
    if (!msg) return 0;
    if (!conet::util::equal(msg->encode(), in)) std::abort();

    std::vector<Hash256> keys(4);
    for (std::uint8_t i = 0; i < 4; ++i) keys[i].fill(static_cast<std::uint8_t>(i + 1));
    const conet::sim::FastVerifier verifier(keys);
    const conet::sim::FastSigner signer(keys[0]);
    CoreConfig cfg;
    cfg.chain_id = 1;
    cfg.validators = 4;
    cfg.self = 0;
    Core core(cfg, verifier, &signer, 0, Hash256{});
    (void)core.start(0);
    Actions a;
    switch (msg->type) {
        case MessageType::proposal: a = core.on_proposal(1, 1, msg->proposal->vote); break;
        case MessageType::vote: a = core.on_vote(1, 1, *msg->vote); break;
        case MessageType::certificate: a = core.on_certificate(1, 1, *msg->certificate); break;
        case MessageType::sync_request: a = core.on_sync_request(1, 1, *msg->sync); break;
        default: return 0;
    }
    // Random bytes never carry a valid keyed-hash signature: nothing may be counted or certified.
    if (core.stats().votes_accepted != 0 || !a.finalized.empty() || !a.certified.empty()) std::abort();
    return 0;
}
