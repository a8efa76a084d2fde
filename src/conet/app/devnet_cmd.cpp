// `conet devnet`: a whole CONET network on loopback from one command — a
// validator, relays in two regions that register themselves on the ledger, a
// demo web site the relays may exit to, funded wallets, and the proxy, which
// learns the relays from the ledger. Each node is a child process running this
// same binary, with its output in DIR/logs; Ctrl-C stops them all.

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

#include "conet/app/cli.hpp"
#include "conet/app/local_network.hpp"
#include "conet/app/processes.hpp"
#include "conet/crypto/keystore.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/node/http_endpoint.hpp"
#include "conet/node/relay_node.hpp"
#include "conet/rpc/client.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::app {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

/// The documented ports (README, docs/web.md): the proxy's and the explorer's/JSON-RPC's.
constexpr std::uint16_t default_proxy_port = 1080;
constexpr std::uint16_t default_rpc_port = 8545;

struct DevnetOptions {
    std::string dir;
    std::size_t validators = 1;
    std::size_t relays = 4;
    std::uint16_t proxy_port = default_proxy_port;  ///< taken: a free port instead, unless given
    std::uint16_t rpc_port = default_rpc_port;      ///< the same
    std::uint16_t demo_port = 0;
    std::uint32_t block_interval_ms = 1000;
    /// Blocks per epoch: probes, scores and rewards run per epoch (0: none).
    std::uint64_t epoch_blocks = 20;
    std::uint64_t emission = 1'000 * conet_unit;  ///< minted per epoch for relays, validators and the fund
    /// What the user pays exits per MiB (0: usage is free); with epochs.
    std::uint64_t usage_price = conet_unit / 100;
    /// The user's prepaid balance at start (what its proxy pays from).
    std::uint64_t prepaid = 100 * conet_unit;
};

/// The devnet's free tier: KiB/s per circuit without a wallet's receipts.
constexpr std::uint32_t devnet_free_tier_kbps = 256;

/// What the devnet's operators stake on each relay, so that relays earn.
constexpr std::uint64_t devnet_relay_stake = 100 * conet_unit;
/// The devnet's emission halves this rarely: practically constant.
constexpr std::uint64_t devnet_halving_epochs = 100'000;

/// DIR/password: a random password for the devnet's throwaway wallets.
util::Result<std::string, std::string> devnet_password(const fs::path& dir, util::Rng& rng) {
    const fs::path file = dir / "password";
    if (!fs::exists(file)) {
        util::ByteArray<16> raw{};
        rng.fill(raw);
        const std::string pw = util::to_hex(raw) + "\n";
        auto w = util::write_file_atomic(file, util::as_bytes(pw), 0600, util::Overwrite::no);
        if (!w) return util::unexpected(w.error().message());
    }
    auto text = util::read_file(file, 1024);
    if (!text) return util::unexpected(file.string() + ": " + text.error().message());
    std::string pw = text->substr(0, text->find('\n'));
    if (pw.empty()) return util::unexpected(file.string() + " is empty");
    return pw;
}

/// The genesis validators' keystores: validator.json, then validator1.json, …
fs::path validator_keystore(const fs::path& wallets, std::size_t i) {
    return wallets / (i == 0 ? std::string("validator.json") : "validator" + std::to_string(i) + ".json");
}

std::string demo_page() {
    return "<!doctype html>\n<html><head><title>CONET demo site</title></head><body>\n"
           "<h1>CONET demo site</h1>\n<p>You reached this page through two CONET relays: the entry saw your "
           "address but not this site, the exit saw this site but not your address.</p>\n</body></html>\n";
}

