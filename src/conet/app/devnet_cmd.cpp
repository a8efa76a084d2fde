// `conet devnet`: a whole CONET network on loopback from one command — a
// validator, relays in two regions that register themselves on the ledger, a
// demo web site the relays may exit to, funded wallets, and the proxy, which
// learns the relays from the ledger. Each node is a child process running this
// same binary, with its output in DIR/logs; Ctrl-C stops them all.

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

#include "conet/app/cli.hpp"
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

constexpr std::uint64_t conet_unit = 1'000'000;  // base units per CONET
constexpr std::uint64_t initial_balance = 1'000 * conet_unit;
constexpr auto ready_timeout = std::chrono::seconds(120);

struct DevnetOptions {
    std::string dir;
    std::size_t validators = 1;
    std::size_t relays = 4;
    std::uint16_t proxy_port = 0;
    std::uint16_t rpc_port = 0;
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

struct Child {
    std::string name;
    pid_t pid = -1;
    fs::path out;  ///< stdout (readiness lines)
    fs::path log;  ///< stderr (logs)
    bool exited = false;
    int status = 0;
};

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "stopped";
}

/// Starts `conet ARGS…` with stdout and stderr in files. The child dies with
/// us (PDEATHSIG) and starts with the signals we block unblocked.
util::Result<Child, std::string> spawn(const std::string& name, const std::vector<std::string>& args,
                                       const fs::path& logs) {
    Child c{name, -1, logs / (name + ".out"), logs / (name + ".log")};
    const int out = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = ::open(c.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || err < 0) return util::unexpected("cannot open log files in " + logs.string());
    std::vector<std::string> argv_s{"conet"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return util::unexpected(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    ::close(out);
    ::close(err);
    c.pid = pid;
    return c;
}

bool reap(Child& c) {
    if (c.exited || c.pid <= 0) return c.exited;
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.exited = true;
        c.status = status;
    }
    return c.exited;
}

std::string tail_of(const fs::path& file) {
    auto text = util::read_file(file, 16u << 20);
    if (!text) return {};
    const std::string& t = *text;
    return t.size() > 2000 ? t.substr(t.size() - 2000) : t;
}

/// SIGINT and SIGTERM are blocked once children exist and taken here, so a
/// stop request is noticed between steps (children start with them unblocked).
class StopSignals {
public:
    StopSignals() {
        sigemptyset(&m_set);
        sigaddset(&m_set, SIGINT);
        sigaddset(&m_set, SIGTERM);
        ::sigprocmask(SIG_BLOCK, &m_set, nullptr);
    }
    /// Waits up to `ms` for a stop signal; true once one has arrived.
    bool poll(long ms = 0) {
        if (m_stopped) return true;
        timespec t{ms / 1000, (ms % 1000) * 1'000'000};
        m_stopped = ::sigtimedwait(&m_set, nullptr, &t) > 0;
        return m_stopped;
    }

private:
    sigset_t m_set;
    bool m_stopped = false;
};

/// Waits until the child's stdout has a line matching `pattern`; returns group 1.
util::Result<std::string, std::string> wait_ready(Child& c, const std::regex& pattern, StopSignals& stop) {
    const auto deadline = Clock::now() + ready_timeout;
    while (Clock::now() < deadline && !stop.poll()) {
        if (auto text = util::read_file(c.out, 1u << 20)) {
            std::smatch m;
            if (std::regex_search(*text, m, pattern)) return m.size() > 1 ? m[1].str() : m[0].str();
        }
        if (reap(c))
            return util::unexpected(c.name + " " + describe_status(c.status) + " before it was ready; its log (" +
                                    c.log.string() + ") ends:\n" + tail_of(c.log));
        stop.poll(50);
    }
    if (stop.poll()) return util::unexpected(std::string("interrupted"));
    return util::unexpected(c.name + " not ready within " + std::to_string(ready_timeout.count()) + " s; see " +
                            c.log.string());
}

void stop_all(std::vector<Child>& children) {
    // Proxy and relays first, the validator last.
    for (auto it = children.rbegin(); it != children.rend(); ++it)
        if (!reap(*it)) ::kill(it->pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    for (auto& c : children) {
        while (!reap(c) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!reap(c)) {
            std::cerr << "devnet: " << c.name << " did not stop within 15 s; killing it\n";
            ::kill(c.pid, SIGKILL);
            ::waitpid(c.pid, &c.status, 0);
            c.exited = true;
        }
    }
}

util::Result<void, std::string> make_wallet(const fs::path& file, const std::string& password, util::Rng& rng) {
    if (fs::exists(file)) return {};
    auto key = crypto::PrivateKey::generate(rng);
    auto doc = crypto::encrypt_keystore(key, password, crypto::ScryptParams::light(), rng);
    if (!doc) return util::unexpected(file.string() + ": " + std::string(crypto::describe(doc.error())));
    auto w = util::write_file_atomic(file, util::as_bytes(*doc), 0600, util::Overwrite::no);
    if (!w) return util::unexpected(w.error().message());
    return {};
}

util::Result<crypto::Address, std::string> wallet_address(const fs::path& file, const std::string& password) {
    auto text = util::read_file(file, crypto::keystore_max_bytes);
    if (!text) return util::unexpected(file.string() + ": " + text.error().message());
    auto key = crypto::decrypt_keystore(*text, password);
    if (!key) return util::unexpected(file.string() + ": " + std::string(crypto::describe(key.error())));
    return key->address();
}

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

/// `n` distinct TCP ports on 127.0.0.1 that were free a moment ago (each
/// validator must know every other's consensus port before any starts).
util::Result<std::vector<std::uint16_t>, std::string> free_ports(std::size_t n) {
    boost::asio::io_context io;
    std::vector<boost::asio::ip::tcp::acceptor> held;
    std::vector<std::uint16_t> ports;
    for (std::size_t i = 0; i < n; ++i) {
        boost::system::error_code ec;
        boost::asio::ip::tcp::acceptor a(io);
        a.open(boost::asio::ip::tcp::v4(), ec);
        if (!ec) a.bind({boost::asio::ip::make_address("127.0.0.1"), 0}, ec);
        if (ec) return util::unexpected("cannot find a free port on 127.0.0.1: " + ec.message());
        ports.push_back(a.local_endpoint().port());
        held.push_back(std::move(a));  // held until all are chosen, so they differ
    }
    return ports;
}

/// The genesis validators' keystores: validator.json, then validator1.json, …
fs::path validator_keystore(const fs::path& wallets, std::size_t i) {
    return wallets / (i == 0 ? std::string("validator.json") : "validator" + std::to_string(i) + ".json");
}

/// Writes DIR/<name>/node.toml for this run (ports change between runs); the
/// node's Noise key is made once and kept.
util::Result<void, std::string> write_node_dir(const fs::path& node_dir, const node::NodeConfig& config,
                                               util::Rng& rng) {
    if (!fs::exists(node_dir / node::noise_key_file_name)) {
        std::error_code ec;
        fs::remove(node_dir / node::config_file_name, ec);
        return node::init_node_dir(node_dir, config, rng);
    }
    const std::string text = node::annotated_config(config);
    auto w =
        util::write_file_atomic(node_dir / node::config_file_name, util::as_bytes(text), 0600, util::Overwrite::yes);
    if (!w) return util::unexpected(w.error().message());
    return {};
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

int run_devnet(const DevnetOptions& o) {
    crypto::SystemRng rng;
    fs::path dir;
    if (o.dir.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "conet-devnet-XXXXXX").string();
        if (!::mkdtemp(tmpl.data()))
            return fail(std::string("cannot create a temporary directory: ") + strerror(errno));
        dir = tmpl;
    } else {
        std::error_code ec;
        fs::create_directories(o.dir, ec);
        if (ec) return fail("--dir " + o.dir + ": " + ec.message());
        dir = fs::absolute(o.dir);
    }
    ::chmod(dir.c_str(), 0700);
    const fs::path logs = dir / "logs", wallets = dir / "wallets", state_file = dir / "devnet.json";
    std::error_code ec;
    fs::remove(state_file, ec);
    fs::create_directories(logs, ec);
    fs::create_directories(wallets, ec);
    std::cout << "devnet: directory " << dir.string() << std::endl;

    auto password = devnet_password(dir, rng);
    if (!password) return fail(password.error());
    const fs::path password_file = dir / "password";

    // Wallets: the validators, a user, and one operator per relay.
    std::vector<fs::path> validator_ks;
    for (std::size_t i = 0; i < o.validators; ++i) validator_ks.push_back(validator_keystore(wallets, i));
    const fs::path user_ks = wallets / "user.json";
    std::vector<fs::path> operator_ks;
    for (std::size_t i = 0; i < o.relays; ++i)
        operator_ks.push_back(wallets / ("operator" + std::to_string(i) + ".json"));
    std::vector<fs::path> all_ks{validator_ks};
    all_ks.push_back(user_ks);
    all_ks.insert(all_ks.end(), operator_ks.begin(), operator_ks.end());
    std::vector<crypto::Address> addresses;  // validators, user, operators
    for (const auto& ks : all_ks) {
        if (auto w = make_wallet(ks, *password, rng); !w) return fail(w.error());
        auto a = wallet_address(ks, *password);
        if (!a) return fail(a.error());
        addresses.push_back(*a);
    }
    const crypto::Address& user_address = addresses[o.validators];
    auto operator_address = [&](std::size_t i) { return addresses[o.validators + 1 + i]; };

    // The chain: made once, reused with --dir.
    const fs::path genesis_file = dir / "genesis.json";
    if (!fs::exists(genesis_file)) {
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
        if (!w) return fail(w.error().message());
        std::cout << "devnet: new chain " << g.chain_id << " with " << o.validators << " validator(s) and "
                  << addresses.size() << " funded wallets" << std::endl;
    } else {
        auto text = util::read_file(genesis_file, 16u << 20);
        auto g = text ? ledger::Genesis::from_json(*text)
                      : util::Result<ledger::Genesis, std::string>(util::unexpected(text.error().message()));
        if (!g) return fail(genesis_file.string() + ": " + g.error());
        if (g->validators.size() != o.validators)
            return fail("the chain in " + dir.string() + " has " + std::to_string(g->validators.size()) +
                            " validator(s): run with --validators " + std::to_string(g->validators.size()) +
                            " or use another --dir",
                        exit_usage);
        std::cout << "devnet: reusing the chain in " << genesis_file.string() << std::endl;
    }

    StopSignals stop;
    std::vector<Child> children;
    boost::asio::io_context io(1);  // the demo site
    std::thread site_thread;
    auto stop_everything = [&] {
        stop_all(children);
        io.stop();
        if (site_thread.joinable()) site_thread.join();
    };
    auto abort_with = [&](const std::string& why) {
        stop_everything();
        return fail(why);
    };
    const std::string exe_password = password_file.string();

    // The validators (no relay records of their own; each serves JSON-RPC).
    auto consensus_ports = free_ports(o.validators);
    if (!consensus_ports) return fail(consensus_ports.error());
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
        const std::string name = i == 0 ? std::string("validator") : "validator" + std::to_string(i);
        if (auto w = write_node_dir(dir / name, vc, rng); !w) return abort_with(w.error());
        auto v = spawn(name, {"node", "run", "--dir", (dir / name).string(), "--password-file", exe_password}, logs);
        if (!v) return abort_with(v.error());
        children.push_back(std::move(*v));
    }
    std::vector<std::string> rpc_urls;
    for (std::size_t i = 0; i < o.validators; ++i) {
        auto rpc_at = wait_ready(children[i], std::regex("rpc on ([^\\s]+)"), stop);
        if (!rpc_at) return abort_with(rpc_at.error());
        rpc_urls.push_back("http://" + *rpc_at);
    }
    const std::string rpc_url = rpc_urls.front();
    if (o.validators == 1)
        std::cout << "devnet: validator up, JSON-RPC at " << rpc_url << std::endl;
    else
        std::cout << "devnet: " << o.validators << " validators up, JSON-RPC at " << rpc_url << " and "
                  << o.validators - 1 << " more (devnet.json)" << std::endl;

    // The demo site, served from this process.
    node::HttpEndpoint site(io, [](const std::string& path) -> node::HttpReply {
        if (path == "/" || path == "/index.html") return {200, "text/html; charset=utf-8", demo_page()};
        return {404, "text/plain", "not found\n"};
    });
    auto site_at = site.start({boost::asio::ip::make_address("127.0.0.1"), o.demo_port});
    if (!site_at) return abort_with("demo site: " + net::describe(site_at.error()) + " (--demo-port)");
    site_thread = std::thread([&io] {
        auto guard = boost::asio::make_work_guard(io);
        io.run();
    });
    const std::string demo_url = "http://127.0.0.1:" + std::to_string(site_at->port()) + "/";

    // Relays: half in DE, half in US; each registers itself on the ledger.
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
        const std::string name = "relay" + std::to_string(i);
        if (auto w = write_node_dir(dir / name, rc, rng); !w) return abort_with(w.error());
        auto relay =
            spawn(name, {"node", "run", "--dir", (dir / name).string(), "--password-file", exe_password}, logs);
        if (!relay) return abort_with(relay.error());
        children.push_back(std::move(*relay));
    }
    std::vector<std::string> relay_endpoints;  // "host:port", as each relay listens in this run
    for (std::size_t i = o.validators; i < children.size(); ++i) {
        auto r = wait_ready(children[i], std::regex("relay listening on ([^\\s]+)"), stop);
        if (!r) return abort_with(r.error());
        relay_endpoints.push_back(*r);
    }
    // Each relay registers (or, on a reused chain, updates) its record itself.
    std::cout << "devnet: " << o.relays << " relays up; waiting for their records on the ledger" << std::flush;
    const auto deadline = Clock::now() + ready_timeout;
    for (std::size_t seen = 0;;) {
        if (stop.poll()) return abort_with("interrupted");
        for (auto& c : children)
            if (reap(c)) return abort_with(c.name + " " + describe_status(c.status) + "; see " + c.log.string());
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
            return abort_with("relays did not register within " + std::to_string(ready_timeout.count()) + " s; see " +
                              logs.string());
        }
        stop.poll(200);
    }
    std::cout << " registered" << std::endl;
    if (auto staked = stake_relays(rpc_url, operator_ks, *password, relay_endpoints, stop); !staked)
        return abort_with(staked.error());

    if (o.epoch_blocks > 0 && o.usage_price > 0 && o.prepaid > 0)
        if (auto funded = fund_user(rpc_url, user_ks, *password, o.prepaid, stop); !funded)
            return abort_with(funded.error());

    // The proxy, trusting only what the genesis validator certifies, paying with the user's wallet.
    std::vector<std::string> proxy_args{"proxy",
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
        proxy_args.insert(proxy_args.end(),
                          {"--wallet-keystore", user_ks.string(), "--password-file", password_file.string()});
    auto proxy = spawn("proxy", proxy_args, logs);
    if (!proxy) return abort_with(proxy.error());
    children.push_back(std::move(*proxy));
    auto proxy_at = wait_ready(children.back(), std::regex("proxy listening on ([^\\s]+)"), stop);
    if (!proxy_at) return abort_with(proxy_at.error());
    // Up means a circuit is ready: relays learn each other at their next refresh.
    for (;;) {
        if (stop.poll()) return abort_with("interrupted");
        if (reap(children.back())) return abort_with("the proxy " + describe_status(children.back().status));
        auto status = rpc::get_json("http://" + *proxy_at + "/status");
        if (status && status->is_object() && status->as_object().contains("circuits_built") &&
            status->at("circuits_built").to_number<std::uint64_t>() > 0)
            break;
        if (Clock::now() > deadline)
            return abort_with("the proxy built no circuit within " + std::to_string(ready_timeout.count()) +
                              " s; see " + (logs / "proxy.log").string());
        stop.poll(200);
    }

    json::array ops, vals, urls;
    for (const auto& ks : operator_ks) ops.push_back(json::value(ks.string()));
    for (const auto& ks : validator_ks) vals.push_back(json::value(ks.string()));
    for (const auto& u : rpc_urls) urls.push_back(json::value(u));
    json::object state{{"dir", dir.string()},
                       {"rpc_url", rpc_url},
                       {"rpc_urls", std::move(urls)},
                       {"proxy", *proxy_at},
                       {"demo_url", demo_url},
                       {"status_url", "http://" + *proxy_at + "/status"},
                       {"genesis", genesis_file.string()},
                       {"password_file", password_file.string()},
                       {"wallets", json::object{{"validator", validator_ks.front().string()},
                                                {"validators", std::move(vals)},
                                                {"user", user_ks.string()},
                                                {"operators", std::move(ops)}}},
                       {"logs", logs.string()}};
    const std::string state_text = json::serialize(state) + "\n";
    if (auto w = util::write_file_atomic(state_file, util::as_bytes(state_text), 0644, util::Overwrite::yes); !w)
        return abort_with(w.error().message());

    std::error_code self_ec;
    const std::string self = fs::read_symlink("/proc/self/exe", self_ec).string();
    std::cout << "\nCONET devnet is up: " << o.validators << (o.validators == 1 ? " validator, " : " validators, ")
              << o.relays << " relays (DE and US), a demo site, and the proxy.\n"
              << "Try:\n"
              << "  curl --socks5-hostname " << *proxy_at << " " << demo_url << "\n"
              << "  curl -x http://" << *proxy_at << " " << demo_url << "\n"
              << "  curl http://" << *proxy_at << "/status\n"
              << "  " << self << " query nodes --rpc " << rpc_url << "\n"
              << "  " << self << " query account " << user_address.to_string() << " --rpc " << rpc_url << "\n"
              << "  " << self << " tx transfer --rpc " << rpc_url << " --keystore " << user_ks.string()
              << " --password-file " << password_file.string() << " --to " << operator_address(0).to_string()
              << " --amount 1000000\n"
              << "  " << self << " query epoch --rpc " << rpc_url << "      # each epoch's emission and the fund\n"
              << "  " << self << " query scores --rpc " << rpc_url << "     # the relays' probe scores\n"
              << "  " << self << " query rewards --rpc " << rpc_url << " --address " << operator_address(0).to_string()
              << "\n"
              << "The proxy pays the exits from the user's prepaid balance (see \"wallet\" in /status):\n"
              << "  " << self << " query account " << user_address.to_string() << " --rpc " << rpc_url
              << "   # prepaid falls as exits claim\n"
              << "  " << self << " tx deposit --rpc " << rpc_url << " --keystore " << user_ks.string()
              << " --password-file " << password_file.string() << " --amount 10000000   # top it up\n"
              << "JSON-RPC: " << rpc_url << "   state: " << state_file.string() << "   logs: " << logs.string()
              << "\nPress Ctrl-C to stop." << std::endl;

    int code = exit_ok;
    for (;;) {
        if (stop.poll(200)) break;
        bool died = false;
        for (auto& c : children)
            if (reap(c)) {
                std::cerr << "devnet: " << c.name << " " << describe_status(c.status) << "; its log (" << c.log.string()
                          << ") ends:\n"
                          << tail_of(c.log) << "\n";
                died = true;
            }
        if (died) {
            code = exit_failure;
            break;
        }
    }
    std::cout << "\ndevnet: stopping..." << std::endl;
    stop_everything();
    fs::remove(state_file, ec);
    std::cout << "devnet: stopped (state kept in " << dir.string() << "; `conet devnet --dir " << dir.string()
              << "` resumes the chain)" << std::endl;
    return code;
}

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
    cmd->add_option("--proxy-port", opts->proxy_port, "Proxy port on 127.0.0.1 (0 = a free port)")
        ->capture_default_str();
    cmd->add_option("--rpc-port", opts->rpc_port,
                    "The first validator's JSON-RPC port on 127.0.0.1 (0 = a free port; the others take free ports)")
        ->capture_default_str();
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
    cmd->final_callback([&exit_code, opts] { exit_code = run_devnet(*opts); });

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
