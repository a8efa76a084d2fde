// Transactions and their payloads (and the validator bond and set entries): arbitrary bytes never crash a decoder,
// accepted input re-encodes to the same bytes, and recovering the sender of
// any decoded transaction is safe.

#include <cstdlib>

#include "conet/crypto/random.hpp"
#include "conet/ledger/state.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace conet::ledger;
    namespace codec = conet::codec;
    const conet::util::ByteView in(data, size);
    auto same = [&](const conet::util::Bytes& b) {
        if (!conet::util::equal(b, in)) std::abort();
    };
    if (auto tx = codec::decode<Transaction>(in)) {
        same(codec::encode(*tx));
        (void)tx->sender();
    }
    if (auto p = codec::decode<TransferPayload>(in)) same(codec::encode(*p));
    if (auto p = codec::decode<StakePayload>(in)) same(codec::encode(*p));
    if (auto p = codec::decode<NodePayload>(in)) same(codec::encode(*p));
    if (auto p = codec::decode<BondPayload>(in)) same(codec::encode(*p));
    if (auto b = codec::decode<ValidatorBond>(in)) same(codec::encode(*b));
    if (auto s = codec::decode<ValidatorSet>(in)) same(codec::encode(*s));
    return 0;
}