/// Stakes devnet_relay_stake on each relay from its operator's wallet (what
/// an operator does so its relay earns), and waits until the stakes are on the
/// ledger. A relay already staked (a reused chain) is left as it is.
util::Result<void, std::string> stake_relays(const std::string& rpc_url, const std::vector<fs::path>& operator_ks,
                                             const std::string& password,
                                             const std::vector<std::string>& relay_endpoints, StopSignals& stop) {
    auto chain = rpc::call(rpc_url, "conet_chainId", {});
    auto nodes = rpc::call(rpc_url, "conet_listNodes", {json::value(0), json::value(500)});
    if (!chain || !nodes)
        return util::unexpected(std::string("staking the relays: the validator's RPC did not answer"));
    std::vector<std::string> pending;
    for (std::size_t i = 0; i < operator_ks.size() && i < relay_endpoints.size(); ++i) {
        auto text = util::read_file(operator_ks[i], crypto::keystore_max_bytes);
        if (!text) return util::unexpected(operator_ks[i].string() + ": " + text.error().message());
        auto key = crypto::decrypt_keystore(*text, password);
        if (!key) return util::unexpected(operator_ks[i].string() + ": " + std::string(crypto::describe(key.error())));
        std::optional<crypto::X25519Public> node;
        std::uint64_t staked = 0;
        for (const auto& n : nodes->at("nodes").as_array()) {
            const auto& rec = n.at("record").as_object();
            if (rec.at("operator").as_string() != key->address().to_string() ||
                rec.at("endpoints").as_array().at(0).as_string() != relay_endpoints[i])
                continue;
            node = util::from_hex_fixed<32>(rec.at("noise_key").as_string()).value_or(crypto::X25519Public{});
            staked = n.at("stake").to_number<std::uint64_t>();
        }
        if (!node) return util::unexpected("relay" + std::to_string(i) + " is not on the ledger");
        if (staked >= devnet_relay_stake) continue;
        auto account = rpc::call(rpc_url, "conet_getAccount", {json::value(key->address().to_string())});
        if (!account) return util::unexpected("staking relay" + std::to_string(i) + ": " + account.error().message);
        const auto tx = ledger::make_transaction(
            *key, chain->to_number<std::uint64_t>(), account->at("nonce").to_number<std::uint64_t>(), 1,
            ledger::TxKind::stake, ledger::StakePayload{*node, devnet_relay_stake - staked});
        auto sent =
            rpc::call(rpc_url, "conet_sendRawTransaction", {json::value(util::to_hex_prefixed(codec::encode(tx)))});
        if (!sent) return util::unexpected("staking relay" + std::to_string(i) + ": " + sent.error().message);
        pending.emplace_back(sent->as_string());
    }
    if (pending.empty()) return {};
    std::cout << "devnet: staking " << devnet_relay_stake / conet_unit << " CONET on each relay" << std::flush;
    const auto deadline = Clock::now() + ready_timeout;
    while (!pending.empty()) {
        if (stop.poll(200)) return util::unexpected(std::string("interrupted"));
        std::erase_if(pending, [&](const std::string& id) {
            auto st = rpc::call(rpc_url, "conet_getTransaction", {json::value(id)});
            return st && st->at("status") == "committed";
        });
        if (Clock::now() > deadline) return util::unexpected(std::string("the relays' stakes were not committed"));
    }
    std::cout << " done" << std::endl;
    return {};
}

/// Tops the user's prepaid balance up to `amount` (what a user does with
/// `conet tx deposit` before its proxy pays exits) and waits for it.
util::Result<void, std::string> fund_user(const std::string& rpc_url, const fs::path& user_ks,
                                          const std::string& password, std::uint64_t amount, StopSignals& stop) {
    auto text = util::read_file(user_ks, crypto::keystore_max_bytes);
    if (!text) return util::unexpected(user_ks.string() + ": " + text.error().message());
    auto key = crypto::decrypt_keystore(*text, password);
    if (!key) return util::unexpected(user_ks.string() + ": " + std::string(crypto::describe(key.error())));
    auto chain = rpc::call(rpc_url, "conet_chainId", {});
    auto account = rpc::call(rpc_url, "conet_getAccount", {json::value(key->address().to_string())});
    if (!chain || !account)
        return util::unexpected(std::string("funding the user: the validator's RPC did not answer"));
    const auto prepaid = account->at("prepaid").to_number<std::uint64_t>();
    if (prepaid >= amount) return {};
    const auto tx = ledger::make_transaction(*key, chain->to_number<std::uint64_t>(),
                                             account->at("nonce").to_number<std::uint64_t>(), 1,
                                             ledger::TxKind::deposit, ledger::AmountPayload{amount - prepaid});
    auto sent = rpc::call(rpc_url, "conet_sendRawTransaction", {json::value(util::to_hex_prefixed(codec::encode(tx)))});
    if (!sent) return util::unexpected("funding the user: " + sent.error().message);
    std::cout << "devnet: depositing " << (amount - prepaid) / conet_unit << " CONET to the user's prepaid balance"
              << std::flush;
    const auto deadline = Clock::now() + ready_timeout;
    for (;;) {
        if (stop.poll(200)) return util::unexpected(std::string("interrupted"));
        auto st = rpc::call(rpc_url, "conet_getTransaction", {json::value(sent->as_string())});
        if (st && st->at("status") == "committed") break;
        if (Clock::now() > deadline) return util::unexpected(std::string("the user's deposit was not committed"));
    }
    std::cout << " done" << std::endl;
    return {};
}

