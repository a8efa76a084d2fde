// `conet proxy`: the user's local SOCKS5/SOCKS4a/HTTP proxy.

#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>
#include <thread>

#include "conet/app/cli.hpp"
#include "conet/app/unlock.hpp"
#include "conet/crypto/random.hpp"
#include "conet/node/config.hpp"
#include "conet/node/discovery.hpp"
#include "conet/node/ledger_sync.hpp"
#include "conet/node/node_context.hpp"
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
    std::size_t guards = proxy::default_entry_guards;
    bool allow_private_relays = false;
    std::vector<std::string> allow_hosts;
    std::string wallet_keystore;
    std::optional<std::string> password_file;
};

/// Entries and exits among the records the address rule allows (the client
/// applies the same rule and logs each refusal); `first_refusal` describes one.
struct Usable {
    std::size_t entries = 0, exits = 0, refused = 0;
    std::string first_refusal;
};
Usable count_usable(const ledger::Directory& d, bool allow_private) {
    Usable u;
    for (const auto& r : d.records()) {
        if (const auto* bad = ledger::first_disallowed_endpoint(r.endpoints, allow_private)) {
            if (u.refused++ == 0)
                u.first_refusal = "endpoint " + bad->to_string() + " is a " +
                                  std::string(ledger::describe(ledger::endpoint_scope(*bad)));
            continue;
        }
        u.entries += r.is_entry();
        u.exits += r.is_exit();
    }
    return u;
}

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
    ledger::Directory d(std::move(records));
    const Usable u = count_usable(d, o.allow_private_relays);
    if (u.entries == 0 || u.exits == 0)
        return util::unexpected("no usable relays in " + o.directory + ": " + std::to_string(u.refused) +
                                " refused by the address rule (" + u.first_refusal + ")" +
                                (o.allow_private_relays ? "" : "; --allow-private-relays accepts private addresses"));
    return d;
}

