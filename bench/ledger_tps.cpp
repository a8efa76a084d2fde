// Ledger throughput: signed transfers applied per second by the single
// validator (mempool admission + block execution + durable commit), against
// the raw secp256k1 public-key recovery rate measured in the same run.
// Goal: >= 50% of the one-core recover rate.
//
// Usage: build/release/bench/conet_bench_ledger [transfers=20000] [senders=200]
//        build/release/bench/conet_bench_ledger --accounts [accounts=1000000] [transfers=100000] [senders=10000]
//                                               [recover_threads=2]
//
// The second form starts from a store holding `accounts` funded accounts
// (random addresses; `senders` of them have keys) and sends transfers from
// random senders to random accounts among all of them, so each block touches
// accounts spread over the whole state tree. It also times reopening the
// store with that many accounts. With recover_threads=2 (the default) the
// signatures of the next block's transactions are recovered on a second
// thread; recover_threads=1 keeps everything on one thread.

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>

#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"

#include "bench_common.hpp"

using namespace conet;
using Clock = std::chrono::steady_clock;
using bench::recover_rate;
using bench::seconds_since;

namespace {

long max_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

struct Run {
    double seconds = 0;
    std::size_t blocks = 0;
    double admit_s = 0, build_s = 0, commit_s = 0, prune_s = 0;
};

/// Admits up to one block's worth, builds and commits it, until every
/// transaction is in. With `recover_threads` > 1 the signatures of the next
/// block's worth are recovered on another thread while this block is
/// admitted, built and committed (what a validator can do as transactions
/// arrive); admission then only waits for them, if at all, and checks the rest.
Run apply_all(ledger::BlockStore& store, const std::vector<ledger::Transaction>& txs,
              const crypto::PrivateKey& validator, unsigned recover_threads = 1) {
    constexpr std::size_t per_block = 4000;
    using Senders = std::vector<crypto::KeyResult<crypto::Address>>;
    const auto recover_from = [&txs](std::size_t from) {
        Senders out;
        for (std::size_t i = from; i < std::min(from + per_block, txs.size()); ++i) out.push_back(txs[i].sender());
        return out;
    };
    ledger::Mempool pool(ledger::MempoolLimits{txs.size() + 1, 1u << 30, txs.size(), txs.size()});
    Run run;
    const auto t0 = Clock::now();
    std::future<Senders> ahead;
    if (recover_threads > 1) ahead = std::async(std::launch::async, recover_from, 0);
    std::size_t committed = 0, next = 0;
    while (committed < txs.size()) {
        auto t = Clock::now();
        const std::size_t from = next;
        Senders senders;
        if (ahead.valid()) {
            senders = ahead.get();
            if (from + per_block < txs.size()) ahead = std::async(std::launch::async, recover_from, from + per_block);
        }
        for (; next < std::min(from + per_block, txs.size()); ++next) {
            auto r = senders.empty() ? pool.admit(txs[next], store.state())
                                     : pool.admit_recovered(txs[next], senders[next - from], store.state());
            if (!r) {
                std::fprintf(stderr, "admission failed at %zu: %s\n", next, std::string(describe(r.error())).c_str());
                std::exit(1);
            }
        }
        run.admit_s += seconds_since(t);
        t = Clock::now();
        auto [block, state] =
            ledger::build_block(store.state(), store.head(), pool, store.head().time_unix + 1, validator);
        run.build_s += seconds_since(t);
        t = Clock::now();
        if (!store.commit(block, state)) std::exit(1);
        run.commit_s += seconds_since(t);
        t = Clock::now();
        pool.prune(store.state());
        run.prune_s += seconds_since(t);
        committed += block.transactions.size();
        ++run.blocks;
        if (block.transactions.empty()) {
            std::fprintf(stderr, "stalled\n");
            std::exit(1);
        }
    }
    run.seconds = seconds_since(t0);
    return run;
}

int small_state(std::size_t transfers, std::size_t senders) {
    crypto::SeededRng rng(1);
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
    const double recover = recover_rate();
    const Run run = apply_all(**store, txs, validator);
    store->reset();
    std::filesystem::remove_all(dir);
    const double tps = transfers / run.seconds;
    std::printf("ledger: %zu signed transfers from %zu senders in %zu blocks (durable commits)\n", transfers, senders,
                run.blocks);
    std::printf("  secp256k1 recover, one core: %10.0f /s  (best of 3 rounds)\n", recover);
    std::printf("  transfers applied:           %10.0f /s\n", tps);
    std::printf("  ratio: %.2f  (goal >= 0.50)\n", tps / recover);
    return 0;
}

int many_accounts(std::size_t accounts, std::size_t transfers, std::size_t senders, unsigned recover_threads) {
    senders = std::min(senders, accounts);
    crypto::SeededRng rng(2);
    std::mt19937_64 pick(3);
    const auto t_setup = Clock::now();
    ledger::Genesis genesis;
    const auto validator = crypto::PrivateKey::generate(rng);
    genesis.validators = {validator.address()};
    std::vector<crypto::PrivateKey> users;
    std::vector<crypto::Address> all;
    for (std::size_t i = 0; i < senders; ++i) {
        users.push_back(crypto::PrivateKey::generate(rng));
        all.push_back(users.back().address());
    }
    while (all.size() < accounts) {
        crypto::Address a;
        rng.fill(a.bytes);
        all.push_back(a);
    }
    for (const auto& a : all) genesis.balances.emplace_back(a, 1'000'000);
    // Round r holds every sender's transaction with nonce r, senders in random order.
    std::vector<ledger::Transaction> txs;
    std::vector<std::size_t> order(senders);
    for (std::size_t i = 0; i < senders; ++i) order[i] = i;
    for (std::uint64_t round = 0; txs.size() < transfers; ++round) {
        std::shuffle(order.begin(), order.end(), pick);
        for (std::size_t i = 0; i < senders && txs.size() < transfers; ++i) {
            const auto& to = all[pick() % all.size()];
            txs.push_back(ledger::make_transaction(users[order[i]], genesis.chain_id, round, 1,
                                                   ledger::TxKind::transfer, ledger::TransferPayload{to, 1}));
        }
    }
    const auto dir = std::filesystem::temp_directory_path() / ("conet-bench-ledger-" + std::to_string(::getpid()));
    auto store = ledger::BlockStore::open(dir, genesis);
    if (!store) {
        std::fprintf(stderr, "%s\n", store.error().c_str());
        return 1;
    }
    const double setup = seconds_since(t_setup);
    const double recover = recover_rate();
    const Run run = apply_all(**store, txs, validator, recover_threads);
    const auto head = (*store)->head();
    store->reset();
    auto t0 = Clock::now();
    auto reopened = ledger::BlockStore::open(dir, genesis);
    const double reopen = seconds_since(t0);
    if (!reopened || (*reopened)->head().hash() != head.hash()) {
        std::fprintf(stderr, "reopening failed\n");
        return 1;
    }
    reopened->reset();
    std::filesystem::remove_all(dir);
    const double tps = transfers / run.seconds;
    std::printf("ledger: %zu signed transfers among %zu accounts (%zu senders, random recipients) in %zu blocks\n",
                transfers, accounts, senders, run.blocks);
    std::printf("  setup (keys, genesis, signing, store):  %6.1f s\n", setup);
    std::printf("  secp256k1 recover, one core: %10.0f /s  (best of 3 rounds)\n", recover);
    std::printf("  transfers applied:           %10.0f /s  (%.1f s; signatures recovered on %s)\n", tps, run.seconds,
                recover_threads > 1 ? "a second thread, one block ahead" : "the same thread, at admission");
    std::printf("  ratio: %.2f  (goal >= 0.50)\n", tps / recover);
    std::printf("  time in admission %.1f s, block building %.1f s, commit %.1f s, pruning %.1f s\n", run.admit_s,
                run.build_s, run.commit_s, run.prune_s);
    std::printf("  reopening the store: %.2f s; peak RSS %ld MiB\n", reopen, max_rss_mib());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    crypto::initialize();
    if (argc > 1 && std::strcmp(argv[1], "--accounts") == 0) {
        const std::size_t accounts = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1'000'000;
        const std::size_t transfers = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 100'000;
        const std::size_t senders = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 10'000;
        const auto threads = static_cast<unsigned>(argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 2);
        return many_accounts(accounts, transfers, senders, std::max(1u, threads));
    }
    const std::size_t transfers = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
    const std::size_t senders = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200;
    return small_state(transfers, senders);
}
