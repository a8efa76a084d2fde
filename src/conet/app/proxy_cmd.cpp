// `conet proxy`: the user's local SOCKS5/SOCKS4a/HTTP proxy.

#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>
#include <thread>

#include "conet/app/cli.hpp"
#include "conet/crypto/random.hpp"
#include "conet/node/config.hpp"
#include "conet/node/discovery.hpp"
#include "conet/node/ledger_sync.hpp"
#include "conet/proxy/server.hpp"
#include "conet/util/file.hpp"

namespace conet::app {

namespace {

struct ProxyCmdOptions {
    std::string directory;
    std::vector<std::string> rpc;
    std::string genesis;
    std::uint32_t wait_relays = 60;
    std::uint32_t refresh = 60;
    std::uint64_t max_header_age = node::default_max_header_age_s;
    std::string listen = "127.0.0.1:1080";
    std::string exit_region;
    std::size_t hops = 2;
    std::size_t pool = 3;
    std::size_t max_isolated = 64;
    std::uint64_t chain_id = ledger::default_chain_id;
};

std::uint64_t now_unix() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

util::Result<ledger::Directory, std::string> directory_from_file(const ProxyCmdOptions& o) {
    auto text = util::read_file(o.directory, 64u << 20);
    if (!text) return util::unexpected("--directory: " + text.error().message());
    std::vector<std::string> rejected;
    auto records = ledger::parse_directory(*text, o.chain_id, now_unix(), rejected);
    for (const auto& r : rejected) spdlog::warn("[proxy] directory: refused {}", r);
    if (records.empty()) return util::unexpected("no usable relays in " + o.directory);
    return ledger::Directory(std::move(records));
}

/// Asks the RPC until it yields at least an entry and an exit (relays may
/// still be registering when the proxy starts), at most `wait_relays` s.
util::Result<ledger::Directory, std::string> directory_from_ledger(const ProxyCmdOptions& o,
                                                                   const ledger::Genesis& genesis) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.wait_relays);
    std::string last;
    for (;;) {
        std::vector<std::string> refused;
        auto d = node::discover_relays(o.rpc, genesis, now_unix(), refused, o.max_header_age);
        for (const auto& r : refused) spdlog::warn("[proxy] refused node record {}", r);
        std::string why;
        if (!d) {
            why = d.error();
        } else {
            std::size_t entries = 0, exits = 0;
            for (const auto& r : d->records()) {
                entries += r.is_entry();
                exits += r.is_exit();
            }
            if (d->records().size() >= 2 && entries > 0 && exits > 0) return d;
            why = std::to_string(d->records().size()) + " verified relays so far; waiting for an entry and an exit";
        }
        if (why != last) spdlog::warn("[proxy] {}", why);
        last = why;
        if (std::chrono::steady_clock::now() >= deadline)
            return util::unexpected("no usable relays from the ledger within " + std::to_string(o.wait_relays) +
                                    " s: " + last);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

int cmd_proxy(const ProxyCmdOptions& o) {
    std::optional<ledger::Genesis> genesis;
    util::Result<ledger::Directory, std::string> found = util::unexpected(std::string());
    if (!o.directory.empty()) {
        found = directory_from_file(o);
    } else {
        if (o.rpc.empty() || o.genesis.empty())
            return fail("give --directory FILE, or --rpc URL with --genesis FILE", exit_usage);
        auto text = util::read_file(o.genesis, 16u << 20);
        if (!text) return fail("--genesis: " + text.error().message());
        auto g = ledger::Genesis::from_json(*text);
        if (!g) return fail("--genesis: " + g.error());
        genesis = std::move(*g);
        found = directory_from_ledger(o, *genesis);
    }
    if (!found) return fail(found.error());
    ledger::Directory directory = std::move(*found);

    auto listen = node::parse_host_port(o.listen);
    if (!listen) return fail("--listen: " + listen.error(), exit_usage);
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(listen->host, ec);
    if (ec) return fail("--listen must be an IP literal and port", exit_usage);

    boost::asio::io_context io(1);
    crypto::SystemRng rng;
    proxy::ClientOptions co;
    co.hops = o.hops;
    co.exit_region = o.exit_region;
    co.pool_size = o.pool;
    co.max_isolated = o.max_isolated;
    const std::size_t relays = directory.records().size();
    proxy::Client client(io, co, std::move(directory), rng);
    proxy::ProxyOptions po;
    po.listen = {addr, listen->port};
    proxy::ProxyServer server(io, po, client);
    auto bound = server.start();
    if (!bound) return fail(bound.error());
    client.start();
    std::unique_ptr<node::LedgerSync> sync;
    if (genesis) {
        sync =
            std::make_unique<node::LedgerSync>(io, o.rpc, *genesis, o.refresh * 1000, std::nullopt,
                                               [&client](ledger::Directory d) { client.set_directory(std::move(d)); });
        sync->set_max_header_age(o.max_header_age);
        sync->start();
    }

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
        spdlog::info("[proxy] signal {}: shutting down", sig);
        server.stop();
        client.stop();
        io.stop();
    });
    std::cout << "proxy listening on " << bound->address().to_string() << ":" << bound->port() << std::endl;
    spdlog::info("[proxy] {} relays verified; {} hops; PAC at http://{}:{}/pac", relays, o.hops,
                 bound->address().to_string(), bound->port());
    io.run();
    if (sync) sync->stop();
    return exit_ok;
}

}  // namespace

void add_proxy_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<ProxyCmdOptions>();
    auto* cmd = app.add_subcommand("proxy", "Run the local SOCKS5/SOCKS4a/HTTP proxy through two or three relays");
    auto* dir = cmd->add_option("--directory", opts->directory, "JSON file of signed node records");
    auto* rpc = cmd->add_option(
        "--rpc", opts->rpc,
        "Learn relays from this JSON-RPC URL (repeatable: the union of what verifies against --genesis)");
    dir->excludes(rpc);
    cmd->add_option("--genesis", opts->genesis, "Genesis JSON: the validator set that must certify what --rpc says")
        ->needs(rpc);
    cmd->add_option("--wait-relays", opts->wait_relays, "With --rpc: seconds to wait for usable relays at start")
        ->capture_default_str();
    cmd->add_option("--max-header-age", opts->max_header_age,
                    "With --rpc: refuse a head block older than this many seconds (stale or replayed chain)")
        ->check(CLI::Range(1, 86400 * 365))
        ->capture_default_str();
    cmd->add_option("--refresh", opts->refresh, "With --rpc: seconds between relay list refreshes")
        ->check(CLI::Range(1, 86400))
        ->capture_default_str();
    cmd->add_option("--listen", opts->listen, "HOST:PORT to listen on")->capture_default_str();
    cmd->add_option("--exit-region", opts->exit_region, "Only use exits in this region (e.g. DE)");
    cmd->add_option("--hops", opts->hops, "Relays per circuit")->check(CLI::IsMember({2, 3}))->capture_default_str();
    cmd->add_option("--pool", opts->pool, "Prebuilt circuits to keep")->check(CLI::Range(1, 32))->capture_default_str();
    cmd->add_option("--max-isolated", opts->max_isolated,
                    "Circuits kept for distinct SOCKS credentials (idle ones are retired first)")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    cmd->final_callback([&exit_code, opts] { exit_code = cmd_proxy(*opts); });
}

}  // namespace conet::app
