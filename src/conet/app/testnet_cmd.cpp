// `conet testnet`: writes a ready network on loopback (genesis, validators,
// relays, wallets, standby validators) to start by hand; starts nothing.

#include <ctime>
#include <filesystem>
#include <iostream>

#include <boost/json.hpp>

#include "conet/app/cli.hpp"
#include "conet/app/local_network.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/node/relay_node.hpp"
#include "conet/relay/exit_policy.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::app {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

/// A testnet's emission halves this rarely: practically constant.
constexpr std::uint64_t testnet_halving_epochs = 100'000;

struct TestnetOptions {
    std::string dir;
    std::size_t validators = 4;
    std::size_t relays = 4;
    std::uint16_t base_port = 26600;
    std::uint32_t block_interval_ms = 1000;
    std::uint64_t epoch_blocks = 0;
    std::uint64_t validator_slots = 0;
    std::uint64_t min_validator_stake = ledger::base_units_per_conet;
    std::optional<std::uint64_t> validator_stake;                   ///< default: min_validator_stake
    std::size_t standby = 0;                                        ///< validators outside the genesis, ready to bond
    std::uint64_t emission = 1'000 * ledger::base_units_per_conet;  ///< per epoch, with epochs
};

/// A random password in DIR/password (0600), for a node's own wallet.
util::Result<void, std::string> write_password(const fs::path& node_dir, util::Rng& rng) {
    util::ByteArray<16> raw{};
    rng.fill(raw);
    const std::string pw = util::to_hex(raw) + "\n";
    auto w = util::write_file_atomic(node_dir / "password", util::as_bytes(pw), 0600, util::Overwrite::no);
    if (!w) return util::unexpected(w.error().message());
    return {};
}

