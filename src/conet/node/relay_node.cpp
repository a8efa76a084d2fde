#include "conet/node/relay_node.hpp"

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <iostream>

#include "conet/crypto/random.hpp"
#include "conet/node/follower.hpp"
#include "conet/node/http_endpoint.hpp"
#include "conet/node/ledger_rpc.hpp"
#include "conet/node/ledger_sync.hpp"
#include "conet/node/node_context.hpp"
#include "conet/node/prober.hpp"
#include "conet/node/usage_claimer.hpp"
#include "conet/node/validator.hpp"
#include "conet/relay/relay.hpp"
#include "conet/rpc/server.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"
#include "conet/web/web.hpp"

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

namespace {

/// One `conet node run`: the relay and the roles its config turns on, each
/// started by one step. Members are declared so that each outlives what
/// refers to it (the status endpoint and the validator's commit hook refer
/// to the servers; the prober submits through the validator).
struct RelayNode {
    NodeContext& ctx;
    const std::filesystem::path& dir;
    const NodeConfig& config;
    const crypto::X25519KeyPair& noise_key;
    std::optional<crypto::PrivateKey> wallet;

    ledger::Directory directory;
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    relay::RelayMetrics metrics{*registry};
    std::unique_ptr<relay::RelayServer> server;
    std::vector<asio::ip::tcp::endpoint> bound;
    std::unique_ptr<ledger::BlockStore> store;
    rpc::Dispatcher dispatcher;
    rpc::HttpServer rpc_server{ctx.io(), dispatcher, config.limits};
    std::unique_ptr<Validator> validator;
    std::unique_ptr<Prober> prober;
    std::unique_ptr<HttpEndpoint> http;
    std::unique_ptr<Follower> follower;
    std::unique_ptr<UsageClaimer> claimer;
    std::unique_ptr<LedgerSync> sync;  ///< registration and relay list, with config.ledger_rpc
    const std::int64_t started_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();

    const ledger::Genesis& genesis() const { return *ctx.genesis(); }

    Status load_directory() {
        if (config.directory.empty()) return {};
        auto text = util::read_file(config.directory, 64u << 20);
        if (!text) return util::unexpected("directory: " + text.error().message());
        std::vector<std::string> rejected;
        const auto now = static_cast<std::uint64_t>(std::time(nullptr));
        directory = ledger::Directory(ledger::parse_directory(*text, config.chain_id, now, rejected));
        for (const auto& r : rejected) spdlog::warn("[relay] directory: {}", r);
        return {};
    }

