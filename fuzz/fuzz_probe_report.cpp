// Probe reports, double-sign evidence, grants and the incentive records
// (docs/incentives.md): arbitrary bytes never crash their decoders and
// accepted input re-encodes to the same bytes (evidence is also checked, which
// must never crash); and reports built from the input (any prober, node, epoch and
// measurements) applied to a small chain and scored at the epoch's end never
// break the ledger's invariants: a refused report changes nothing but the
// fee, scoring mints exactly what the summary says and never more than the
// epoch's emission.

#include <cstdlib>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"

namespace {

using namespace conet;
using namespace conet::ledger;

constexpr std::uint64_t E = 4;

struct World {
    std::vector<crypto::PrivateKey> validators;
    std::vector<crypto::X25519Public> nodes;
    State state{0, {}};
};

World make_world() {
    World w;
    crypto::SeededRng rng(9);
    Genesis g;
    g.chain_id = 3;
    g.params.epoch_blocks = E;
    g.params.incentives.emission_per_epoch = 1'000'000;
    g.params.incentives.emission_halving_epochs = 10;
    g.params.incentives.probers_per_node = 2;
    g.params.incentives.jail_after_failed_epochs = 1;
    std::vector<crypto::PrivateKey> operators;
    for (int i = 0; i < 3; ++i) {
        w.validators.push_back(crypto::PrivateKey::generate(rng));
        g.validators.push_back(w.validators.back().address());
        operators.push_back(crypto::PrivateKey::generate(rng));
        g.balances.emplace_back(w.validators.back().address(), 1'000'000);
        g.balances.emplace_back(operators.back().address(), 1'000'000);
    }
    w.state = *g.state();
    const BlockContext ctx{1, 10, w.validators[0].address(), {}};
    for (int i = 0; i < 3; ++i) {
        NodeRecord r;
        r.noise_key = crypto::X25519KeyPair::generate(rng).public_key;
        r.endpoints = {{"127.0.0.1", static_cast<std::uint16_t>(9000 + i)}};
        r.region = "DE";
        r.expires_at = 1'000'000;
        r.sign(operators[i], g.chain_id);
        w.nodes.push_back(r.noise_key);
        if (!w.state.apply(make_transaction(operators[i], g.chain_id, 0, 1, TxKind::register_node, NodePayload{r}),
                           ctx))
            std::abort();
        if (!w.state.apply(make_transaction(operators[i], g.chain_id, 1, 1, TxKind::stake,
                                            StakePayload{r.noise_key, 1'000u * (i + 1)}),
                           ctx))
            std::abort();
    }
    w.state.end_block(ctx);
    return w;
}

const World& world() {
    static const World w = make_world();
    return w;
}

template <class T>
void round_trips(conet::util::ByteView in) {
    if (auto v = codec::decode<T>(in))
        if (!conet::util::equal(codec::encode(*v), in)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    conet::crypto::initialize();
    (void)world();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const conet::util::ByteView in(data, size);
    round_trips<ProbeReportPayload>(in);
    round_trips<NodeService>(in);
    round_trips<NodeEntry>(in);
    round_trips<EpochInfo>(in);
    round_trips<EpochSummary>(in);
    round_trips<RewardRecord>(in);
    round_trips<IncentiveParams>(in);
    round_trips<SignedVote>(in);
    round_trips<GrantProposal>(in);
    round_trips<GrantVotePayload>(in);
    round_trips<Grant>(in);
    if (auto e = codec::decode<EvidencePayload>(in)) {
        if (!conet::util::equal(codec::encode(*e), in)) std::abort();
        if (auto signer = double_signer(3, *e); signer && e->a.view != e->b.view) std::abort();
    }

    // Structured: byte 0 picks the height in the epoch and whether to report
    // the right epoch; then 10 bytes per report: prober, node, reachable, rtt
    // (u16), throughput (u16 × 64), and three bytes of how the report is split.
    if (size < 1) return 0;
    const World& w = world();
    State s = w.state;
    const std::uint64_t height = 2 + data[0] % (E - 1);  // 2..4: inside epoch 0, up to its last block
    const std::uint64_t epoch = data[0] & 0x80 ? 1 : 0;
    const BlockContext ctx{height, 20, w.validators[0].address(), {}};
    std::uint64_t nonces[3] = {0, 0, 0};
    for (std::size_t at = 1; at + 10 <= size; at += 10) {
        const std::uint8_t* r = data + at;
        const std::size_t prober = r[0] % 3;
        ProbeReportPayload report{epoch, {}};
        const std::size_t entries = 1 + r[7] % 3;
        for (std::size_t e = 0; e < entries; ++e)
            report.entries.push_back({w.nodes[(r[1] + e * r[8]) % w.nodes.size()],
                                      ProbeResult{(r[2] & 1) != 0, static_cast<std::uint32_t>(r[3] << 8 | r[4]),
                                                  static_cast<std::uint32_t>(r[5] << 8 | r[6]) * 64}});
        const Transaction tx =
            make_transaction(w.validators[prober], s.chain_id(), nonces[prober], 1, TxKind::probe_report, report);
        const Amount128 supply = s.total_supply();
        const State before = s;
        auto applied = s.apply(tx, ctx);
        if (!applied) std::abort();  // payable: right chain, nonce and funds
        ++nonces[prober];
        if (s.total_supply() != supply) std::abort();
        // RPC admission (check_probe_report) and application agree.
        const bool admissible = before.check_probe_report(tx, w.validators[prober].address(), ctx.height).has_value();
        if (admissible == applied->reverted.has_value()) std::abort();
        if (applied->reverted) {  // only the fee moved
            for (const auto& [k, n] : s.nodes())
                if (codec::encode(n) != codec::encode(before.nodes().at(k))) std::abort();
        }
    }
    const Amount128 supply = s.total_supply();
    const BlockContext last{E, 30, w.validators[0].address(), {}};
    s.end_block(last);
    const auto& summary = s.epoch_info().last;
    if (!summary || summary->minted > summary->emission) std::abort();
    if (s.total_supply() != supply + summary->minted) std::abort();
    for (const auto& [k, n] : s.nodes())
        if (!n.service.probes.empty() || n.service.reports > 2) std::abort();
    return 0;
}