/// `conet testnet`: writes a ready network on loopback — genesis, one
/// directory per validator and relay (node.toml, wallet.json, password) and
/// a funded user wallet — and prints how to start it, in the spirit of
/// `cometbft testnet`. Nothing is started.
int run_testnet(const TestnetOptions& o) {
    const fs::path dir = fs::absolute(o.dir);
    std::error_code ec;
    if (fs::exists(dir) && !fs::is_empty(dir, ec))
        return fail(dir.string() + " exists and is not empty: choose a new --dir", exit_usage);
    // Validators (genesis, then standby) i < 64: consensus base+i, RPC base+100+i, metrics base+300+i;
    // relays j < 64: base+200+j.
    const std::size_t all_validators = o.validators + o.standby;
    if (all_validators > 64) return fail("--validators plus --standby is at most 64", exit_usage);
    const std::size_t last_port = o.base_port + 300 + all_validators - 1;
    if (last_port > 65535)
        return fail("--base-port too high: the network needs ports up to base + 300 + validators + standby - 1",
                    exit_usage);
    if (o.validator_slots > 0 && o.epoch_blocks == 0)
        return fail("--validator-slots needs --epoch-blocks: the set changes at epoch ends", exit_usage);
    if (o.validator_slots > 0 &&
        o.validator_stake.value_or(o.min_validator_stake) < std::max<std::uint64_t>(o.min_validator_stake, 1))
        return fail("--validator-stake must be at least --min-validator-stake", exit_usage);
    if (o.standby > 0 && o.validator_slots == 0)
        return fail("--standby needs --validator-slots: standby validators join by bonding into a seat", exit_usage);
    fs::create_directories(dir, ec);
    if (ec) return fail("--dir " + dir.string() + ": " + ec.message());
    crypto::SystemRng rng;

    auto make_member = [&](const std::string& name) -> util::Result<crypto::Address, std::string> {
        const fs::path d = dir / name;
        std::error_code e;
        fs::create_directories(d, e);
        if (e) return util::unexpected(d.string() + ": " + e.message());
        if (auto w = write_password(d, rng); !w) return util::unexpected(w.error());
        auto text = util::read_file(d / "password", 1024);
        if (!text) return util::unexpected(text.error().message());
        const std::string pw = text->substr(0, text->find('\n'));
        if (auto w = make_wallet(d / "wallet.json", pw, rng); !w) return util::unexpected(w.error());
        return wallet_address(d / "wallet.json", pw);
    };
    auto name_of = [](const char* kind, std::size_t i) { return std::string(kind) + std::to_string(i); };

    std::vector<crypto::Address> validators, operators;
    for (std::size_t i = 0; i < o.validators; ++i) {
        auto a = make_member(name_of("validator", i));
        if (!a) return fail(a.error());
        validators.push_back(*a);
    }
    for (std::size_t i = 0; i < o.relays; ++i) {
        auto a = make_member(name_of("relay", i));
        if (!a) return fail(a.error());
        operators.push_back(*a);
    }
    std::vector<crypto::Address> standby;
    for (std::size_t i = 0; i < o.standby; ++i) {
        auto a = make_member(name_of("standby", i));
        if (!a) return fail(a.error());
        standby.push_back(*a);
    }
    auto user = make_member("user");
    if (!user) return fail(user.error());

    ledger::Genesis g;
    g.time_unix = static_cast<std::uint64_t>(std::time(nullptr));
    g.params.epoch_blocks = o.epoch_blocks;
    g.params.validator_slots = o.validator_slots;
    g.params.min_validator_stake = o.min_validator_stake;
    if (o.epoch_blocks > 0 && o.emission > 0) {
        g.params.incentives.emission_per_epoch = o.emission;
        g.params.incentives.emission_halving_epochs = testnet_halving_epochs;
    }
    if (o.validator_slots > 0) g.validator_stake = o.validator_stake.value_or(o.min_validator_stake);
    g.validators = validators;
    for (const auto& a : validators) g.balances.emplace_back(a, initial_balance);
    for (const auto& a : standby) g.balances.emplace_back(a, initial_balance);
    for (const auto& a : operators) g.balances.emplace_back(a, initial_balance);
    g.balances.emplace_back(*user, initial_balance);
    const fs::path genesis_file = dir / "genesis.json";
    const std::string gtext = g.to_json();
    if (auto w = util::write_file_atomic(genesis_file, util::as_bytes(gtext), 0644, util::Overwrite::no); !w)
        return fail(w.error().message());

    auto port = [&](std::size_t offset) { return "127.0.0.1:" + std::to_string(o.base_port + offset); };
    std::vector<std::string> peers, rpc_urls, metrics_urls;
    for (std::size_t i = 0; i < o.validators; ++i) {
        peers.push_back(port(i));
        rpc_urls.push_back("http://" + port(100 + i));
        metrics_urls.push_back("http://" + port(300 + i) + "/metrics");
    }
    std::error_code self_ec;
    const std::string self = fs::read_symlink("/proc/self/exe", self_ec).string();
    json::array nodes;
    auto add_node = [&](const std::string& name, const node::NodeConfig& c) -> util::Result<void, std::string> {
        if (auto w = node::init_node_dir(dir / name, c, rng); !w) return w;
        const std::string cmd = self + " node run --dir " + (dir / name).string() + " --password-file " +
                                (dir / name / "password").string();
        nodes.push_back(json::object{{"name", name}, {"command", cmd}});
        return {};
    };
    for (std::size_t i = 0; i < o.validators; ++i) {
        node::NodeConfig c;
        c.wallet_keystore = (dir / name_of("validator", i) / "wallet.json").string();
        c.listen = {"127.0.0.1", 0};  // its relay listener: not advertised (a validator has no node record)
        c.exit = false;
        c.validator = true;
        c.genesis = genesis_file.string();
        c.rpc = port(100 + i);
        c.metrics = port(300 + i);
        c.block_interval_ms = o.block_interval_ms;
        if (o.validators > 1) c.validator_peers = peers;
        if (o.epoch_blocks > 0) {  // the incentive protocol: probe the relays on loopback
            c.probe = true;
            c.allow_private_relays = true;
        }
        if (auto w = add_node(name_of("validator", i), c); !w) return fail(w.error());
    }
    json::array standby_json;
    for (std::size_t k = 0; k < o.standby; ++k) {
        const std::size_t i = o.validators + k;
        node::NodeConfig c;
        c.wallet_keystore = (dir / name_of("standby", k) / "wallet.json").string();
        c.listen = {"127.0.0.1", 0};
        c.exit = false;
        c.validator = true;
        c.genesis = genesis_file.string();
        c.rpc = port(100 + i);
        c.metrics = port(300 + i);
        c.block_interval_ms = o.block_interval_ms;
        c.validator_peers = peers;
        c.validator_listen = port(i);
        c.probe = true;  // standby needs epochs, so the incentive protocol runs
        c.allow_private_relays = true;
        if (auto w = add_node(name_of("standby", k), c); !w) return fail(w.error());
        standby_json.push_back(json::object{{"name", name_of("standby", k)},
                                            {"address", standby[k].to_string()},
                                            {"endpoint", port(i)},
                                            {"rpc_url", "http://" + port(100 + i)},
                                            {"metrics_url", "http://" + port(300 + i) + "/metrics"},
                                            {"wallet", (dir / name_of("standby", k) / "wallet.json").string()},
                                            {"password_file", (dir / name_of("standby", k) / "password").string()}});
    }
    for (std::size_t i = 0; i < o.relays; ++i) {
        node::NodeConfig c;
        c.wallet_keystore = (dir / name_of("relay", i) / "wallet.json").string();
        c.listen = *node::parse_host_port(port(200 + i));
        c.region = i < o.relays / 2 ? "DE" : "US";
        c.allow_private_relays = true;                                // every relay of this network is on loopback
        c.exit_allow.push_back(*relay::Cidr::parse("127.0.0.1/32"));  // the probes' echo and local sites
        c.genesis = genesis_file.string();
        c.ledger_rpc = rpc_urls[i % rpc_urls.size()];
        c.ledger_refresh_seconds = 5;
        if (auto w = add_node(name_of("relay", i), c); !w) return fail(w.error());
    }
    const std::string proxy_cmd = self + " proxy --rpc " + rpc_urls.front() + " --genesis " + genesis_file.string() +
                                  " --listen 127.0.0.1:1080 --allow-private-relays";
    json::array urls, metrics;
    for (const auto& u : rpc_urls) urls.push_back(json::value(u));
    for (const auto& u : metrics_urls) metrics.push_back(json::value(u));
    json::object manifest{{"genesis", genesis_file.string()},
                          {"chain_id", g.chain_id},
                          {"rpc_urls", std::move(urls)},
                          {"metrics_urls", std::move(metrics)},
                          {"nodes", std::move(nodes)},
                          {"standby", std::move(standby_json)},
                          {"proxy", proxy_cmd},
                          {"user_wallet", (dir / "user" / "wallet.json").string()},
                          {"user_password_file", (dir / "user" / "password").string()}};
    const std::string mtext = json::serialize(manifest) + "\n";
    if (auto w = util::write_file_atomic(dir / "testnet.json", util::as_bytes(mtext), 0644, util::Overwrite::no); !w)
        return fail(w.error().message());

    std::cout << "wrote a network of " << o.validators << " validator(s) and " << o.relays << " relays to "
              << dir.string() << " (chain " << g.chain_id << ", ports " << o.base_port << "-" << last_port
              << " on 127.0.0.1)\nStart each node in its own terminal (or with &):\n";
    for (const auto& n : manifest.at("nodes").as_array())
        std::cout << "  " << std::string(n.at("command").as_string()) << "\n";
    if (o.standby > 0)
        std::cout << "standby validators join the set at the next epoch's end once they bond, e.g.:\n  " << self
                  << " tx validator-bond --rpc " << rpc_urls.front() << " --keystore "
                  << (dir / "standby0" / "wallet.json").string() << " --password-file "
                  << (dir / "standby0" / "password").string() << " --amount " << o.min_validator_stake * 2
                  << " --endpoint " << port(o.validators) << "\n";
    std::cout << "then the proxy:\n  " << proxy_cmd << "\nand check the chain:\n  " << self << " query nodes --rpc "
              << rpc_urls.front() << "\n";
    if (o.epoch_blocks > 0)
        std::cout << "  " << self << " query epoch --rpc " << rpc_urls.front() << "\n  " << self
                  << " query scores --rpc " << rpc_urls.front() << "\n  " << self << " query rewards --rpc "
                  << rpc_urls.front() << "\n";
    std::cout << "(testnet.json lists all of this.)" << std::endl;
    return exit_ok;
}

}  // namespace