/// One run of `conet devnet`, step by step; every step either succeeds or
/// says what failed (and the run stops every child it started).
class Devnet {
public:
    explicit Devnet(const DevnetOptions& options) : o(options) {}
    ~Devnet() { stop_everything(); }

    int run() {
        for (auto step : {&Devnet::prepare_dir, &Devnet::make_wallets, &Devnet::make_chain, &Devnet::start_validators,
                          &Devnet::start_site, &Devnet::start_relays, &Devnet::wait_registered, &Devnet::fund,
                          &Devnet::start_proxy, &Devnet::write_state}) {
            if (auto done = (this->*step)(); !done) {
                stop_everything();
                return fail(done.error().text, done.error().code);
            }
        }
        print_help();
        const int code = supervise();
        std::cout << "\ndevnet: stopping..." << std::endl;
        stop_everything();
        std::error_code ec;
        fs::remove(state_file, ec);
        std::cout << "devnet: stopped (state kept in " << dir.string() << "; `conet devnet --dir " << dir.string()
                  << "` resumes the chain)" << std::endl;
        return code;
    }

private:
    struct Failure {
        std::string text;
        int code = exit_failure;
    };
    using Step = util::Result<void, Failure>;
    static util::unexpected<Failure> failed(std::string text, int code = exit_failure) {
        return util::unexpected(Failure{std::move(text), code});
    }

    const DevnetOptions& o;
    crypto::SystemRng rng;
    fs::path dir, logs, wallets, state_file, genesis_file, password_file;
    std::string password;
    std::vector<fs::path> validator_ks, operator_ks;
    fs::path user_ks;
    std::vector<crypto::Address> addresses;  // validators, user, operators
    std::optional<StopSignals> stop;         // blocks SIGINT/SIGTERM once the first child may exist
    std::vector<Child> children;
    boost::asio::io_context io{1};  // the demo site
    std::optional<node::HttpEndpoint> site;
    std::thread site_thread;
    std::string demo_url, rpc_url, proxy_at;
    std::vector<std::string> rpc_urls, relay_endpoints;
    std::vector<std::string> operator_pages;  ///< each relay's operator dashboard URL

    const crypto::Address& user_address() const { return addresses[o.validators]; }
    const crypto::Address& operator_address(std::size_t i) const { return addresses[o.validators + 1 + i]; }

    void stop_everything() {
        stop_all(children);
        io.stop();
        if (site_thread.joinable()) site_thread.join();
    }

    Step prepare_dir() {
        if (o.dir.empty()) {
            std::string tmpl = (fs::temp_directory_path() / "conet-devnet-XXXXXX").string();
            if (!::mkdtemp(tmpl.data()))
                return failed(std::string("cannot create a temporary directory: ") + strerror(errno));
            dir = tmpl;
        } else {
            std::error_code ec;
            fs::create_directories(o.dir, ec);
            if (ec) return failed("--dir " + o.dir + ": " + ec.message());
            dir = fs::absolute(o.dir);
        }
        ::chmod(dir.c_str(), 0700);
        logs = dir / "logs";
        wallets = dir / "wallets";
        state_file = dir / "devnet.json";
        genesis_file = dir / "genesis.json";
        password_file = dir / "password";
        std::error_code ec;
        fs::remove(state_file, ec);
        fs::create_directories(logs, ec);
        fs::create_directories(wallets, ec);
        std::cout << "devnet: directory " << dir.string() << std::endl;
        auto pw = devnet_password(dir, rng);
        if (!pw) return failed(pw.error());
        password = std::move(*pw);
        return {};
    }

