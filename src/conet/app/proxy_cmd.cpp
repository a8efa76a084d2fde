// `conet proxy`: the user's local SOCKS5/SOCKS4a/HTTP proxy.

#include <spdlog/spdlog.h>

#include <ctime>
#include <iostream>

#include "conet/app/cli.hpp"
#include "conet/crypto/random.hpp"
#include "conet/node/config.hpp"
#include "conet/proxy/server.hpp"
#include "conet/util/file.hpp"

namespace conet::app {

namespace {

struct ProxyCmdOptions {
    std::string directory;
    std::string listen = "127.0.0.1:1080";
    std::string exit_region;
    std::size_t hops = 2;
    std::size_t pool = 3;
    std::uint64_t chain_id = ledger::default_chain_id;
};

int cmd_proxy(const ProxyCmdOptions& o) {
    auto text = util::read_file(o.directory, 64u << 20);
    if (!text) return fail("--directory: " + text.error().message());
    std::vector<std::string> rejected;
    auto records = ledger::parse_directory(*text, o.chain_id, static_cast<std::uint64_t>(std::time(nullptr)), rejected);
    for (const auto& r : rejected) spdlog::warn("[proxy] directory: refused {}", r);
    if (records.empty()) return fail("no usable relays in " + o.directory);
    const ledger::Directory directory(std::move(records));

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
    proxy::Client client(io, co, directory, rng);
    proxy::ProxyOptions po;
    po.listen = {addr, listen->port};
    proxy::ProxyServer server(io, po, client);
    auto bound = server.start();
    if (!bound) return fail(bound.error());
    client.start();

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
        spdlog::info("[proxy] signal {}: shutting down", sig);
        server.stop();
        client.stop();
        io.stop();
    });
    std::cout << "proxy listening on " << bound->address().to_string() << ":" << bound->port() << std::endl;
    spdlog::info("[proxy] {} relays verified; {} hops; PAC at http://{}:{}/pac", directory.records().size(), o.hops,
                 bound->address().to_string(), bound->port());
    io.run();
    return exit_ok;
}

}  // namespace

void add_proxy_commands(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<ProxyCmdOptions>();
    auto* cmd = app.add_subcommand("proxy", "Run the local SOCKS5/SOCKS4a/HTTP proxy through two or three relays");
    cmd->add_option("--directory", opts->directory, "JSON file of signed node records")->required();
    cmd->add_option("--listen", opts->listen, "HOST:PORT to listen on")->capture_default_str();
    cmd->add_option("--exit-region", opts->exit_region, "Only use exits in this region (e.g. DE)");
    cmd->add_option("--hops", opts->hops, "Relays per circuit")->check(CLI::IsMember({2, 3}))->capture_default_str();
    cmd->add_option("--pool", opts->pool, "Prebuilt circuits to keep")->check(CLI::Range(1, 32))->capture_default_str();
    cmd->final_callback([&exit_code, opts] { exit_code = cmd_proxy(*opts); });
}

}  // namespace conet::app
