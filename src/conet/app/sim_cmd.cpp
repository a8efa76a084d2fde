// `conet sim …`: the deterministic consensus simulator (src/conet/sim).

#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "conet/app/cli.hpp"
#include "conet/sim/dataplane.hpp"
#include "conet/sim/incentive_study.hpp"
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
    bool seconds_given = false;
    std::uint32_t minutes = 0;
    bool real_crypto = false;
    bool check_determinism = false;
    bool verbose = false;
    bool trace = false;
    bool ledger = false;
    std::uint64_t epoch_blocks = 0;
    unsigned jobs = 0;
    bool dataplane = false;
    std::uint32_t relays = 5;
    std::uint32_t users = 3;
    std::uint32_t streams = 3;
};

/// One seed's run, as each simulator reports it.
struct SeedOutcome {
    bool passed = false;
    std::string failure, scenario, replay;
    std::uint64_t trace_hash = 0;
    std::string summary;  ///< the line printed for a seed that passed
};

/// Runs `count` seeds from `first` on `jobs` threads; `run(seed)` gives a
/// SeedOutcome. With `check_determinism` each seed runs twice and must give
/// the same trace. Prints failures (every seed with `verbose`) and ends with
/// "N passed, M failed".
template <class Run>
int run_seeds(std::uint64_t first, std::uint64_t count, unsigned jobs, bool verbose, bool check_determinism, Run run) {
    auto one = [&](std::uint64_t seed) {
        SeedOutcome r = run(seed);
        if (r.passed && check_determinism && run(seed).trace_hash != r.trace_hash) {
            r.passed = false;
            r.failure = "not deterministic: the same seed gave two different traces";
        }
        if (r.passed) return std::pair{true, std::move(r.summary)};
        return std::pair{false, "FAIL seed " + std::to_string(seed) + ": " + r.failure + "\n  scenario: " + r.scenario +
                                    "\n  replay:   " + r.replay};
    };
    std::mutex out_mu;
    std::atomic<std::uint64_t> next{0}, passed{0}, failed{0}, done{0};
    auto worker = [&] {
        for (;;) {
            const std::uint64_t i = next++;
            if (i >= count) return;
            const auto [ok, line] = one(first + i);
            std::lock_guard lock(out_mu);
            (ok ? passed : failed)++;
            const std::uint64_t n_done = ++done;
            if (!ok || verbose || count == 1) std::cout << line << "\n";
            if (count > 1 && (n_done % 50 == 0 || n_done == count))
                std::fprintf(stderr, "sim: %llu/%llu seeds, %llu failed\n", static_cast<unsigned long long>(n_done),
                             static_cast<unsigned long long>(count), static_cast<unsigned long long>(failed.load()));
            std::cout.flush();
        }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < std::min<std::uint64_t>(jobs, count); ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    std::cout << passed << " passed, " << failed << " failed\n";
    return failed == 0 ? exit_ok : exit_failure;
}

int run_dataplane_sim(const SimArgs& a) {
    if (a.relays < 3 || a.relays > 64) return fail("--relays must be 3..64", exit_usage);
    if (a.users < 1 || a.users > 64) return fail("--users must be 1..64", exit_usage);
    if (a.streams < 1 || a.streams > 64) return fail("--streams must be 1..64", exit_usage);
    if (a.count == 0) return fail("--count must be at least 1", exit_usage);
    sim::DataplaneOptions base;
    base.relays = a.relays;
    base.users = a.users;
    base.streams = a.streams;
    base.fault_seconds = a.minutes > 0 ? a.minutes * 60 : a.seconds_given ? a.seconds : 5;
    base.trace = a.trace;
    const std::uint64_t first = a.seed_given ? a.seed : a.seed_from;
    const std::uint64_t count = a.seed_given ? 1 : a.count;
    const unsigned jobs = a.jobs ? a.jobs : std::max(1u, std::thread::hardware_concurrency());
    return run_seeds(first, count, jobs, a.verbose, a.check_determinism, [&](std::uint64_t seed) {
        sim::DataplaneOptions o = base;
        o.seed = seed;
        const sim::DataplaneResult r = sim::run_dataplane(o);
        char line[512];
        std::snprintf(
            line, sizeof line,
            "seed %llu ok: %llu circuits built (%llu failed), %llu streams completed, %llu failed with a "
            "reason, %llu bytes verified, %llu SENDMEs (%llu stream-window stalls), %llu cells (%llu resent), "
            "%llu link breaks, %llu relay crashes, %llu hostile circuits destroyed, trace %016llx (%s)",
            static_cast<unsigned long long>(seed), static_cast<unsigned long long>(r.circuits_built),
            static_cast<unsigned long long>(r.circuits_failed), static_cast<unsigned long long>(r.streams_completed),
            static_cast<unsigned long long>(r.streams_failed), static_cast<unsigned long long>(r.bytes_delivered),
            static_cast<unsigned long long>(r.sendmes), static_cast<unsigned long long>(r.stream_window_stalls),
            static_cast<unsigned long long>(r.cells), static_cast<unsigned long long>(r.retransmits),
            static_cast<unsigned long long>(r.link_breaks), static_cast<unsigned long long>(r.relay_crashes),
            static_cast<unsigned long long>(r.hostile_destroyed), static_cast<unsigned long long>(r.trace_hash),
            r.scenario.c_str());
        return SeedOutcome{r.passed, r.failure, r.scenario, sim::dataplane_replay_command(o), r.trace_hash, line};
    });
}

int run_sim(const SimArgs& a) {
    if (a.dataplane) return run_dataplane_sim(a);
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

    return run_seeds(first, count, jobs, a.verbose, a.check_determinism, [&](std::uint64_t seed) {
        sim::SimOptions o = base;
        o.seed = seed;
        const sim::SimResult r = sim::run_simulation(o);
        char line[1024];
        std::snprintf(
            line, sizeof line,
            "seed %llu ok: heights %llu..%llu, %llu views, %llu transactions, %llu messages, %llu crashes, "
            "%llu journal compactions, %llu epochs (%llu re-proposals, %llu epoch ends sent, %llu set "
            "changes, %llu paid with %llu relay and %llu validator rewards, %llu relays jailed and %llu "
            "unjailed, %llu grants paid, %llu usage refusals), %llu double-sign evidence, %llu slashed, trace "
            "%016llx (%s)",
            static_cast<unsigned long long>(seed), static_cast<unsigned long long>(r.min_height),
            static_cast<unsigned long long>(r.max_height), static_cast<unsigned long long>(r.views),
            static_cast<unsigned long long>(r.transactions), static_cast<unsigned long long>(r.messages),
            static_cast<unsigned long long>(r.crashes), static_cast<unsigned long long>(r.journal_compactions),
            static_cast<unsigned long long>(r.epochs), static_cast<unsigned long long>(r.reproposals),
            static_cast<unsigned long long>(r.epoch_ends_sent), static_cast<unsigned long long>(r.set_changes),
            static_cast<unsigned long long>(r.paid_epochs), static_cast<unsigned long long>(r.relays_paid),
            static_cast<unsigned long long>(r.validators_paid), static_cast<unsigned long long>(r.jailings),
            static_cast<unsigned long long>(r.unjailings), static_cast<unsigned long long>(r.grants_paid),
            static_cast<unsigned long long>(r.users_cut_off), static_cast<unsigned long long>(r.evidence_found),
            static_cast<unsigned long long>(r.slashed), static_cast<unsigned long long>(r.trace_hash),
            r.scenario.c_str());
        return SeedOutcome{r.passed, r.failure, r.scenario, sim::replay_command(o), r.trace_hash, line};
    });
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
    sim->add_option("--seconds", args->seconds,
                    "Simulated seconds of faults before healing (default 30; 5 with --dataplane)")
        ->each([args](const std::string&) { args->seconds_given = true; });
    sim->add_option("--minutes", args->minutes, "Simulated minutes of faults (overrides --seconds)");
    sim->add_flag("--real-crypto", args->real_crypto, "Sign with secp256k1 wallet keys (slower)");
    sim->add_flag("--ledger", args->ledger,
                  "Run the ledger (signed transfers on the real State) instead of the model chain");
    sim->add_option("--epoch-blocks", args->epoch_blocks,
                    "End an epoch every N blocks; the set changes over validators + 1 keys, by rotation on the "
                    "model chain and by bond transactions with --ledger (default 0: one set)");
    sim->add_flag("--dataplane", args->dataplane,
                  "Simulate the data plane instead: relays (circuit tables, exit cores), users (circuit cores) and "
                  "destinations with lossy links, link breaks, relay crashes and a hostile user (docs/protocol.md)");
    sim->add_option("--relays", args->relays, "Relays, with --dataplane (default 5)");
    sim->add_option("--users", args->users, "Users, with --dataplane (default 3)");
    sim->add_option("--streams", args->streams, "Most streams per user and round, with --dataplane (default 3)");
    sim->add_flag("--check-determinism", args->check_determinism, "Run each seed twice and compare the traces");
    sim->add_flag("--verbose", args->verbose, "A line for every seed, not only failures");
    sim->add_flag("--trace", args->trace, "Print every message, crash and restart to stderr (use with --seed)");
    sim->add_option("--jobs", args->jobs, "Seeds run in parallel (default: one per core)");
    sim->final_callback([&exit_code, args] { exit_code = run_sim(*args); });

    auto study = std::make_shared<sim::StudyOptions>();
    auto json_out = std::make_shared<bool>(false);
    CLI::App* st = app.add_subcommand(
        "study",
        "The incentive protocol's adversarial study: the real reward code over many nodes and epochs, "
        "what each strategy earns per unit of cost (docs/incentives.md)");
    st->add_option("--nodes", study->nodes, "Nodes (at least 200)")
        ->check(CLI::Range(200, 100'000))
        ->capture_default_str();
    st->add_option("--epochs", study->epochs, "Epochs")->check(CLI::Range(1, 100'000))->capture_default_str();
    st->add_option("--seed", study->seed, "Seed (who is online when, the keys)")->capture_default_str();
    st->add_flag("--json", *json_out, "Print the results as JSON");
    st->final_callback([&exit_code, study, json_out] {
        const auto started = std::chrono::steady_clock::now();
        sim::StudyOptions o = *study;
        o.progress = [started](std::uint64_t e, std::uint64_t total) {
            if (e % 10 == 0 || e == total)
                std::cerr << "study: epoch " << e << "/" << total << " ("
                          << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                              started)
                                 .count()
                          << " s)" << std::endl;
        };
        const sim::StudyResult r = sim::run_incentive_study(o);
        if (*json_out) {
            boost::json::array rows;
            for (const auto& s : r.strategies)
                rows.push_back(boost::json::object{{"strategy", s.name},
                                                   {"what", s.what},
                                                   {"honest", s.honest},
                                                   {"nodes", s.nodes},
                                                   {"earned", s.earned},
                                                   {"cost", s.cost},
                                                   {"per_cost", s.per_cost()}});
            boost::json::array violations;
            for (const auto& v : r.violations) violations.push_back(boost::json::value(v));
            std::cout << boost::json::serialize(boost::json::object{{"nodes", r.nodes},
                                                                    {"epochs", r.epochs},
                                                                    {"honest_per_cost", r.honest_per_cost},
                                                                    {"strategies", std::move(rows)},
                                                                    {"violations", std::move(violations)}})
                      << "\n";
        } else {
            std::cout << "Adversarial study: " << r.nodes << " nodes, " << r.epochs << " epochs, seed " << study->seed
                      << "\n\n"
                      << r.table() << "\n";
            for (const auto& s : r.strategies) std::cout << "- " << s.name << ": " << s.what << "\n";
            if (r.violations.empty())
                std::cout << "\nEvery dishonest strategy earns less per unit of cost than honest service.\n";
            for (const auto& v : r.violations)
                std::cout << "\nVIOLATION: " << v << " earns at least as much per unit of cost as honest service\n";
        }
        exit_code = r.violations.empty() ? exit_ok : exit_failure;
    });
}

}  // namespace conet::app
