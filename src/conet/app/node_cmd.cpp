// `conet node …`: set up, describe and run a relay.

#include <ctime>
#include <iostream>

#include <boost/json.hpp>

#include "conet/app/cli.hpp"
#include "conet/app/unlock.hpp"
#include "conet/crypto/random.hpp"
#include "conet/node/relay_node.hpp"

namespace conet::app {

namespace {

struct NodeOptions {
    std::string dir;
    std::optional<std::string> password_file;
    std::string wallet_keystore;
    std::string listen = "127.0.0.1:9001";
    std::string advertise;
    std::string region = "ZZ";
    std::vector<std::string> exit_allow;
    std::string directory;
    std::string metrics;
    bool no_exit = false;
    bool allow_private_relays = false;
    std::string genesis;
    bool validator = false;
    std::string rpc;
    std::string ledger_rpc;
    std::uint32_t ledger_refresh_seconds = 60;
    std::vector<std::string> validator_peers;
    std::string validator_listen;
    std::uint32_t block_interval_ms = 1000;
    std::vector<std::string> follow;
};

util::Result<node::NodeConfig, std::string> load(const NodeOptions& o) {
    const auto file = std::filesystem::path(o.dir) / node::config_file_name;
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
        return util::unexpected("no " + file.string() + ": create the node first with `conet node init --dir " + o.dir +
                                " --wallet-keystore FILE …` (see conet node init --help)");
    return node::load_config(file);
}

int cmd_init(const NodeOptions& o) {
    node::NodeConfig c;
    c.wallet_keystore = std::filesystem::absolute(o.wallet_keystore).string();
    auto listen = node::parse_host_port(o.listen);
    if (!listen) return fail("--listen: " + listen.error(), exit_usage);
    c.listen = *listen;
    if (!o.advertise.empty()) {
        auto adv = node::parse_host_port(o.advertise);
        if (!adv) return fail("--advertise: " + adv.error(), exit_usage);
        c.advertise = o.advertise;
    }
    if (o.region.size() != 2 || !std::isupper(static_cast<unsigned char>(o.region[0])) ||
        !std::isupper(static_cast<unsigned char>(o.region[1])))
        return fail("--region must be two upper-case letters (ISO 3166 alpha-2)", exit_usage);
    c.region = o.region;
    c.exit = !o.no_exit;
    c.allow_private_relays = o.allow_private_relays;
    for (const auto& a : o.exit_allow) {
        auto cidr = relay::Cidr::parse(a);
        if (!cidr) return fail("--exit-allow " + a + ": " + std::string(relay::describe(cidr.error())), exit_usage);
        c.exit_allow.push_back(*cidr);
    }
    if (!o.directory.empty()) c.directory = std::filesystem::absolute(o.directory).string();
    if (!o.metrics.empty()) {
        auto m = node::parse_host_port(o.metrics);
        if (!m) return fail("--metrics: " + m.error(), exit_usage);
        c.metrics = o.metrics;
    }
    if (o.validator && o.genesis.empty()) return fail("--validator needs --genesis", exit_usage);
    c.validator = o.validator;
    if (!o.validator_peers.empty() && !o.validator) return fail("--validator-peers needs --validator", exit_usage);
    for (const auto& p : o.validator_peers)
        if (auto ep = node::parse_host_port(p); !ep) return fail("--validator-peers: " + ep.error(), exit_usage);
    c.validator_peers = o.validator_peers;
    if (!o.validator_listen.empty() && !o.validator) return fail("--validator-listen needs --validator", exit_usage);
    if (!o.validator_listen.empty())
        if (auto ep = node::parse_host_port(o.validator_listen); !ep)
            return fail("--validator-listen: " + ep.error(), exit_usage);
    c.validator_listen = o.validator_listen;
    if (!o.follow.empty() && o.genesis.empty()) return fail("--follow needs --genesis", exit_usage);
    if (!o.follow.empty() && o.validator) return fail("--follow and --validator exclude each other", exit_usage);
    for (const auto& u : o.follow)
        if (u.rfind("http://", 0) != 0) return fail("--follow must be http:// URLs", exit_usage);
    c.follow = o.follow;
    c.block_interval_ms = o.block_interval_ms;
    if (!o.genesis.empty()) c.genesis = std::filesystem::absolute(o.genesis).string();
    if (!o.rpc.empty()) {
        auto r = node::parse_host_port(o.rpc);
        if (!r) return fail("--rpc: " + r.error(), exit_usage);
        c.rpc = o.rpc;
    }
    if (!o.ledger_rpc.empty() && o.genesis.empty()) return fail("--ledger-rpc needs --genesis", exit_usage);
    if (!o.ledger_rpc.empty() && o.ledger_rpc.rfind("http://", 0) != 0)
        return fail("--ledger-rpc must be an http:// URL", exit_usage);
    c.ledger_rpc = o.ledger_rpc;
    c.ledger_refresh_seconds = o.ledger_refresh_seconds;
    // The operator must be able to open the wallet that will sign the record.
    auto wallet = unlock_keystore(c.wallet_keystore, o.password_file);
    if (!wallet) return fail(wallet.error());
    crypto::SystemRng rng;
    auto made = node::init_node_dir(o.dir, c, rng);
    if (!made) return fail(made.error());
    std::cout << "initialised " << o.dir << " (operator " << wallet->address().to_string() << ")\n";
    return exit_ok;
}

int cmd_record(const NodeOptions& o) {
    auto c = load(o);
    if (!c) return fail(c.error());
    auto key = node::load_noise_key(o.dir);
    if (!key) return fail(key.error());
    auto wallet = unlock_keystore(c->wallet_keystore, o.password_file);
    if (!wallet) return fail(wallet.error());
    const auto record = node::make_record(*c, key->public_key, *wallet, static_cast<std::uint64_t>(std::time(nullptr)));
    print_json(record.to_json());
    return exit_ok;
}

int cmd_run(const NodeOptions& o) {
    auto c = load(o);
    if (!c) return fail(c.error());
    auto key = node::load_noise_key(o.dir);
    if (!key) return fail(key.error());
    std::optional<crypto::PrivateKey> wallet;
    if (c->validator || !c->ledger_rpc.empty()) {
        auto w = unlock_keystore(c->wallet_keystore, o.password_file);
        if (!w) return fail(w.error());
        wallet = std::move(*w);
    }
    return node::run_relay(o.dir, *c, *key, std::move(wallet));
}

}  // namespace

void add_node_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<NodeOptions>();
    NodeOptions& o = *opts;
    CLI::App* node_cmd = app.add_subcommand("node", "Run a relay (entry and exit)");
    node_cmd->require_subcommand(1);
    auto bind = [&exit_code, opts](CLI::App* cmd, int (*run)(const NodeOptions&)) {
        cmd->final_callback([&exit_code, opts, run] { exit_code = run(*opts); });
    };