    /// The validators, a user, and one operator per relay.
    Step make_wallets() {
        for (std::size_t i = 0; i < o.validators; ++i) validator_ks.push_back(validator_keystore(wallets, i));
        user_ks = wallets / "user.json";
        for (std::size_t i = 0; i < o.relays; ++i)
            operator_ks.push_back(wallets / ("operator" + std::to_string(i) + ".json"));
        std::vector<fs::path> all_ks{validator_ks};
        all_ks.push_back(user_ks);
        all_ks.insert(all_ks.end(), operator_ks.begin(), operator_ks.end());
        for (const auto& ks : all_ks) {
            if (auto w = make_wallet(ks, password, rng); !w) return failed(w.error());
            auto a = wallet_address(ks, password);
            if (!a) return failed(a.error());
            addresses.push_back(*a);
        }
        return {};
    }

    /// The chain: made once, reused with --dir.
    Step make_chain() {
        if (fs::exists(genesis_file)) {
            auto text = util::read_file(genesis_file, 16u << 20);
            auto g = text ? ledger::Genesis::from_json(*text)
                          : util::Result<ledger::Genesis, std::string>(util::unexpected(text.error().message()));
            if (!g) return failed(genesis_file.string() + ": " + g.error());
            if (g->validators.size() != o.validators)
                return failed("the chain in " + dir.string() + " has " + std::to_string(g->validators.size()) +
                                  " validator(s): run with --validators " + std::to_string(g->validators.size()) +
                                  " or use another --dir",
                              exit_usage);
            std::cout << "devnet: reusing the chain in " << genesis_file.string() << std::endl;
            return {};
        }
        ledger::Genesis g;
        g.time_unix = static_cast<std::uint64_t>(std::time(nullptr));
        for (std::size_t i = 0; i < o.validators; ++i) g.validators.push_back(addresses[i]);
        for (const auto& a : addresses) g.balances.emplace_back(a, initial_balance);
        g.params.epoch_blocks = o.epoch_blocks;
        if (o.epoch_blocks > 0 && o.emission > 0) {
            g.params.incentives.emission_per_epoch = o.emission;
            g.params.incentives.emission_halving_epochs = devnet_halving_epochs;
        }
        if (o.epoch_blocks > 0) g.params.incentives.usage_price_per_mib = o.usage_price;
        const std::string text = g.to_json();
        auto w = util::write_file_atomic(genesis_file, util::as_bytes(text), 0644, util::Overwrite::no);
        if (!w) return failed(w.error().message());
        std::cout << "devnet: new chain " << g.chain_id << " with " << o.validators << " validator(s) and "
                  << addresses.size() << " funded wallets" << std::endl;
        return {};
    }

    Step spawn_node(const std::string& name, const node::NodeConfig& config) {
        if (auto w = write_node_dir(dir / name, config, rng); !w) return failed(w.error());
        auto c = spawn(name, {"node", "run", "--dir", (dir / name).string(), "--password-file", password_file.string()},
                       logs);
        if (!c) return failed(c.error());
        children.push_back(std::move(*c));
        return {};
    }

    /// The validators (no relay records of their own; each serves JSON-RPC).
    Step start_validators() {
        stop.emplace();
        auto consensus_ports = free_ports(o.validators);
        if (!consensus_ports) return failed(consensus_ports.error());
        std::vector<std::string> peers;
        if (o.validators > 1)
            for (auto port : *consensus_ports) peers.push_back("127.0.0.1:" + std::to_string(port));
        for (std::size_t i = 0; i < o.validators; ++i) {
            node::NodeConfig vc;
            vc.wallet_keystore = validator_ks[i].string();
            vc.listen = {"127.0.0.1", 0};
            vc.exit = false;
            vc.validator = true;
            vc.genesis = genesis_file.string();
            vc.rpc = "127.0.0.1:" + std::to_string(i == 0 ? o.rpc_port : 0);
            vc.block_interval_ms = o.block_interval_ms;
            vc.validator_peers = peers;
            vc.probe = true;  // measure the relays each epoch (docs/incentives.md)
            vc.allow_private_relays = true;
            if (auto s = spawn_node(i == 0 ? std::string("validator") : "validator" + std::to_string(i), vc); !s)
                return s;
        }
        for (std::size_t i = 0; i < o.validators; ++i) {
            auto rpc_at = wait_ready(children[i], std::regex("rpc on ([^\\s]+)"), *stop);
            if (!rpc_at) return failed(rpc_at.error());
            rpc_urls.push_back("http://" + *rpc_at);
        }
        rpc_url = rpc_urls.front();
        if (o.validators == 1)
            std::cout << "devnet: validator up, JSON-RPC at " << rpc_url << std::endl;
        else
            std::cout << "devnet: " << o.validators << " validators up, JSON-RPC at " << rpc_url << " and "
                      << o.validators - 1 << " more (devnet.json)" << std::endl;
        return {};
    }

