#include "conet/node/ledger_sync.hpp"

#include <spdlog/spdlog.h>

#include <ctime>

#include <boost/asio/post.hpp>

#include "conet/ledger/transaction.hpp"
#include "conet/node/discovery.hpp"
#include "conet/node/relay_node.hpp"
#include "conet/rpc/client.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

namespace {

std::uint64_t now_unix() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

std::string rpc_message(const rpc::RpcError& e) {
    return e.message.empty() ? "RPC error " + std::to_string(e.code) : e.message;
}

/// True when the ledger's record says what we would say now and is not near expiry.
bool record_current(const ledger::NodeRecord& on_ledger, const ledger::NodeRecord& wanted, std::uint64_t ttl,
                    std::uint64_t now) {
    return on_ledger.operator_address == wanted.operator_address && on_ledger.endpoints == wanted.endpoints &&
           on_ledger.region == wanted.region && on_ledger.capabilities == wanted.capabilities &&
           on_ledger.expires_at > now + ttl / 2;
}

}  // namespace

LedgerSync::LedgerSync(boost::asio::io_context& io, std::vector<std::string> rpc_urls, ledger::Genesis genesis,
                       std::uint32_t refresh_ms, std::optional<Registration> registration,
                       DirectoryHandler on_directory)
    : m_io(io),
      m_urls(std::move(rpc_urls)),
      m_url(m_urls.empty() ? std::string() : m_urls.front()),
      m_genesis(std::move(genesis)),
      m_refresh_ms(refresh_ms),
      m_registration(std::move(registration)),
      m_on_directory(std::move(on_directory)) {}

LedgerSync::~LedgerSync() {
    stop();
}

void LedgerSync::start() {
    m_thread = std::thread([this] { run(); });
}

void LedgerSync::stop() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

void LedgerSync::poke() {
    {
        std::lock_guard lock(m_mutex);
        m_poked = true;
    }
    m_wake.notify_all();
}

void LedgerSync::run() {
    // A poke refreshes early, but not more than once a second: peers can poke.
    constexpr auto min_gap = std::chrono::seconds(1);
    for (;;) {
        const auto started = std::chrono::steady_clock::now();
        refresh();
        std::unique_lock lock(m_mutex);
        m_wake.wait_for(lock, std::chrono::milliseconds(m_refresh_ms), [this] { return m_stopping || m_poked; });
        m_wake.wait_until(lock, started + min_gap, [this] { return m_stopping; });
        if (m_stopping) return;
        m_poked = false;
    }
}

void LedgerSync::warn_once(const std::string& what) {
    if (what == m_last_warning) return;
    m_last_warning = what;
    spdlog::warn("[ledger] {}", what);
}

rpc::CallOptions LedgerSync::call_options() {
    rpc::CallOptions o;
    o.timeout_ms = m_rpc_timeout_ms;
    o.cancelled = [this] {
        std::lock_guard lock(m_mutex);
        return m_stopping;
    };
    return o;
}

void LedgerSync::refresh() {
    if (m_registration) keep_registered();
    for (const auto& task : m_tasks) task(m_url, call_options());
    std::vector<std::string> refused;
    // Stopping abandons a discovery in progress (a dead endpoint must not hold up shutdown).
    const auto call = call_options();
    auto directory = discover_relays(
        m_urls, m_genesis, now_unix(), refused,
        {.max_header_age_s = m_max_header_age_s, .call_timeout_ms = call.timeout_ms, .cancelled = call.cancelled});
    for (const auto& r : refused) spdlog::warn("[ledger] refused node record {}", r);
    if (!directory) {
        warn_once("cannot learn relays: " + directory.error());
        return;
    }
    m_last_warning.clear();
    util::Bytes fingerprint;
    for (const auto& r : directory->records()) {
        const auto enc = codec::encode(r);
        fingerprint.insert(fingerprint.end(), enc.begin(), enc.end());
    }
    if (fingerprint != m_last_fingerprint)
        spdlog::info("[ledger] relay list updated: {} verified relays", directory->records().size());
    m_last_fingerprint = std::move(fingerprint);
    boost::asio::post(m_io, [handler = m_on_directory, d = std::move(*directory)]() mutable { handler(std::move(d)); });
}

void LedgerSync::keep_registered() {
    const Registration& reg = *m_registration;
    const std::uint64_t now = now_unix();
    NodeConfig config = reg.config;
    config.advertise = reg.advertise.to_string();
    const ledger::NodeRecord wanted = make_record(config, reg.noise_key, reg.wallet, now);

    auto current = rpc::call(m_url, "conet_getNode", {json::value(util::to_hex(reg.noise_key))}, call_options());
    if (!current) return warn_once("registration check failed: " + rpc_message(current.error()));
    try {
        const json::value* enc = current->as_object().if_contains("record_encoded");
        if (enc && enc->is_string()) {
            auto bytes = util::from_hex(enc->get_string());
            auto on_ledger = bytes ? codec::decode<ledger::NodeRecord>(*bytes)
                                   : codec::Result<ledger::NodeRecord>(util::unexpected(codec::CodecError::bad_value));
            if (on_ledger && record_current(*on_ledger, wanted, config.record_ttl_seconds, now)) {
                if (m_pending_tx) spdlog::info("[ledger] node record registered (tx {})", *m_pending_tx);
                m_pending_tx.reset();
                return;
            }
        }
        if (m_pending_tx) {
            auto st = rpc::call(m_url, "conet_getTransaction", {json::value(*m_pending_tx)}, call_options());
            if (st && st->at("status") == "pending") return;  // wait for it
            m_pending_tx.reset();
        }
        auto account =
            rpc::call(m_url, "conet_getAccount", {json::value(reg.wallet.address().to_string())}, call_options());
        if (!account) return warn_once("registration: " + rpc_message(account.error()));
        const auto nonce = account->at("nonce").to_number<std::uint64_t>();
        const auto tx = ledger::make_transaction(reg.wallet, m_genesis.chain_id, nonce, reg.fee,
                                                 ledger::TxKind::register_node, ledger::NodePayload{wanted});
        auto sent = rpc::call(m_url, "conet_sendRawTransaction",
                              {json::value(util::to_hex_prefixed(codec::encode(tx)))}, call_options());
        if (!sent) return warn_once("registration refused by the ledger: " + rpc_message(sent.error()));
        m_pending_tx = std::string(sent->get_string());
        spdlog::info("[ledger] registering node record ({} in {}) with tx {}", reg.advertise.to_string(), wanted.region,
                     *m_pending_tx);
    } catch (const std::exception& e) {
        warn_once(std::string("registration: malformed RPC answer: ") + e.what());
    }
}

}  // namespace conet::node
