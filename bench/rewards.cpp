// The reward computation at scale (issue 9): one epoch's distribution over
// N nodes (default 300,000), first as the pure function (ledger/rewards.hpp),
// then as the ledger runs it at an epoch's last block: every node's probe
// reports scored (3 per node), the emission paid to the operators and the
// developer fund, and every changed entry rehashed into the state's Merkle
// tree. Goal: <= 1 s for 300,000 nodes. Usage: conet_bench_rewards [nodes]

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>

#include "conet/ledger/chain.hpp"

#include "bench_common.hpp"

using namespace conet;
using namespace conet::ledger;

namespace {

crypto::Address operator_of(std::size_t i) {
    crypto::Address a;
    for (int b = 0; b < 8; ++b) a.bytes[12 + b] = static_cast<std::uint8_t>(i >> (8 * (7 - b)));
    a.bytes[0] = 0xB0;
    return a;
}

crypto::X25519Public node_of(std::size_t i) {
    crypto::X25519Public k{};
    for (int b = 0; b < 8; ++b) k[24 + b] = static_cast<std::uint8_t>(i >> (8 * (7 - b)));
    k[0] = 0x0A;
    return k;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300'000;
    if (n == 0) {
        std::fprintf(stderr, "usage: conet_bench_rewards [nodes > 0]\n");
        return 2;
    }
    crypto::initialize();
    std::mt19937_64 gen(11);
    const auto pick = [&gen](std::uint64_t below) { return gen() % below; };
    const std::size_t operators = std::max<std::size_t>(1, n / 3);  // three nodes per operator on average
    IncentiveParams ip;
    ip.emission_per_epoch = 1'000'000'000;
    ip.emission_halving_epochs = 1'000;
    ip.saturation_stake = 50'000;

    // 1. The pure function.
    std::vector<NodeRewardInput> inputs;
    inputs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        inputs.push_back(NodeRewardInput{node_of(i), operator_of(pick(operators)), 1'000 + pick(100'000),
                                         tier_multiplier_bps(static_cast<Tier>(pick(5)))});
    std::vector<ValidatorRewardInput> validators;
    for (std::size_t v = 0; v < 100; ++v) validators.push_back({operator_of(operators + v), 1 + pick(500)});
    auto t0 = bench::Clock::now();
    const EpochRewards r = compute_rewards(ip, 0, inputs, validators);
    const double pure_s = bench::seconds_since(t0);
    if (r.minted > r.emission) std::abort();

    // 2. The ledger's epoch end over a state of n nodes with 3 reports each.
    std::vector<crypto::Address> members;
    for (std::size_t v = 0; v < 4; ++v) members.push_back(operator_of(operators + v));
    std::map<crypto::X25519Public, NodeEntry> nodes;
    for (std::size_t i = 0; i < n; ++i) {
        NodeEntry e;
        e.record.operator_address = inputs[i].operator_address;
        e.record.noise_key = inputs[i].node;
        e.record.endpoints = {{"10.0.0.1", 443}};
        e.record.region = "DE";
        e.record.expires_at = 2'000'000'000;
        e.stake = inputs[i].stake;
        e.service.probe_epoch = 0;
        for (std::size_t p = 0; p < 3; ++p)
            e.service.probes.emplace_back(members[p],
                                          ProbeResult{pick(10) > 0, static_cast<std::uint32_t>(5 + pick(900)),
                                                      static_cast<std::uint32_t>(pick(20'000))});
        nodes.emplace(inputs[i].node, std::move(e));
    }
    Params params;
    params.epoch_blocks = 10;
    params.incentives = ip;
    State::Parts parts;
    parts.nodes = std::move(nodes);
    parts.validator_set = ValidatorSet{0, members};
    t0 = bench::Clock::now();
    State state = State::restore(1, params, {}, std::move(parts));
    (void)state.state_root();
    const double setup_s = bench::seconds_since(t0);
    const Amount128 supply = state.total_supply();
    t0 = bench::Clock::now();
    state.end_block(BlockContext{10, 1'000, members[0], {}});
    const crypto::Hash256 root = state.state_root();  // the rehash is part of the work
    const double ledger_s = bench::seconds_since(t0);
    const auto& last = state.epoch_info().last;
    if (!last || state.total_supply() != supply + last->minted) std::abort();
    (void)root;

    std::printf("rewards: %zu nodes of %zu operators (saturation on), 100 validators\n", n, operators);
    std::printf("  pure computation (ledger/rewards.hpp):        %7.3f s  (%zu payees)\n", pure_s, r.paid.size());
    std::printf(
        "  ledger epoch end (score 3 reports per node, pay, rehash the state): %7.3f s  "
        "(%u nodes paid; state built in %.1f s)\n",
        ledger_s, last->nodes_paid, setup_s);
    std::printf("  goal: <= 1 s for 300,000 nodes: %s\n",
                n >= 300'000 ? (ledger_s <= 1.0 ? "met" : "NOT met") : "(run with 300000 nodes to check)");
    return 0;
}