/// Asks the RPC until it yields at least an entry and an exit (relays may
/// still be registering when the proxy starts), at most `wait_relays` s.
util::Result<ledger::Directory, std::string> directory_from_ledger(const ProxyCmdOptions& o,
                                                                   const ledger::Genesis& genesis) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.wait_relays);
    std::string last;
    for (;;) {
        std::vector<std::string> refused;
        auto d = node::discover_relays(o.rpc, genesis, now_unix(), refused, {.max_header_age_s = o.max_header_age});
        for (const auto& r : refused) spdlog::warn("[proxy] refused node record {}", r);
        std::string why;
        if (!d) {
            why = d.error();
        } else {
            const Usable u = count_usable(*d, o.allow_private_relays);
            if (d->records().size() - u.refused >= 2 && u.entries > 0 && u.exits > 0) return d;
            why = std::to_string(d->records().size()) + " verified relays so far (" + std::to_string(u.refused) +
                  " refused by the address rule" + (u.refused ? ": " + u.first_refusal : "") +
                  "); waiting for an entry and an exit";
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
    node::NodeContext ctx;
    const ledger::Genesis* genesis = nullptr;
    util::Result<ledger::Directory, std::string> found = util::unexpected(std::string());
    if (!o.directory.empty()) {
        found = directory_from_file(o);
    } else {
        if (o.rpc.empty() || o.genesis.empty())
            return fail("give --directory FILE, or --rpc URL with --genesis FILE", exit_usage);
        auto g = ctx.load_genesis(o.genesis, "--genesis");
        if (!g) return fail(g.error());
        genesis = *g;
        found = directory_from_ledger(o, *genesis);
    }
    if (!found) return fail(found.error());
    ledger::Directory directory = std::move(*found);

    auto listen = node::NodeContext::listen_address(o.listen, "--listen");
    if (!listen) return fail(listen.error(), exit_usage);

    std::optional<proxy::WalletOptions> wallet;
    if (!o.wallet_keystore.empty()) {
        if (!genesis)
            return fail("--wallet-keystore needs --rpc and --genesis (receipts name the chain's epochs)", exit_usage);
        auto key = unlock_keystore(o.wallet_keystore, o.password_file);
        if (!key) return fail(key.error());
        wallet = proxy::WalletOptions{std::make_shared<const crypto::PrivateKey>(std::move(*key)), genesis->chain_id,
                                      genesis->params.incentives.usage_price_per_mib};
        if (wallet->price_per_mib == 0) spdlog::info("[proxy] this chain has no usage price: the wallet pays nothing");
    }

    auto& io = ctx.io();
    proxy::ClientOptions co;
    co.wallet = wallet;
    co.hops = o.hops;
    co.exit_region = o.exit_region;
    co.pool_size = o.pool;
    co.max_isolated = o.max_isolated;
    co.entry_guards = o.guards;
    co.allow_private_relays = o.allow_private_relays;
    if (o.allow_private_relays)
        spdlog::warn(
            "[proxy] --allow-private-relays: relays on private and loopback addresses are accepted, and "
            "relays of one network may share a path (devnet only)");
    const std::size_t relays = directory.records().size();
    proxy::Client client(io, co, std::move(directory), ctx.rng());
    proxy::ProxyOptions po;
    po.listen = *listen;
    po.allowed_hosts = o.allow_hosts;
    proxy::ProxyServer server(io, po, client);
    auto bound = server.start();
    if (!bound) return fail(net::describe(bound.error()) + "; choose another address with --listen");
    client.start();
    std::unique_ptr<node::LedgerSync> sync;
    if (genesis) {
        sync =
            std::make_unique<node::LedgerSync>(io, o.rpc, *genesis, o.refresh * 1000, std::nullopt,
                                               [&client](ledger::Directory d) { client.set_directory(std::move(d)); });
        sync->set_max_header_age(o.max_header_age);
        if (wallet) {
            // The epoch (receipts name it) and the wallet's prepaid balance.
            const std::string address = wallet->key->address().to_string();
            auto fetch = [address](const std::string& url, const rpc::CallOptions& call) {
                std::pair<std::optional<std::uint64_t>, std::optional<std::uint64_t>> out;
                auto epoch = rpc::call(url, "conet_getEpoch", boost::json::array{}, call);
                auto account =
                    rpc::call(url, "conet_getAccount", boost::json::array{boost::json::value(address)}, call);
                try {
                    if (epoch) out.first = epoch->at("epoch").to_number<std::uint64_t>();
                    if (account) out.second = account->at("prepaid").to_number<std::uint64_t>();
                } catch (const std::exception& e) {
                    spdlog::warn("[proxy] malformed epoch or account answer: {}", e.what());
                }
                return out;
            };
            // Before the first circuit is ready, so its first receipt names the epoch.
            const auto [epoch, prepaid] = fetch(o.rpc.front(), rpc::CallOptions{});
            if (epoch) client.set_epoch(*epoch);
            if (prepaid) client.set_prepaid(*prepaid);
            if (!epoch) spdlog::warn("[proxy] could not learn the epoch yet: receipts wait for it");
            sync->add_task([&io, &client, fetch](const std::string& url, const rpc::CallOptions& call) {
                const auto [e, p] = fetch(url, call);
                boost::asio::post(io, [&client, e = e, p = p] {
                    if (e) client.set_epoch(*e);
                    if (p) client.set_prepaid(*p);
                });
            });
            spdlog::info("[proxy] paying with wallet {} ({} base units per MiB)", address, wallet->price_per_mib);
        }
        sync->start();
    }

    ctx.on_stop([&] {
        server.stop();
        client.stop();
    });
    std::cout << "proxy listening on " << bound->address().to_string() << ":" << bound->port() << std::endl;
    spdlog::info("[proxy] {} relays verified; {} hops; PAC at http://{}:{}/pac", relays, o.hops,
                 bound->address().to_string(), bound->port());
    ctx.run("proxy");
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
    cmd->add_option("--guards", opts->guards, "Entry guards: the few entries every circuit starts from")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    cmd->add_flag("--allow-private-relays", opts->allow_private_relays,
                  "Devnet only: accept relays on loopback, private, link-local and CGNAT addresses, and let relays "
                  "of one /16 (IPv6 /32) share a path");
    cmd->add_option("--allow-host", opts->allow_hosts,
                    "A Host name under which /status also answers (besides 127.0.0.1, localhost, [::1]); repeatable");
    cmd->add_option("--wallet-keystore", opts->wallet_keystore,
                    "Pay exits from this wallet's prepaid balance (conet tx deposit): the proxy signs receipts "
                    "for the bytes each exit carries")
        ->needs(rpc);
    cmd->add_option("--password-file", opts->password_file, "The wallet keystore's password, from this file");
    cmd->final_callback([&exit_code, opts] { exit_code = cmd_proxy(*opts); });
}

}  // namespace conet::app