    /// The demo site, served from this process.
    Step start_site() {
        site.emplace(io, [](const std::string& path) -> node::HttpReply {
            if (path == "/" || path == "/index.html") return {200, "text/html; charset=utf-8", demo_page()};
            return {404, "text/plain", "not found\n"};
        });
        auto site_at = site->start({boost::asio::ip::make_address("127.0.0.1"), o.demo_port});
        if (!site_at) return failed("demo site: " + net::describe(site_at.error()) + " (--demo-port)");
        site_thread = std::thread([this] {
            auto guard = boost::asio::make_work_guard(io);
            io.run();
        });
        demo_url = "http://127.0.0.1:" + std::to_string(site_at->port()) + "/";
        return {};
    }

    /// Relays: half in DE, half in US; each registers itself on the ledger.
    Step start_relays() {
        for (std::size_t i = 0; i < o.relays; ++i) {
            node::NodeConfig rc;
            rc.wallet_keystore = operator_ks[i].string();
            rc.listen = {"127.0.0.1", 0};
            rc.region = i < o.relays / 2 ? "DE" : "US";
            rc.exit_allow.push_back(*relay::Cidr::parse("127.0.0.1/32"));
            rc.allow_private_relays = true;  // every relay of the devnet is on loopback
            rc.genesis = genesis_file.string();
            rc.ledger_rpc = rpc_urls[i % rpc_urls.size()];  // any validator will do: answers are certified
            rc.ledger_refresh_seconds = 2;
            rc.free_tier_kbps = devnet_free_tier_kbps;
            rc.metrics = "127.0.0.1:0";  // its status port: the operator dashboard, /status, /metrics
            if (auto s = spawn_node("relay" + std::to_string(i), rc); !s) return s;
        }
        for (std::size_t i = o.validators; i < children.size(); ++i) {
            auto r = wait_ready(children[i], std::regex("relay listening on ([^\\s]+)"), *stop);
            if (!r) return failed(r.error());
            relay_endpoints.push_back(*r);  // "host:port", as each relay listens in this run
            auto page = wait_ready(children[i], std::regex("operator dashboard on ([^\\s]+)"), *stop);
            if (!page) return failed(page.error());
            operator_pages.push_back(*page);
        }
        return {};
    }

    /// Each relay registers (or, on a reused chain, updates) its record itself;
    /// then the operators stake on them.
    Step wait_registered() {
        std::cout << "devnet: " << o.relays << " relays up; waiting for their records on the ledger" << std::flush;
        const auto deadline = Clock::now() + ready_timeout;
        for (std::size_t seen = 0;;) {
            if (stop->poll()) return failed("interrupted");
            for (auto& c : children)
                if (reap(c)) return failed(c.name + " " + describe_status(c.status) + "; see " + c.log.string());
            std::size_t current = 0;
            auto r = rpc::call(rpc_url, "conet_listNodes", {json::value(0), json::value(500)});
            if (r && r->is_object())
                if (const auto* nodes = r->as_object().if_contains("nodes"); nodes && nodes->is_array())
                    for (const auto& n : nodes->get_array()) {
                        const auto& rec = n.at("record").as_object();
                        for (std::size_t i = 0; i < o.relays; ++i)
                            if (rec.at("operator").as_string() == operator_address(i).to_string() &&
                                rec.at("endpoints").as_array().at(0).as_string() == relay_endpoints[i])
                                ++current;
                    }
            if (current != seen) std::cout << " " << current << std::flush;
            seen = current;
            if (current >= o.relays) break;
            if (Clock::now() > deadline) {
                std::cout << std::endl;
                return failed("relays did not register within " + std::to_string(ready_timeout.count()) + " s; see " +
                              logs.string());
            }
            stop->poll(200);
        }
        std::cout << " registered" << std::endl;
        if (auto staked = stake_relays(rpc_url, operator_ks, password, relay_endpoints, *stop); !staked)
            return failed(staked.error());
        return {};
    }

    Step fund() {
        if (o.epoch_blocks > 0 && o.usage_price > 0 && o.prepaid > 0)
            if (auto funded = fund_user(rpc_url, user_ks, password, o.prepaid, *stop); !funded)
                return failed(funded.error());
        return {};
    }