void add_testnet_command(CLI::App& app, int& exit_code) {
    auto t = std::make_shared<TestnetOptions>();
    auto* tn = app.add_subcommand("testnet",
                                  "Write a ready network on loopback (genesis, validators, relays, wallets) to start "
                                  "by hand; starts nothing");
    tn->add_option("--dir", t->dir, "New directory to write the network to")->required();
    tn->add_option("--validators", t->validators, "Number of validators")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    tn->add_option("--relays", t->relays, "Number of relays (half in DE, half in US)")
        ->check(CLI::Range(0, 64))
        ->capture_default_str();
    tn->add_option("--base-port", t->base_port,
                   "Ports on 127.0.0.1: consensus base+i, JSON-RPC base+100+i, relays base+200+j, validators' "
                   "metrics base+300+i")
        ->check(CLI::Range(1024, 65000))
        ->capture_default_str();
    tn->add_option("--block-interval-ms", t->block_interval_ms, "Least milliseconds between blocks")
        ->check(CLI::Range(10, 3'600'000))
        ->capture_default_str();
    tn->add_option("--epoch-blocks", t->epoch_blocks,
                   "Blocks per consensus epoch (0: one epoch); validator sets change only at epoch ends")
        ->capture_default_str();
    tn->add_option("--validator-slots", t->validator_slots,
                   "Seats in the validator set, filled by the largest bonds at each epoch's end (0: the genesis set "
                   "for ever)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    tn->add_option("--min-validator-stake", t->min_validator_stake, "Least bond (base units) that can take a seat")
        ->capture_default_str();
    tn->add_option("--validator-stake", t->validator_stake,
                   "Bond each genesis validator starts with (default: --min-validator-stake)");
    tn->add_option("--emission", t->emission,
                   "Base units minted per epoch for nodes, validators and the developer fund (with --epoch-blocks; "
                   "0: no rewards)")
        ->capture_default_str();
    tn->add_option("--standby", t->standby,
                   "Validators outside the genesis, funded and configured to join by bonding (needs "
                   "--validator-slots)")
        ->check(CLI::Range(0, 16))
        ->capture_default_str();
    tn->final_callback([&exit_code, t] { exit_code = run_testnet(*t); });
}

}  // namespace conet::app
