// Usage-claim verification (issue 9): an exit's claims of N users' receipts
// (default 20,000, in claims of UsageClaimPayload::max_receipts), first
// verified as the ledger verifies them (each receipt's digest, its signature
// recovered and compared with its payer, replay and balance checks, the
// payments computed), then applied as a validator applies them in a block
// (prepaid debited, entry, exit and fund credited, the usage records and the
// state tree's paths updated), then with the changed leaves hashed into the
// state root. Printed as receipts per second on one core against the raw
// secp256k1 recover rate measured in the same run. Goal: verification >= 0.8x.
// Usage: conet_bench_claims [receipts]

#include <cstdio>
#include <cstdlib>
#include <string>

#include "conet/ledger/chain.hpp"

#include "bench_common.hpp"

using namespace conet;
using namespace conet::ledger;

int main(int argc, char** argv) {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20'000;
    crypto::initialize();
    crypto::SeededRng rng(21);
    constexpr std::uint64_t chain = 9;
    Params params;
    params.epoch_blocks = 1'000;
    params.incentives.usage_price_per_mib = 1'000;
    State state(chain, params);
    const auto exit_op = crypto::PrivateKey::generate(rng);
    const auto proposer = crypto::PrivateKey::generate(rng);
    const auto exit = crypto::X25519KeyPair::generate(rng).public_key;
    const auto entry = crypto::X25519KeyPair::generate(rng).public_key;
    if (!state.credit(exit_op.address(), 1'000'000)) return 1;
    NodeRecord r;
    r.noise_key = exit;
    r.endpoints = {{"127.0.0.1", 9000}};
    r.region = "DE";
    r.expires_at = 1'000'000;
    r.sign(exit_op, chain);
    const BlockContext ctx{1, 10, proposer.address(), {}};
    if (!state.apply(make_transaction(exit_op, chain, 0, 1, TxKind::register_node, NodePayload{r}), ctx)) return 1;

    std::printf("setting up %zu users with prepaid balances and signing their receipts...\n", n);
    std::vector<ClaimedReceipt> receipts;
    receipts.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto user = crypto::PrivateKey::generate(rng);
        if (!state.credit(user.address(), 10'000'000)) return 1;
        if (!state.apply(make_transaction(user, chain, 0, 1, TxKind::deposit, AmountPayload{5'000'000}), ctx)) return 1;
        const std::uint64_t bytes = (1 + i % 64) << 20;
        const ReceiptFields f{chain, exit, entry, 0, bytes};
        receipts.push_back(ClaimedReceipt{user.address(), entry, bytes, crypto::sign_hash(user, f.digest())});
    }
    std::vector<Transaction> claims;
    for (std::size_t at = 0; at < n; at += UsageClaimPayload::max_receipts) {
        UsageClaimPayload c{exit, 0, {}};
        for (std::size_t i = at; i < std::min(n, at + UsageClaimPayload::max_receipts); ++i)
            c.receipts.push_back(receipts[i]);
        claims.push_back(make_transaction(exit_op, chain, 1 + claims.size(), 1, TxKind::usage_claim, c));
    }

    // Rounds of the reference and of the claims alternate, and each keeps its
    // best: on a shared machine a busy moment must not land on one side only.
    (void)state.state_root();
    std::vector<std::pair<crypto::Hash256, crypto::Signature>> raw;
    for (std::size_t i = 0; i < std::min<std::size_t>(n, 5'000); ++i)
        raw.emplace_back(ReceiptFields{chain, exit, entry, 0, receipts[i].bytes}.digest(), receipts[i].signature);
    double recover = 0, verified = 0, best = 0, best_with_root = 0;
    for (int round = 0; round < 5; ++round) {
        auto t0 = bench::Clock::now();
        for (const auto& [d, sig] : raw)
            if (!crypto::recover(d, sig)) return 1;
        recover = std::max(recover, static_cast<double>(raw.size()) / bench::seconds_since(t0));
        t0 = bench::Clock::now();
        for (const auto& tx : claims)
            if (!state.plan_usage_claim(tx, exit_op.address(), 2)) return 1;
        verified = std::max(verified, static_cast<double>(n) / bench::seconds_since(t0));
        State s = state;
        t0 = bench::Clock::now();
        for (const auto& tx : claims) {
            auto applied = s.apply(tx, BlockContext{2, 20, proposer.address(), {}});
            if (!applied || applied->reverted) {
                std::fprintf(stderr, "a claim failed: %s\n",
                             applied ? std::string(describe(*applied->reverted)).c_str() : "not payable");
                return 1;
            }
        }
        const double applied_s = bench::seconds_since(t0);
        (void)s.state_root();
        best = std::max(best, static_cast<double>(n) / applied_s);
        best_with_root = std::max(best_with_root, static_cast<double>(n) / bench::seconds_since(t0));
    }
    std::printf("usage claims: %zu receipts in %zu claim transactions (%zu per claim)\n", n, claims.size(),
                UsageClaimPayload::max_receipts);
    std::printf("  secp256k1 recover, one core:   %9.0f /s\n", recover);
    std::printf("  receipts verified (the ledger's checks):         %9.0f /s   %.2fx recover rate (goal >= 0.80)\n",
                verified, verified / recover);
    std::printf("  ... and applied (balances, records, tree paths): %9.0f /s   %.2fx recover rate\n", best,
                best / recover);
    std::printf("  ... and the changed leaves hashed into the root: %9.0f /s   %.2fx recover rate\n", best_with_root,
                best_with_root / recover);
    return verified / recover >= 0.8 ? 0 : 2;
}
