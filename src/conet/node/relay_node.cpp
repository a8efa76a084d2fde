#include "conet/node/relay_node.hpp"

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <iostream>

#include "conet/crypto/random.hpp"
#include "conet/node/follower.hpp"
#include "conet/node/http_endpoint.hpp"
#include "conet/node/ledger_rpc.hpp"
#include "conet/node/ledger_sync.hpp"
#include "conet/node/prober.hpp"
#include "conet/node/usage_claimer.hpp"
#include "conet/node/validator.hpp"
#include "conet/relay/relay.hpp"
#include "conet/rpc/server.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace asio = boost::asio;

util::Result<void, std::string> init_node_dir(const std::filesystem::path& dir, const NodeConfig& config,
                                              util::Rng& rng) {
    std::error_code ec;
    if (std::filesystem::exists(dir / config_file_name, ec))
        return util::unexpected((dir / config_file_name).string() + " already exists (refusing to overwrite)");
    std::filesystem::create_directories(dir, ec);
    if (ec) return util::unexpected("cannot create " + dir.string() + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
    const auto key = crypto::X25519KeyPair::generate(rng);
    std::string key_hex = util::to_hex(key.secret.view()) + "\n";
    auto wk = util::write_file_atomic(dir / noise_key_file_name, util::as_bytes(key_hex), 0600, util::Overwrite::no);
    crypto::detail::wipe(key_hex.data(), key_hex.size());
    if (!wk) return util::unexpected(wk.error().message());
    const std::string text = annotated_config(config);
    auto wc = util::write_file_atomic(dir / config_file_name, util::as_bytes(text), 0600, util::Overwrite::no);
    if (!wc) return util::unexpected(wc.error().message());
    return {};
}

util::Result<crypto::X25519KeyPair, std::string> load_noise_key(const std::filesystem::path& dir) {
    auto text = util::read_file(dir / noise_key_file_name, 1024);
    if (!text) return util::unexpected(text.error().message());
    std::string_view hex = *text;
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
    auto raw = util::from_hex_fixed<32>(hex);
    crypto::detail::wipe(text->data(), text->size());
    if (!raw) return util::unexpected((dir / noise_key_file_name).string() + ": not a 32-byte hex key");
    auto kp = crypto::X25519KeyPair::from_secret(*raw);
    crypto::detail::wipe(raw->data(), raw->size());
    return kp;
}

ledger::NodeRecord make_record(const NodeConfig& config, const crypto::X25519Public& noise_key,
                               const crypto::PrivateKey& wallet, std::uint64_t now_unix) {
    ledger::NodeRecord r;
    r.noise_key = noise_key;
    r.endpoints.push_back(config.advertise.empty() ? config.listen : *parse_host_port(config.advertise));
    r.region = config.region;
    r.capabilities = ledger::capability_entry | (config.exit ? ledger::capability_exit : 0);
    r.expires_at = now_unix + config.record_ttl_seconds;
    r.sign(wallet, config.chain_id);
    return r;
}

int run_relay(const std::filesystem::path& dir, const NodeConfig& config, const crypto::X25519KeyPair& noise_key,
              std::optional<crypto::PrivateKey> wallet) {
    asio::io_context io(1);
    crypto::SystemRng rng;

    ledger::Directory directory;
    if (!config.directory.empty()) {
        auto text = util::read_file(config.directory, 64u << 20);
        if (!text) {
            std::cerr << "conet: error: directory: " << text.error().message() << "\n";
            return 1;
        }
        std::vector<std::string> rejected;
        const auto now = static_cast<std::uint64_t>(std::time(nullptr));
        directory = ledger::Directory(ledger::parse_directory(*text, config.chain_id, now, rejected));
        for (const auto& r : rejected) spdlog::warn("[relay] directory: {}", r);
    }

    boost::system::error_code ec;
    const auto listen_addr = asio::ip::make_address(config.listen.host, ec);
    if (ec) {
        std::cerr << "conet: error: listen address must be an IP literal: " << config.listen.host << "\n";
        return 1;
    }
    std::unique_ptr<LedgerSync> sync;  // registration and relay list, with config.ledger_rpc
    relay::RelayConfig rc;
    rc.on_unknown_relay = [&sync] {
        if (sync) sync->poke();
    };
    rc.static_key = noise_key.clone();
    rc.listen.emplace_back(listen_addr, config.listen.port);
    rc.exit_enabled = config.exit;
    rc.exit_policy.allow = config.exit_allow;
    rc.limits = config.limits;
    rc.allow_private_relays = config.allow_private_relays;
    if (!config.advertise.empty()) {
        auto adv = parse_host_port(config.advertise);
        const auto adv_addr = adv ? asio::ip::make_address(adv->host, ec) : asio::ip::address{};
        if (adv && !ec) rc.advertised.emplace_back(adv_addr, adv->port);
    }

    auto registry = std::make_shared<prometheus::Registry>();
    relay::RelayMetrics metrics(*registry);
    relay::RelayServer server(io, std::move(rc), directory, rng, metrics);
    auto bound = server.start();
    if (!bound) {
        std::cerr << "conet: error: " << net::describe(bound.error()) << " (the config's `listen`)\n";
        return 1;
    }

    std::unique_ptr<Validator> validator;  // declared before the endpoint that reports on it
    std::unique_ptr<Prober> prober;
    HttpEndpoint http(io, [registry, &server, &validator, &prober](const std::string& path) -> HttpReply {
        if (path == "/metrics") {
            server.refresh_metrics();
            std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
            if (validator) text += validator->metrics();
            if (prober) text += prober->metrics();
            return {200, "text/plain; version=0.0.4", std::move(text)};
        }
        if (path == "/health") return {200, "text/plain", "ok\n"};
        return {404, "text/plain", "try /metrics or /health\n"};
    });
    if (!config.metrics.empty()) {
        auto ep = parse_host_port(config.metrics);
        const auto addr = asio::ip::make_address(ep->host, ec);
        if (ec) {
            std::cerr << "conet: error: metrics address must be an IP literal\n";
            return 1;
        }
        auto m = http.start({addr, ep->port});
        if (!m) {
            std::cerr << "conet: error: " << net::describe(m.error()) << " (the config's `metrics`)\n";
            return 1;
        }
        std::cout << "metrics on " << m->address().to_string() << ":" << m->port() << std::endl;
    }

    // The validator role: block store, block production, JSON-RPC.
    std::optional<ledger::Genesis> genesis;
    std::unique_ptr<ledger::BlockStore> store;
    rpc::Dispatcher dispatcher;
    rpc::HttpServer rpc_server(io, dispatcher, config.limits);
    if (config.validator && !config.follow.empty()) {
        std::cerr << "conet: error: node.toml sets both validator and follow: a validator does not follow\n";
        return 1;
    }
    if (config.validator || !config.ledger_rpc.empty() || !config.follow.empty()) {
        if (!wallet && (config.validator || !config.ledger_rpc.empty())) {
            std::cerr << "conet: error: the validator role and ledger registration need the wallet: pass "
                         "--password-file\n";
            return 1;
        }
        auto text = util::read_file(config.genesis, 16u << 20);
        if (!text) {
            std::cerr << "conet: error: genesis: " << text.error().message() << "\n";
            return 1;
        }
        auto g = ledger::Genesis::from_json(*text);
        if (!g) {
            std::cerr << "conet: error: genesis: " << g.error() << "\n";
            return 1;
        }
        genesis = std::move(*g);
    }
    if (config.validator) {
        auto opened = ledger::BlockStore::open(dir / "chain", *genesis);
        if (!opened) {
            std::cerr << "conet: error: " << opened.error() << "\n";
            return 1;
        }
        store = std::move(*opened);
        auto made = Validator::create(io, *store, *genesis, wallet->clone(),
                                      {config.block_interval_ms, config.validator_peers, config.validator_listen,
                                       dir / "consensus", config.limits});
        if (!made) {
            std::cerr << "conet: error: " << made.error() << "\n";
            return 1;
        }
        validator = std::move(*made);
        validator->register_methods(dispatcher);
        validator->on_commit([&rpc_server](const boost::json::value& head) { rpc_server.publish("newHeads", head); });
        if (auto started = validator->start(); !started) {
            std::cerr << "conet: error: " << started.error() << "\n";
            return 1;
        }
        spdlog::info("[validator] chain {} at height {}", genesis->chain_id, store->head().height);
        if (config.probe) {
            ProberOptions po;
            po.echo = *parse_host_port(config.probe_echo);
            po.allow_private_relays = config.allow_private_relays;
            prober = std::make_unique<Prober>(
                io, *store, wallet->address(),
                [&validator](const ledger::ProbeReportPayload& report) {
                    return validator->submit_own(ledger::TxKind::probe_report, codec::encode(report));
                },
                po);
            if (auto started = prober->start(); !started) {
                std::cerr << "conet: error: " << started.error() << "\n";
                return 1;
            }
        }
    }
    std::unique_ptr<Follower> follower;
    if (!config.follow.empty()) {
        auto opened = ledger::BlockStore::open(dir / "chain", *genesis);
        if (!opened) {
            std::cerr << "conet: error: " << opened.error() << "\n";
            return 1;
        }
        store = std::move(*opened);
        register_ledger_methods(dispatcher, *store, *genesis, nullptr);
        follower = std::make_unique<Follower>(
            io, *store, *genesis,
            FollowerOptions{config.follow, 500, static_cast<std::uint32_t>(config.limits.rpc_client_timeout_ms)});
        follower->on_commit = [&rpc_server, &genesis, &store](const ledger::Block& b) {
            rpc_server.publish("newHeads", header_answer(b, *store, *genesis));
        };
        follower->start();
    }
    if (!config.rpc.empty()) {
        auto ep = parse_host_port(config.rpc);
        const auto addr = asio::ip::make_address(ep->host, ec);
        if (ec) {
            std::cerr << "conet: error: rpc address must be an IP literal\n";
            return 1;
        }
        auto r = rpc_server.start({addr, ep->port});
        if (!r) {
            std::cerr << "conet: error: " << net::describe(r.error()) << " (the config's `rpc`)\n";
            return 1;
        }
        std::cout << "rpc on " << r->address().to_string() << ":" << r->port() << std::endl;
    }

    // Paid usage at this exit: the price comes from the genesis.
    std::unique_ptr<UsageClaimer> claimer;
    if (genesis && config.exit && genesis->params.incentives.usage_price_per_mib > 0) {
        relay::MeterConfig mc;
        mc.chain_id = genesis->chain_id;
        mc.exit = noise_key.public_key;
        mc.price_per_mib = genesis->params.incentives.usage_price_per_mib;
        mc.credit_bytes = std::uint64_t{config.usage_credit_mib} << 20;
        mc.free_bytes_per_second = std::uint64_t{config.free_tier_kbps} * 1024;
        server.meter() = relay::UsageMeter(mc);
        spdlog::info("[usage] paid exit: {} base units per MiB, credit {} MiB, free tier {}", mc.price_per_mib,
                     config.usage_credit_mib,
                     config.free_tier_kbps ? std::to_string(config.free_tier_kbps) + " KiB/s per circuit" : "off");
        if (config.ledger_rpc.empty())
            spdlog::warn("[usage] no ledger_rpc: receipts cannot be claimed and balances are not checked");
        else
            claimer = std::make_unique<UsageClaimer>(io, server.meter(), wallet->clone(), genesis->chain_id,
                                                     genesis->params.min_fee);
    }
    // Registration on the ledger and the relay list from it.
    if (!config.ledger_rpc.empty()) {
        Registration reg{config, config.listen, noise_key.public_key, wallet->clone()};
        if (!config.advertise.empty())
            reg.advertise = *parse_host_port(config.advertise);
        else
            reg.advertise = {bound->front().address().to_string(), bound->front().port()};
        sync = std::make_unique<LedgerSync>(io, std::vector<std::string>{config.ledger_rpc}, *genesis,
                                            config.ledger_refresh_seconds * 1000, std::move(reg),
                                            [&directory](ledger::Directory d) { directory = std::move(d); });
        sync->set_rpc_timeout_ms(static_cast<std::uint32_t>(config.limits.rpc_client_timeout_ms));
        if (claimer)
            sync->add_task(
                [c = claimer.get()](const std::string& url, const rpc::CallOptions& call) { c->refresh(url, call); });
        sync->start();
    }

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
        spdlog::info("[relay] signal {}: shutting down", sig);
        server.stop();
        http.stop();
        rpc_server.stop();
        if (prober) prober->stop();
        if (validator) validator->stop();
        io.stop();
    });
    for (const auto& b : *bound)
        std::cout << "relay listening on " << b.address().to_string() << ":" << b.port() << std::endl;
    spdlog::info("[relay] {} relays in directory; exit {}", directory.records().size(),
                 config.exit ? "enabled" : "disabled");
    io.run();
    if (sync) sync->stop();
    follower.reset();   // joins its thread
    prober.reset();     // before the validator it submits through
    validator.reset();  // before the store and genesis it refers to
    return 0;
}

}  // namespace conet::node