    Status start_relay() {
        boost::system::error_code ec;
        const auto listen_addr = asio::ip::make_address(config.listen.host, ec);
        if (ec) return util::unexpected("listen address must be an IP literal: " + config.listen.host);
        relay::RelayConfig rc;
        rc.on_unknown_relay = [this] {
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
        server = std::make_unique<relay::RelayServer>(ctx.io(), std::move(rc), directory, ctx.rng(), metrics);
        auto started = server->start();
        if (!started) return util::unexpected(net::describe(started.error()) + " (the config's `listen`)");
        bound = std::move(*started);
        ctx.on_stop([this] { server->stop(); });
        return {};
    }

    /// The ledger's JSON-RPC the operator page reads: this node's own when it
    /// serves one, else the validator it registers with.
    std::string page_rpc_url() const {
        if (!config.rpc.empty())
            if (auto hp = parse_host_port(config.rpc)) {
                std::string host = hp->host == "0.0.0.0" || hp->host == "::" ? "127.0.0.1" : hp->host;
                if (host.find(':') != std::string::npos) host = "[" + host + "]";
                return "http://" + host + ":" + std::to_string(hp->port);
            }
        return config.ledger_rpc;
    }

    /// What an operator must see, in words (the operator page shows each).
    std::vector<std::string> warnings() const {
        std::vector<std::string> out;
        if (directory.records().empty())
            out.push_back(config.ledger_rpc.empty() && !config.validator
                              ? "No relays known and no ledger to learn them from: this node cannot extend circuits "
                                "(set ledger_rpc or directory in node.toml)."
                              : "No relays known yet: this node cannot extend circuits until the ledger lists them.");
        const auto& budget = server->memory_budget();
        if (budget.used() * 10 > budget.limit() * 8)
            out.push_back("Budget pressure: send queues hold " + std::to_string(budget.used() >> 20) + " of " +
                          std::to_string(budget.limit() >> 20) + " MiB; links are closed to stay within it.");
        if (budget.links_reclaimed() > 0)
            out.push_back(std::to_string(budget.links_reclaimed()) +
                          " link(s) were closed so far to keep within the memory budget.");
        if (config.exit && ctx.genesis() && genesis().params.incentives.usage_price_per_mib > 0 &&
            config.ledger_rpc.empty())
            out.push_back("Paid exit without ledger_rpc: usage receipts cannot be claimed.");
        return out;
    }

    /// GET /status: the node as its operator page shows it.
    std::string status_json() {
        server->refresh_metrics();
        const auto now = std::chrono::system_clock::now();
        const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        boost::json::array warns;
        for (auto& w : warnings()) warns.emplace_back(std::move(w));
        const auto& ep = bound.empty()
                             ? std::string()
                             : bound.front().address().to_string() + ":" + std::to_string(bound.front().port());
        boost::json::object o{
            {"node", util::to_hex(noise_key.public_key)},
            {"operator", wallet ? boost::json::value(wallet->address().to_string()) : boost::json::value(nullptr)},
            {"region", config.region},
            {"endpoint", config.advertise.empty() ? ep : config.advertise},
            {"exit", config.exit},
            {"validator", config.validator},
            {"prober", config.validator && config.probe},
            {"started_at", started_at},
            {"now", now_s},
            {"now_ms", now_ms},
            {"uptime_seconds", now_s - started_at},
            {"links", static_cast<std::uint64_t>(metrics.links.Value())},
            {"circuits", static_cast<std::uint64_t>(metrics.circuits.Value())},
            {"streams", static_cast<std::uint64_t>(metrics.streams.Value())},
            {"bytes_in", static_cast<std::uint64_t>(metrics.bytes_in.Value())},
            {"bytes_out", static_cast<std::uint64_t>(metrics.bytes_out.Value())},
            {"queued_bytes", server->memory_budget().used()},
            {"budget_bytes", server->memory_budget().limit()},
            {"relays_known", directory.records().size()},
            {"ledger_rpc", config.ledger_rpc},
            {"rpc", config.rpc.empty() ? std::string() : page_rpc_url()},
            {"warnings", std::move(warns)}};
        return boost::json::serialize(o) + "\n";
    }

    Status start_status() {
        http = std::make_unique<HttpEndpoint>(
            ctx.io(),
            [this](const std::string& path) -> HttpReply {
                if (path == "/metrics") {
                    server->refresh_metrics();
                    std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
                    if (validator) text += validator->metrics();
                    if (prober) text += prober->metrics();
                    return {200, "text/plain; version=0.0.4", std::move(text)};
                }
                if (path == "/health") return {200, "text/plain", "ok\n"};
                if (path == "/status") return {200, "application/json", status_json(), "Cache-Control: no-store\r\n"};
                if (const auto* asset = web::find(web::Page::operator_, path)) {
                    // The page may read the ledger's JSON-RPC (and nothing else) besides this port.
                    std::string rpc = page_rpc_url();
                    std::string connect;
                    // Only a plain URL goes into the header (no space, quote, ';' or line break).
                    const bool plain = std::all_of(rpc.begin(), rpc.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) ||
                               std::string_view(":/.-_[]%").find(c) != std::string_view::npos;
                    });
                    if (plain && rpc.starts_with("http://")) connect = rpc + " ws://" + rpc.substr(7);
                    if (plain && rpc.starts_with("https://")) connect = rpc + " wss://" + rpc.substr(8);
                    return {200, std::string(asset->content_type), std::string(asset->body),
                            web::security_headers(connect)};
                }
                return {404, "text/plain", "try / (the operator dashboard), /status, /metrics or /health\n"};
            },
            config.web_hosts);
        ctx.on_stop([this] { http->stop(); });
        if (config.metrics.empty()) return {};
        auto at = NodeContext::listen_address(config.metrics, "metrics address");
        if (!at) return util::unexpected(at.error());
        auto m = http->start(*at);
        if (!m) return util::unexpected(net::describe(m.error()) + " (the config's `metrics`)");
        std::cout << "metrics on " << m->address().to_string() << ":" << m->port() << std::endl;
        const bool v6 = m->address().is_v6();
        std::cout << "operator dashboard on http://" << (v6 ? "[" : "") << m->address().to_string() << (v6 ? "]" : "")
                  << ":" << m->port() << "/" << std::endl;
        return {};
    }

