// Ledger throughput: signed transfers applied per second by the single
// validator (mempool admission + block execution + durable commit), against
// the raw secp256k1 public-key recovery rate measured in the same run.
// Goal: >= 50% of the one-core recover rate.
//
// Usage: build/release/bench/conet_bench_ledger [transfers=20000] [senders=200]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"

using namespace conet;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
    crypto::initialize();
    const std::size_t transfers = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
    const std::size_t senders = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200;
    crypto::SeededRng rng(1);

    // Reference: raw recoveries of distinct signatures.
    const std::size_t n_recover = 5000;
    const auto key = crypto::PrivateKey::generate(rng);
    std::vector<std::pair<crypto::Hash256, crypto::Signature>> sigs;
    for (std::size_t i = 0; i < n_recover; ++i) {
        const auto d = crypto::keccak256(util::to_bytes(std::to_string(i)));
        sigs.emplace_back(d, crypto::sign_hash(key, d));
    }
    auto t0 = Clock::now();
    for (const auto& [d, s] : sigs)
        if (!crypto::recover(d, s)) return 1;
    const double recover_rate = n_recover / seconds_since(t0);

    // The validator pipeline on a real store.
    std::vector<crypto::PrivateKey> users;
    ledger::Genesis genesis;
    const auto validator = crypto::PrivateKey::generate(rng);
    genesis.validators = {validator.address()};
    for (std::size_t i = 0; i < senders; ++i) {
        users.push_back(crypto::PrivateKey::generate(rng));
        genesis.balances.emplace_back(users.back().address(), 1'000'000'000);
    }
    std::vector<ledger::Transaction> txs;
    for (std::size_t i = 0; i < transfers; ++i) {
        const std::size_t u = i % senders;
        txs.push_back(ledger::make_transaction(users[u], genesis.chain_id, i / senders, 1, ledger::TxKind::transfer,
                                               ledger::TransferPayload{users[(u + 1) % senders].address(), 1}));
    }
    const auto dir = std::filesystem::temp_directory_path() / ("conet-bench-ledger-" + std::to_string(::getpid()));
    auto store = ledger::BlockStore::open(dir, genesis);
    if (!store) {
        std::fprintf(stderr, "%s\n", store.error().c_str());
        return 1;
    }
    ledger::Mempool pool(ledger::MempoolLimits{transfers + 1, 1u << 30, transfers, transfers});
    t0 = Clock::now();
    std::size_t committed = 0, blocks = 0, next = 0;
    while (committed < transfers) {
        // Admit up to one block's worth, then build and commit it.
        for (std::size_t k = 0; k < 4000 && next < txs.size(); ++k, ++next)
            if (!pool.admit(txs[next], (*store)->state())) {
                std::fprintf(stderr, "admission failed at %zu\n", next);
                return 1;
            }
        auto [block, state] =
            ledger::build_block((*store)->state(), (*store)->head(), pool, (*store)->head().time_unix + 1, validator);
        if (!(*store)->commit(block, state)) return 1;
        pool.prune((*store)->state());
        committed += block.transactions.size();
        ++blocks;
        if (block.transactions.empty()) {
            std::fprintf(stderr, "stalled\n");
            return 1;
        }
    }
    const double elapsed = seconds_since(t0);
    std::filesystem::remove_all(dir);
    const double tps = transfers / elapsed;
    std::printf("ledger: %zu signed transfers from %zu senders in %zu blocks (durable commits)\n", transfers, senders,
                blocks);
    std::printf("  secp256k1 recover, one core: %10.0f /s\n", recover_rate);
    std::printf("  transfers applied:           %10.0f /s\n", tps);
    std::printf("  ratio: %.2f  (goal >= 0.50)\n", tps / recover_rate);
    return 0;
}
