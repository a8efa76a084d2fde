#pragma once
/// The adversarial study of the incentive protocol (docs/incentives.md,
/// "Adversarial study"): the real ledger (State::apply, end_block, the probe
/// assignment, scoring, rewards and usage claims) over a population of nodes
/// that follow different strategies for many epochs, and what each strategy
/// earns per unit of what it costs. I/O-free and deterministic in its seed.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace conet::sim {

struct StudyOptions {
    std::size_t nodes = 1'000;  ///< at least 200 (every strategy needs its share)
    std::uint64_t epochs = 100;
    std::uint64_t seed = 1;
    std::size_t validators = 20;  ///< the probers
    /// Called after each epoch with (epoch, epochs) for progress output.
    std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct StrategyResult {
    std::string name;
    std::string what;  ///< one line: what the strategy does
    bool honest = false;
    std::size_t nodes = 0;
    double earned = 0;  ///< rewards + usage fees received - usage fees and transaction fees paid (base units)
    double cost = 0;    ///< running the nodes while online + the stake's capital cost (base units)
    double per_cost() const { return cost > 0 ? earned / cost : 0; }
};

struct StudyResult {
    std::vector<StrategyResult> strategies;
    std::uint64_t epochs = 0;
    std::size_t nodes = 0;
    double honest_per_cost = 0;
    /// Dishonest strategies that earn at least as much per unit of cost as honest service.
    std::vector<std::string> violations;
    std::string table() const;  ///< Markdown
};

StudyResult run_incentive_study(const StudyOptions& options);

}  // namespace conet::sim
