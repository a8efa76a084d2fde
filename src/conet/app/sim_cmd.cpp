// `conet sim …`: the deterministic consensus simulator (src/conet/sim).

#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "conet/app/cli.hpp"
#include "conet/sim/simulation.hpp"

namespace conet::app {

namespace {

struct SimArgs {
    std::uint64_t seed = 0;
    bool seed_given = false;
    std::uint64_t seed_from = 1;
    std::uint64_t count = 1;
    std::uint32_t validators = 4;
    int byzantine = -1;
    std::uint32_t seconds = 30;
    std::uint32_t minutes = 0;
    bool real_crypto = false;
    bool check_determinism = false;
    bool verbose = false;
    bool trace = false;
    bool ledger = false;
    std::uint64_t epoch_blocks = 0;
    unsigned jobs = 0;
};

int run_sim(const SimArgs& a) {
    if (a.validators < 1 || a.validators > 64) return fail("--validators must be 1..64", exit_usage);
    if (a.count == 0) return fail("--count must be at least 1", exit_usage);
    sim::SimOptions base;
    base.validators = a.validators;
    base.byzantine = a.byzantine;
    base.fault_seconds = a.minutes > 0 ? a.minutes * 60 : a.seconds;
    base.real_crypto = a.real_crypto;
    base.trace = a.trace;
    base.ledger = a.ledger;
    base.epoch_blocks = a.epoch_blocks;
    const std::uint64_t first = a.seed_given ? a.seed : a.seed_from;
    const std::uint64_t count = a.seed_given ? 1 : a.count;
    const unsigned jobs = a.jobs ? a.jobs : std::max(1u, std::thread::hardware_concurrency());

    std::mutex out_mu;
    std::atomic<std::uint64_t> next{0}, passed{0}, failed{0}, done{0};
    auto worker = [&] {
        for (;;) {
            const std::uint64_t i = next++;
            if (i >= count) return;
            sim::SimOptions o = base;
            o.seed = first + i;
            sim::SimResult r = sim::run_simulation(o);
            if (r.passed && a.check_determinism) {
                const sim::SimResult again = sim::run_simulation(o);
                if (again.trace_hash != r.trace_hash) {
                    r.passed = false;
                    r.failure = "not deterministic: the same seed gave two different traces";
                }
            }
            std::lock_guard lock(out_mu);
            (r.passed ? passed : failed)++;
            const std::uint64_t n_done = ++done;
            if (!r.passed) {
                std::cout << "FAIL seed " << o.seed << ": " << r.failure << "\n  scenario: " << r.scenario
                          << "\n  replay:   " << sim::replay_command(o) << "\n";
            } else if (a.verbose || count == 1) {
                std::printf(
                    "seed %llu ok: heights %llu..%llu, %llu views, %llu transactions, %llu messages, %llu crashes, "
                    "%llu journal compactions, %llu epochs (%llu re-proposals, %llu epoch ends sent, %llu set "
                    "changes, %llu paid with %llu relay rewards), trace %016llx (%s)\n",
                    static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(r.min_height),
                    static_cast<unsigned long long>(r.max_height), static_cast<unsigned long long>(r.views),
                    static_cast<unsigned long long>(r.transactions), static_cast<unsigned long long>(r.messages),
                    static_cast<unsigned long long>(r.crashes), static_cast<unsigned long long>(r.journal_compactions),
                    static_cast<unsigned long long>(r.epochs), static_cast<unsigned long long>(r.reproposals),
                    static_cast<unsigned long long>(r.epoch_ends_sent), static_cast<unsigned long long>(r.set_changes),
                    static_cast<unsigned long long>(r.paid_epochs), static_cast<unsigned long long>(r.relays_paid),
                    static_cast<unsigned long long>(r.trace_hash), r.scenario.c_str());
            }
            if (count > 1 && (n_done % 50 == 0 || n_done == count))
                std::fprintf(stderr, "sim: %llu/%llu seeds\n", static_cast<unsigned long long>(n_done),
                             static_cast<unsigned long long>(count));
            std::cout.flush();
        }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < std::min<std::uint64_t>(jobs, count); ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    std::cout << passed << " passed, " << failed << " failed\n";
    return failed == 0 ? exit_ok : exit_failure;
}

}  // namespace

void add_sim_commands(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<SimArgs>();
    CLI::App* sim = app.add_subcommand(
        "sim", "Run the deterministic consensus simulator: n validators, faults and Byzantine peers from a seed");
    sim->add_option("--seed", args->seed, "Run this one seed (prints its trace hash)")
        ->each([args](const std::string&) { args->seed_given = true; });
    sim->add_option("--seed-from", args->seed_from, "First seed of a range (default 1)");
    sim->add_option("--count", args->count, "Number of seeds in the range (default 1)");
    sim->add_option("--validators", args->validators, "Validators (default 4)");
    sim->add_option("--byzantine", args->byzantine, "Byzantine validators, at most f (default: drawn from the seed)");
    sim->add_option("--seconds", args->seconds, "Simulated seconds of faults before healing (default 30)");
    sim->add_option("--minutes", args->minutes, "Simulated minutes of faults (overrides --seconds)");
    sim->add_flag("--real-crypto", args->real_crypto, "Sign with secp256k1 wallet keys (slower)");
    sim->add_flag("--ledger", args->ledger,
                  "Run the ledger (signed transfers on the real State) instead of the model chain");
    sim->add_option("--epoch-blocks", args->epoch_blocks,
                    "End an epoch every N blocks; the set changes over validators + 1 keys, by rotation on the "
                    "model chain and by bond transactions with --ledger (default 0: one set)");
    sim->add_flag("--check-determinism", args->check_determinism, "Run each seed twice and compare the traces");
    sim->add_flag("--verbose", args->verbose, "A line for every seed, not only failures");
    sim->add_flag("--trace", args->trace, "Print every message, crash and restart to stderr (use with --seed)");
    sim->add_option("--jobs", args->jobs, "Seeds run in parallel (default: one per core)");
    sim->final_callback([&exit_code, args] { exit_code = run_sim(*args); });
}

}  // namespace conet::app