    Status load_genesis() {
        if (config.validator && !config.follow.empty())
            return util::unexpected(
                std::string("node.toml sets both validator and follow: a validator does not follow"));
        if (!config.validator && config.ledger_rpc.empty() && config.follow.empty()) return {};
        if (!wallet && (config.validator || !config.ledger_rpc.empty()))
            return util::unexpected(
                std::string("the validator role and ledger registration need the wallet: pass --password-file"));
        auto g = ctx.load_genesis(config.genesis, "genesis");
        if (!g) return util::unexpected(g.error());
        return {};
    }

    Status open_store() {
        auto opened = ledger::BlockStore::open(dir / "chain", genesis());
        if (!opened) return util::unexpected(opened.error());
        store = std::move(*opened);
        return {};
    }

    /// Block store, consensus, JSON-RPC methods; the prober with config.probe.
    Status start_validator() {
        if (!config.validator) return {};
        if (auto s = open_store(); !s) return s;
        auto made = Validator::create(ctx.io(), *store, genesis(), wallet->clone(),
                                      {config.block_interval_ms, config.validator_peers, config.validator_listen,
                                       dir / "consensus", config.limits});
        if (!made) return util::unexpected(made.error());
        validator = std::move(*made);
        validator->register_methods(dispatcher);
        validator->on_commit([this](const boost::json::value& head) { rpc_server.publish("newHeads", head); });
        if (auto started = validator->start(); !started) return util::unexpected(started.error());
        ctx.on_stop([this] { validator->stop(); });
        spdlog::info("[validator] chain {} at height {}", genesis().chain_id, store->head().height);
        if (!config.probe) return {};
        ProberOptions po;
        po.echo = *parse_host_port(config.probe_echo);
        po.allow_private_relays = config.allow_private_relays;
        prober = std::make_unique<Prober>(
            ctx.io(), *store, wallet->address(),
            [this](const ledger::ProbeReportPayload& report) {
                return validator->submit_own(ledger::TxKind::probe_report, codec::encode(report));
            },
            po);
        if (auto started = prober->start(); !started) return util::unexpected(started.error());
        ctx.on_stop([this] { prober->stop(); });
        return {};
    }

    Status start_follower() {
        if (config.follow.empty()) return {};
        if (auto s = open_store(); !s) return s;
        register_ledger_methods(dispatcher, *store, genesis(), nullptr);
        follower = std::make_unique<Follower>(
            ctx.io(), *store, genesis(),
            FollowerOptions{config.follow, 500, static_cast<std::uint32_t>(config.limits.rpc_client_timeout_ms)});
        follower->on_commit = [this](const ledger::Block& b) {
            rpc_server.publish("newHeads", header_answer(b, *store, genesis()));
        };
        follower->start();
        return {};
    }

