// Transaction gossip from another validator (node/tx_gossip.hpp): arbitrary
// bytes never crash the intake, it never admits more than a message claims
// or its budget allows, and a message that does not decode whole admits
// nothing. The first input byte picks the sending validator.

#include <cstdlib>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/node/tx_gossip.hpp"

namespace {

using namespace conet;

struct World {
    std::vector<crypto::PrivateKey> users;
    ledger::State state{0, {}};
};

const World& world() {
    static const World w = [] {
        World out;
        crypto::SeededRng rng(17);
        ledger::Genesis g;
        g.chain_id = 3;
        g.time_unix = 1000;
        g.validators = {crypto::PrivateKey::generate(rng).address()};
        for (int i = 0; i < 4; ++i) {
            out.users.push_back(crypto::PrivateKey::generate(rng));
            g.balances.emplace_back(out.users.back().address(), 1'000'000);
        }
        out.state = *g.state();
        return out;
    }();
    return w;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    crypto::initialize();
    (void)world();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const World& w = world();
    util::Limits limits;
    limits.gossip_txs_per_second_per_validator = 8;
    limits.gossip_txs_burst_per_validator = 16;
    ledger::Mempool pool;
    node::GossipIntake in(limits, 4);
    const util::ByteView message(data + 1, size - 1);
    in.receive(data[0] % 5, message, pool, w.state, 1'000);  // 4 is not a validator index
    const auto& s = in.stats();
    if (s.admitted > limits.gossip_txs_burst_per_validator) std::abort();
    if (pool.size() != s.admitted) std::abort();
    if (s.malformed > 1 || (s.malformed == 1 && s.admitted != 0)) std::abort();
    if (s.admitted + s.rejected + s.over_budget + s.muted > node::max_gossip_txs) std::abort();
    return 0;
}