    auto* init = node_cmd->add_subcommand("init", "Create a relay directory: node.toml and a Noise static key");
    init->add_option("--dir", o.dir, "Relay directory to create")->required();
    init->add_option("--wallet-keystore", o.wallet_keystore, "Operator wallet keystore (signs the node record)")
        ->required();
    init->add_option("--password-file", o.password_file, "File whose first line is the wallet password");
    init->add_option("--listen", o.listen, "HOST:PORT to accept links on")->capture_default_str();
    init->add_option("--advertise", o.advertise, "HOST:PORT published in the record (default: --listen)");
    init->add_option("--region", o.region, "Region code for the record (ISO 3166 alpha-2)")->capture_default_str();
    init->add_option("--exit-allow", o.exit_allow, "CIDR the exit may reach despite the default refusals (repeatable)");
    init->add_flag("--allow-private-relays", o.allow_private_relays,
                   "Extend circuits to relays on loopback/private addresses (devnet and tests on one machine only)");
    init->add_option("--directory", o.directory, "JSON file of signed node records (known relays)");
    init->add_option("--metrics", o.metrics, "HOST:PORT to serve Prometheus metrics on");
    init->add_flag("--no-exit", o.no_exit, "Do not serve as an exit");
    init->add_option("--genesis", o.genesis, "Genesis JSON: with --validator, this node produces blocks");
    init->add_flag("--validator", o.validator, "Run the validator role (block production, needs --genesis)");
    init->add_option("--validator-peers", o.validator_peers,
                     "Consensus HOST:PORT of every genesis validator, in genesis order (this one listens on its own "
                     "entry; omit for a one-validator chain)")
        ->delimiter(',');
    init->add_option("--validator-listen", o.validator_listen,
                     "A validator outside the genesis (it joins by bonding): the consensus HOST:PORT it listens on");
    init->add_option("--block-interval-ms", o.block_interval_ms, "Least milliseconds between blocks (validator)")
        ->check(CLI::Range(10, 3'600'000))
        ->capture_default_str();
    init->add_option("--follow", o.follow,
                     "Validators' JSON-RPC URLs to keep a verified copy of the chain from (a follower; serve it "
                     "with --rpc; needs --genesis)")
        ->delimiter(',');
    init->add_option("--rpc", o.rpc, "HOST:PORT to serve JSON-RPC on");
    init->add_option("--ledger-rpc", o.ledger_rpc,
                     "Validator JSON-RPC URL: register this relay on the ledger and learn relays from it "
                     "(needs --genesis)");
    init->add_option("--ledger-refresh-seconds", o.ledger_refresh_seconds, "Seconds between ledger refreshes")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    bind(init, cmd_init);

    auto* record = node_cmd->add_subcommand("record", "Print this node's NodeRecord (JSON), signed by the operator");
    record->add_option("--dir", o.dir, "Relay directory")->required();
    record->add_option("--password-file", o.password_file, "File whose first line is the wallet password");
    bind(record, cmd_record);

    auto* run = node_cmd->add_subcommand("run", "Run the relay until SIGINT/SIGTERM");
    run->add_option("--dir", o.dir, "Relay directory")->required();
    run->add_option("--password-file", o.password_file,
                    "Wallet password file (needed by the validator role and ledger registration)");
    bind(run, cmd_run);
}

}  // namespace conet::app