    Status start_rpc() {
        ctx.on_stop([this] { rpc_server.stop(); });
        rpc_server.set_web_hosts(config.web_hosts);
        if (config.rpc.empty()) return {};
        auto at = NodeContext::listen_address(config.rpc, "rpc address");
        if (!at) return util::unexpected(at.error());
        auto r = rpc_server.start(*at);
        if (!r) return util::unexpected(net::describe(r.error()) + " (the config's `rpc`)");
        std::cout << "rpc on " << r->address().to_string() << ":" << r->port() << std::endl;
        return {};
    }

    /// Paid usage at this exit: the price comes from the genesis.
    Status start_paid_usage() {
        if (!ctx.genesis() || !config.exit || genesis().params.incentives.usage_price_per_mib == 0) return {};
        relay::MeterConfig mc;
        mc.chain_id = genesis().chain_id;
        mc.exit = noise_key.public_key;
        mc.price_per_mib = genesis().params.incentives.usage_price_per_mib;
        mc.credit_bytes = std::uint64_t{config.usage_credit_mib} << 20;
        mc.free_bytes_per_second = std::uint64_t{config.free_tier_kbps} * 1024;
        server->meter() = relay::UsageMeter(mc);
        spdlog::info("[usage] paid exit: {} base units per MiB, credit {} MiB, free tier {}", mc.price_per_mib,
                     config.usage_credit_mib,
                     config.free_tier_kbps ? std::to_string(config.free_tier_kbps) + " KiB/s per circuit" : "off");
        if (config.ledger_rpc.empty())
            spdlog::warn("[usage] no ledger_rpc: receipts cannot be claimed and balances are not checked");
        else
            claimer = std::make_unique<UsageClaimer>(ctx.io(), server->meter(), wallet->clone(), genesis().chain_id,
                                                     genesis().params.min_fee);
        return {};
    }

    /// Registration on the ledger and the relay list from it.
    Status start_registration() {
        if (config.ledger_rpc.empty()) return {};
        Registration reg{config, config.listen, noise_key.public_key, wallet->clone()};
        if (!config.advertise.empty())
            reg.advertise = *parse_host_port(config.advertise);
        else
            reg.advertise = {bound.front().address().to_string(), bound.front().port()};
        sync = std::make_unique<LedgerSync>(ctx.io(), std::vector<std::string>{config.ledger_rpc}, genesis(),
                                            config.ledger_refresh_seconds * 1000, std::move(reg),
                                            [this](ledger::Directory d) { directory = std::move(d); });
        sync->set_rpc_timeout_ms(static_cast<std::uint32_t>(config.limits.rpc_client_timeout_ms));
        if (claimer)
            sync->add_task(
                [c = claimer.get()](const std::string& url, const rpc::CallOptions& call) { c->refresh(url, call); });
        sync->start();
        return {};
    }

    ~RelayNode() {
        if (sync) sync->stop();
    }
};

}  // namespace

int run_relay(const std::filesystem::path& dir, const NodeConfig& config, const crypto::X25519KeyPair& noise_key,
              std::optional<crypto::PrivateKey> wallet) {
    NodeContext ctx;
    RelayNode node{ctx, dir, config, noise_key, std::move(wallet)};
    for (auto step : {&RelayNode::load_directory, &RelayNode::start_relay, &RelayNode::start_status,
                      &RelayNode::load_genesis, &RelayNode::start_validator, &RelayNode::start_follower,
                      &RelayNode::start_rpc, &RelayNode::start_paid_usage, &RelayNode::start_registration}) {
        if (auto s = (node.*step)(); !s) {
            std::cerr << "conet: error: " << s.error() << "\n";
            return 1;
        }
    }
    for (const auto& b : node.bound)
        std::cout << "relay listening on " << b.address().to_string() << ":" << b.port() << std::endl;
    spdlog::info("[relay] {} relays in directory; exit {}", node.directory.records().size(),
                 config.exit ? "enabled" : "disabled");
    ctx.run("relay");
    return 0;
}

}  // namespace conet::node
