// `conet genesis new`: write a genesis file.

#include <algorithm>
#include <ctime>
#include <iostream>
#include <optional>

#include "conet/app/cli.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/util/file.hpp"

namespace conet::app {

namespace {

struct GenesisOptions {
    std::string out;
    std::vector<std::string> validators;
    std::vector<std::string> balances;  ///< ADDRESS=AMOUNT (base units)
    std::uint64_t chain_id = ledger::default_chain_id;
    std::uint64_t epoch_blocks = 0;
    std::uint64_t validator_slots = 0;
    std::uint64_t min_validator_stake = 1;
    std::optional<std::uint64_t> validator_stake;  ///< default: min_validator_stake with slots
};

int cmd_new(const GenesisOptions& o) {
    ledger::Genesis g;
    g.chain_id = o.chain_id;
    g.params.epoch_blocks = o.epoch_blocks;
    g.params.validator_slots = o.validator_slots;
    g.params.min_validator_stake = o.min_validator_stake;
    g.validator_stake = o.validator_stake.value_or(o.validator_slots > 0 ? o.min_validator_stake : 0);
    if (o.validator_slots > 0 && g.validator_stake < std::max<std::uint64_t>(o.min_validator_stake, 1))
        return fail(
            "--validator-stake must be at least --min-validator-stake: unbonded genesis validators would lose "
            "their seats to the first bond",
            exit_usage);
    if (o.validator_slots > 0 && o.epoch_blocks == 0)
        return fail("--validator-slots needs --epoch-blocks: sets change at epoch ends", exit_usage);
    if (o.validator_slots > ledger::max_validators)
        return fail("--validator-slots is at most " + std::to_string(ledger::max_validators), exit_usage);
    g.time_unix = static_cast<std::uint64_t>(std::time(nullptr));
    for (const auto& v : o.validators) {
        auto a = crypto::Address::parse(v);
        if (!a) return fail("--validator " + v + ": " + std::string(describe(a.error())), exit_usage);
        g.validators.push_back(*a);
    }
    for (const auto& b : o.balances) {
        const auto eq = b.find('=');
        auto a = crypto::Address::parse(b.substr(0, eq));
        if (eq == std::string::npos || !a) return fail("--balance must be ADDRESS=AMOUNT: " + b, exit_usage);
        std::uint64_t amount = 0;
        const std::string digits = b.substr(eq + 1);
        if (digits.empty() || digits.size() > 20) return fail("--balance amount: " + b, exit_usage);
        for (char ch : digits) {
            if (ch < '0' || ch > '9' || __builtin_mul_overflow(amount, 10u, &amount) ||
                __builtin_add_overflow(amount, static_cast<unsigned>(ch - '0'), &amount))
                return fail("--balance amount: " + b, exit_usage);
        }
        g.balances.emplace_back(*a, amount);
    }
    if (auto s = g.state(); !s) return fail(s.error(), exit_usage);
    const std::string text = g.to_json();
    auto w = util::write_file_atomic(o.out, util::as_bytes(text), 0644, util::Overwrite::no);
    if (!w) return fail(w.error().message());
    std::cout << "wrote " << o.out << " (chain " << g.chain_id << ", " << g.validators.size() << " validator(s))\n";
    return exit_ok;
}

}  // namespace

void add_genesis_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<GenesisOptions>();
    auto* genesis = app.add_subcommand("genesis", "Create a chain's genesis file");
    genesis->require_subcommand(1);
    auto* cmd = genesis->add_subcommand("new", "Write a new genesis JSON file");
    cmd->add_option("--out", opts->out, "Genesis file to create")->required();
    cmd->add_option("--validator", opts->validators, "Validator address (repeatable)")->required();
    cmd->add_option("--balance", opts->balances, "ADDRESS=AMOUNT in base units, 1 CONET = 10^6 (repeatable)");
    cmd->add_option("--chain-id", opts->chain_id, "Chain id")->capture_default_str();
    cmd->add_option("--epoch-blocks", opts->epoch_blocks,
                    "Blocks per consensus epoch (0: one epoch); validator sets change only at epoch ends")
        ->capture_default_str();
    cmd->add_option("--validator-slots", opts->validator_slots,
                    "Seats in the validator set, taken by the largest bonds at each epoch's end (0: the genesis "
                    "set for ever)")
        ->capture_default_str();
    cmd->add_option("--min-validator-stake", opts->min_validator_stake, "Least bond (base units) that takes a seat")
        ->capture_default_str();
    cmd->add_option("--validator-stake", opts->validator_stake,
                    "Bond each genesis validator starts with (base units, part of the supply; default: "
                    "--min-validator-stake with --validator-slots)");
    cmd->final_callback([&exit_code, opts] { exit_code = cmd_new(*opts); });
}

}  // namespace conet::app