    /// The proxy, trusting only what the genesis validator certifies, paying
    /// with the user's wallet. Up means a circuit is ready: relays learn each
    /// other at their next refresh.
    Step start_proxy() {
        std::vector<std::string> args{"proxy",
                                      "--rpc",
                                      rpc_url,
                                      "--genesis",
                                      genesis_file.string(),
                                      "--listen",
                                      "127.0.0.1:" + std::to_string(o.proxy_port),
                                      "--refresh",
                                      "2",
                                      "--allow-private-relays"};
        if (o.epoch_blocks > 0 && o.usage_price > 0)
            args.insert(args.end(), {"--wallet-keystore", user_ks.string(), "--password-file", password_file.string()});
        auto proxy = spawn("proxy", args, logs);
        if (!proxy) return failed(proxy.error());
        children.push_back(std::move(*proxy));
        auto at = wait_ready(children.back(), std::regex("proxy listening on ([^\\s]+)"), *stop);
        if (!at) return failed(at.error());
        proxy_at = *at;
        const auto deadline = Clock::now() + ready_timeout;
        for (;;) {
            if (stop->poll()) return failed("interrupted");
            if (reap(children.back())) return failed("the proxy " + describe_status(children.back().status));
            auto status = rpc::get_json("http://" + proxy_at + "/status");
            if (status && status->is_object() && status->as_object().contains("circuits_built") &&
                status->at("circuits_built").to_number<std::uint64_t>() > 0)
                return {};
            if (Clock::now() > deadline)
                return failed("the proxy built no circuit within " + std::to_string(ready_timeout.count()) +
                              " s; see " + (logs / "proxy.log").string());
            stop->poll(200);
        }
    }

    /// DIR/devnet.json: where everything is, for scripts and tests.
    Step write_state() {
        json::array ops, vals, urls;
        for (const auto& ks : operator_ks) ops.push_back(json::value(ks.string()));
        for (const auto& ks : validator_ks) vals.push_back(json::value(ks.string()));
        for (const auto& u : rpc_urls) urls.push_back(json::value(u));
        json::object state{{"dir", dir.string()},
                           {"rpc_url", rpc_url},
                           {"rpc_urls", std::move(urls)},
                           {"proxy", proxy_at},
                           {"demo_url", demo_url},
                           {"status_url", "http://" + proxy_at + "/status"},
                           {"dashboards", json::object{{"user", "http://" + proxy_at + "/"},
                                                       {"operator", json::value_from(operator_pages)},
                                                       {"explorer", rpc_url + "/"}}},
                           {"genesis", genesis_file.string()},
                           {"password_file", password_file.string()},
                           {"wallets", json::object{{"validator", validator_ks.front().string()},
                                                    {"validators", std::move(vals)},
                                                    {"user", user_ks.string()},
                                                    {"operators", std::move(ops)}}},
                           {"logs", logs.string()}};
        const std::string text = json::serialize(state) + "\n";
        if (auto w = util::write_file_atomic(state_file, util::as_bytes(text), 0644, util::Overwrite::yes); !w)
            return failed(w.error().message());
        return {};
    }

    void print_help() const {
        std::error_code self_ec;
        const std::string self = fs::read_symlink("/proc/self/exe", self_ec).string();
        const std::string user_wallet =
            " --keystore " + user_ks.string() + " --password-file " + password_file.string();
        std::cout << "\nCONET devnet is up: " << o.validators << (o.validators == 1 ? " validator, " : " validators, ")
                  << o.relays << " relays (DE and US), a demo site, and the proxy.\n"
                  << "Dashboards (open them in a browser):\n"
                  << "  you, the user:       http://" << proxy_at << "/\n"
                  << "  operator of relay0:  " << operator_pages.front() << "   (relay1… in " << state_file.string()
                  << ")\n"
                  << "  explorer:            " << rpc_url << "/\n"
                  << "Try:\n"
                  << "  curl --socks5-hostname " << proxy_at << " " << demo_url << "\n"
                  << "  curl -x http://" << proxy_at << " " << demo_url << "\n"
                  << "  curl http://" << proxy_at << "/status\n"
                  << "  " << self << " query nodes --rpc " << rpc_url << "\n"
                  << "  " << self << " query account " << user_address().to_string() << " --rpc " << rpc_url << "\n"
                  << "  " << self << " tx transfer --rpc " << rpc_url << user_wallet << " --to "
                  << operator_address(0).to_string() << " --amount 1000000\n"
                  << "  " << self << " query epoch --rpc " << rpc_url << "      # each epoch's emission and the fund\n"
                  << "  " << self << " query scores --rpc " << rpc_url << "     # the relays' probe scores\n"
                  << "  " << self << " query rewards --rpc " << rpc_url << " --address "
                  << operator_address(0).to_string() << "\n"
                  << "The proxy pays the exits from the user's prepaid balance (see \"wallet\" in /status):\n"
                  << "  " << self << " query account " << user_address().to_string() << " --rpc " << rpc_url
                  << "   # prepaid falls as exits claim\n"
                  << "  " << self << " tx deposit --rpc " << rpc_url << user_wallet
                  << " --amount 10000000   # top it up\n"
                  << "JSON-RPC: " << rpc_url << "   state: " << state_file.string() << "   logs: " << logs.string()
                  << "\nPress Ctrl-C to stop." << std::endl;
    }

    /// Until Ctrl-C, or a child dies (its log's end is shown).
    int supervise() {
        for (;;) {
            if (stop->poll(200)) return exit_ok;
            bool died = false;
            for (auto& c : children)
                if (reap(c)) {
                    std::cerr << "devnet: " << c.name << " " << describe_status(c.status) << "; its log ("
                              << c.log.string() << ") ends:\n"
                              << tail_of(c.log) << "\n";
                    died = true;
                }
            if (died) return exit_failure;
        }
    }
};

int run_devnet(const DevnetOptions& o) {
    return Devnet(o).run();
}

}  // namespace

void add_devnet_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<DevnetOptions>();
    auto* cmd = app.add_subcommand(
        "devnet", "Run a whole local network: a validator, relays, a demo site, funded wallets and the proxy");
    cmd->add_option("--dir", opts->dir,
                    "Directory for the chain, wallets and logs (reused when it exists; default: a new "
                    "temporary directory)");
    cmd->add_option("--validators", opts->validators,
                    "Number of validators running consensus (1 = a one-validator chain; 4 tolerates 1 faulty)")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    cmd->add_option("--relays", opts->relays, "Number of relays (half in DE, half in US)")
        ->check(CLI::Range(4, 32))
        ->capture_default_str();
    auto* proxy_port = cmd->add_option("--proxy-port", opts->proxy_port,
                                       "Proxy port on 127.0.0.1 (default 1080 when free, else a free port; 0 = a "
                                       "free port)");
    auto* rpc_port = cmd->add_option("--rpc-port", opts->rpc_port,
                                     "The first validator's JSON-RPC port on 127.0.0.1 (default 8545 when free, else "
                                     "a free port; 0 = a free port; the others take free ports)");
    cmd->add_option("--demo-port", opts->demo_port, "Demo site port on 127.0.0.1 (0 = a free port)")
        ->capture_default_str();
    cmd->add_option("--block-interval-ms", opts->block_interval_ms, "Milliseconds between blocks")
        ->check(CLI::Range(10, 3'600'000))
        ->capture_default_str();
    cmd->add_option("--epoch-blocks", opts->epoch_blocks,
                    "Blocks per epoch: the validators probe the relays and rewards are paid once per epoch (0: "
                    "no epochs, no rewards; a new chain only)")
        ->capture_default_str();
    cmd->add_option("--emission", opts->emission, "Base units minted per epoch (a new chain only)")
        ->capture_default_str();
    cmd->add_option("--usage-price", opts->usage_price,
                    "Base units the user pays exits per MiB (0: free; with epochs; a new chain only)")
        ->capture_default_str();
    cmd->add_option("--prepaid", opts->prepaid,
                    "Base units on the user's prepaid balance at start (its proxy pays from it)")
        ->capture_default_str();
    cmd->final_callback([&exit_code, opts, proxy_port, rpc_port] {
        // The documented ports when free; a port given on the command line is used as given.
        if (!proxy_port->count()) opts->proxy_port = port_if_free(default_proxy_port);
        if (!rpc_port->count()) opts->rpc_port = port_if_free(default_rpc_port);
        exit_code = run_devnet(*opts);
    });
}

}  // namespace conet::app
