#include "conet/node/validator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "conet/rpc/proof_json.hpp"
#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;
using rpc::RpcError;
using MethodResult = util::Result<json::value, RpcError>;

namespace {

RpcError bad_params(std::string why) {
    return {rpc::invalid_params, std::move(why)};
}

const json::value* param(const json::value& params, std::size_t i) {
    const auto* a = params.if_array();
    return a && i < a->size() ? &(*a)[i] : nullptr;
}

util::Result<std::uint64_t, RpcError> u64_param(const json::value& params, std::size_t i, const char* what) {
    const json::value* v = param(params, i);
    if (v && v->is_uint64()) return v->get_uint64();
    if (v && v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    return util::unexpected(bad_params(std::string("param ") + std::to_string(i) + " must be " + what));
}

template <std::size_t N>
util::Result<util::ByteArray<N>, RpcError> hex_param(const json::value& params, std::size_t i, const char* what) {
    const json::value* v = param(params, i);
    if (v && v->is_string())
        if (auto b = util::from_hex_fixed<N>(v->get_string())) return *b;
    return util::unexpected(bad_params(std::string("param ") + std::to_string(i) + " must be " + what));
}

json::value header_json(const ledger::Header& h) {
    return json::object{{"chain_id", h.chain_id},
                        {"height", h.height},
                        {"view", h.view},
                        {"parent_view", h.parent_view},
                        {"hash", util::to_hex_prefixed(h.hash())},
                        {"parent", util::to_hex_prefixed(h.parent)},
                        {"time", h.time_unix},
                        {"proposer", h.proposer.to_string()},
                        {"tx_root", util::to_hex_prefixed(h.tx_root)},
                        {"state_root", util::to_hex_prefixed(h.state_root)},
                        {"encoded", util::to_hex_prefixed(codec::encode(h))}};
}

json::value block_json(const ledger::Block& b) {
    json::array txs;
    for (const auto& tx : b.transactions) txs.push_back(json::value(util::to_hex_prefixed(tx.hash())));
    return json::object{{"header", header_json(b.header)},
                        {"transactions", std::move(txs)},
                        {"certificate", rpc::certificate_to_json(b.certificate)}};
}

}  // namespace

util::Result<std::unique_ptr<Validator>, std::string> Validator::create(boost::asio::io_context& io,
                                                                        ledger::BlockStore& store,
                                                                        const ledger::Genesis& genesis,
                                                                        crypto::PrivateKey key,
                                                                        ValidatorOptions options) {
    const auto& set = genesis.validators;
    const auto it = std::find(set.begin(), set.end(), key.address());
    if (it == set.end()) return util::unexpected(key.address().to_string() + " is not a validator in the genesis");
    const auto index = static_cast<std::uint32_t>(it - set.begin());
    std::vector<net::PeerAddress> endpoints;
    if (options.peers.empty()) {
        if (set.size() > 1)
            return util::unexpected("the genesis has " + std::to_string(set.size()) +
                                    " validators: set validator_peers in node.toml (one host:port per validator, in "
                                    "genesis order)");
        endpoints.push_back({"127.0.0.1", 0});  // nobody to talk to; the listener is never dialed
    } else {
        if (options.peers.size() != set.size())
            return util::unexpected("validator_peers lists " + std::to_string(options.peers.size()) +
                                    " addresses but the genesis has " + std::to_string(set.size()) + " validators");
        for (const auto& p : options.peers) {
            auto ep = ledger::Endpoint::parse(p, /*allow_zero_port=*/true);
            if (!ep) return util::unexpected("validator_peers: " + p + ": " + ep.error());
            endpoints.push_back({ep->host, ep->port});
        }
    }
    net::PeerTransportConfig tc{genesis.chain_id, index, endpoints, set, {}};
    if (auto ok = net::PeerTransport::check(tc, key); !ok)
        return util::unexpected("validator transport: " + std::string(net::describe(ok.error())));
    return std::unique_ptr<Validator>(
        new Validator(io, store, genesis, std::move(key), index, std::move(options), std::move(endpoints)));
}

Validator::Validator(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
                     crypto::PrivateKey key, std::uint32_t index, ValidatorOptions options,
                     std::vector<net::PeerAddress> endpoints)
    : m_io(io),
      m_store(store),
      m_genesis(genesis),
      m_key(std::move(key)),
      m_index(index),
      m_options(std::move(options)),
      m_timers(io),
      m_transport(io.get_executor(),
                  net::PeerTransportConfig{genesis.chain_id, index, std::move(endpoints), genesis.validators, {}},
                  m_key.clone(), m_rng),
      m_storage(m_options.journal_dir),
      m_app(store, m_mempool, m_clock, m_key.address()),
      m_verifier(genesis.validators),
      m_signer(m_key.clone()) {
    m_app.on_commit = [this](const ledger::Block& b) {
        if (m_on_commit) m_on_commit(header_answer(b));
        if (!b.transactions.empty())
            spdlog::info("[validator] block {} (view {}) with {} transactions", b.header.height, b.header.view,
                         b.transactions.size());
    };
    m_app.on_fatal = [](const std::string& why) {
        // A failed durable write or a broken quorum leaves state we cannot trust: stop (STYLE.md).
        spdlog::critical("[validator] {}", why);
        std::abort();
    };
}

Validator::~Validator() {
    stop();
}

util::Result<void, std::string> Validator::start() {
    std::error_code ec;
    std::filesystem::create_directories(m_options.journal_dir, ec);
    if (ec) return util::unexpected(m_options.journal_dir.string() + ": " + ec.message());
    if (auto ok = m_transport.start(); !ok)
        return util::unexpected("validator transport: " + std::string(net::describe(ok.error())) + " (" +
                                (m_options.peers.empty() ? std::string("-") : m_options.peers[m_index]) + ")");
    consensus::CoreConfig cfg;
    cfg.chain_id = m_genesis.chain_id;
    cfg.validators = static_cast<std::uint32_t>(m_genesis.validators.size());
    cfg.self = m_index;
    cfg.min_block_interval_ms = m_options.block_interval_ms;
    // Followers wait for the leader's interval on top of the usual timeouts.
    cfg.leader_timeout_ms += m_options.block_interval_ms;
    cfg.notarize_timeout_ms += m_options.block_interval_ms;
    m_engine = std::make_unique<consensus::Engine>(runtime::Context{m_clock, m_timers, m_transport, m_rng}, m_storage,
                                                   m_app, m_verifier, &m_signer, cfg);
    m_engine->on_fatal = m_app.on_fatal;
    if (auto ok = m_engine->start(); !ok) {
        m_engine.reset();
        return util::unexpected(ok.error());
    }
    spdlog::info("[validator] validator {} of {} at height {} (view {}), journal {}", m_index,
                 m_genesis.validators.size(), m_store.head().height, m_store.head().view,
                 (m_options.journal_dir / consensus::journal_file_name).string());
    return {};
}

void Validator::stop() {
    m_engine.reset();
    m_transport.stop();
}

std::string Validator::metrics() const {
    std::string out;
    auto line = [&out](const char* name, std::uint64_t v) {
        out += std::string(name) + " " + std::to_string(v) + "\n";
    };
    line("conet_consensus_height", m_store.head().height);
    line("conet_consensus_finalized_view", m_store.head().view);
    if (m_engine) {
        line("conet_consensus_view", m_engine->core().view());
        line("conet_consensus_messages_in_total", m_engine->stats().messages_in);
        line("conet_consensus_messages_malformed_total", m_engine->stats().messages_malformed);
        line("conet_consensus_blocks_fetched_total", m_engine->stats().blocks_fetched);
    }
    line("conet_consensus_candidates", m_app.candidates().size());
    const auto& t = m_transport.stats();
    line("conet_validator_link_messages_sent_total", t.messages_sent);
    line("conet_validator_link_messages_received_total", t.messages_received);
    line("conet_validator_link_dropped_total",
         t.dropped_queue_full + t.dropped_too_large + t.dropped_write_failed + t.dropped_no_handler);
    line("conet_validator_link_handshake_failures_total", t.handshake_failures);
    std::uint64_t connected = 0;
    for (std::uint32_t p = 0; p < m_transport.peers(); ++p) connected += p != m_index && m_transport.connected(p);
    line("conet_validator_links_connected", connected);
    return out;
}

json::value Validator::header_answer(const ledger::Block& b) const {
    json::value out = block_json(b);
    json::array vals;
    for (const auto& v : m_genesis.validators) vals.push_back(json::value(v.to_string()));
    out.as_object()["validators"] = std::move(vals);
    return out;
}

json::value Validator::header_answer_at(std::uint64_t height) const {
    auto b = m_store.block_at(height);
    CONET_ASSERT(b.has_value());
    json::value out = header_answer(*b);
    if (height == 0 || !b->certificate.empty()) return out;
    // Finalized because a descendant was: the headers up to the first
    // certified one prove it (a light client checks the hash links).
    json::array chain;
    for (std::uint64_t h = height + 1; h <= m_store.head().height; ++h) {
        auto d = m_store.block_at(h);
        CONET_ASSERT(d.has_value());
        json::object link{{"encoded", util::to_hex_prefixed(codec::encode(d->header))}};
        const bool certified = !d->certificate.empty();
        if (certified) link["certificate"] = rpc::certificate_to_json(d->certificate);
        chain.push_back(std::move(link));
        if (certified) break;
    }
    out.as_object()["finalized_by"] = std::move(chain);
    return out;
}

void Validator::register_methods(rpc::Dispatcher& d) {
    d.add("conet_chainId",
          [this](const json::value&) -> MethodResult { return json::value(m_store.state().chain_id()); });
    d.add("conet_blockNumber",
          [this](const json::value&) -> MethodResult { return json::value(m_store.head().height); });
    d.add("conet_getBlockByHeight", [this](const json::value& p) -> MethodResult {
        auto h = u64_param(p, 0, "a block height");
        if (!h) return util::unexpected(h.error());
        auto b = m_store.block_at(*h);
        if (!b) return util::unexpected(RpcError{rpc::not_found, "no block at that height"});
        return block_json(*b);
    });
    d.add("conet_getBlockByHash", [this](const json::value& p) -> MethodResult {
        auto hash = hex_param<32>(p, 0, "a 32-byte hex block hash");
        if (!hash) return util::unexpected(hash.error());
        auto h = m_store.height_of(*hash);
        auto b = h ? m_store.block_at(*h) : std::nullopt;
        if (!b) return util::unexpected(RpcError{rpc::not_found, "unknown block"});
        return block_json(*b);
    });
    d.add("conet_getHeader", [this](const json::value& p) -> MethodResult {
        const std::uint64_t height = param(p, 0) ? 0 : m_store.head().height;
        auto h = param(p, 0) ? u64_param(p, 0, "a block height") : util::Result<std::uint64_t, RpcError>(height);
        if (!h) return util::unexpected(h.error());
        if (*h > m_store.head().height) return util::unexpected(RpcError{rpc::not_found, "no block at that height"});
        return header_answer_at(*h);
    });
    d.add("conet_getTransaction", [this](const json::value& p) -> MethodResult {
        auto id = hex_param<32>(p, 0, "a 32-byte hex transaction id");
        if (!id) return util::unexpected(id.error());
        if (auto loc = m_store.find_transaction(*id))
            return json::value(json::object{{"status", "committed"}, {"height", loc->height}, {"index", loc->index}});
        if (m_mempool.contains(*id)) return json::value(json::object{{"status", "pending"}});
        return json::value(json::object{{"status", "unknown"}});
    });
    d.add("conet_getAccount", [this](const json::value& p) -> MethodResult {
        const json::value* a = param(p, 0);
        auto addr = a && a->is_string()
                        ? crypto::Address::parse(a->get_string())
                        : crypto::KeyResult<crypto::Address>(util::unexpected(crypto::KeyError::bad_address));
        if (!addr) return util::unexpected(bad_params("param 0 must be an address"));
        const ledger::State& s = m_store.state();
        const ledger::Account* acc = s.account(*addr);
        const ledger::Account value = acc ? *acc : ledger::Account{};
        const auto proof = m_store.tree().prove(ledger::State::account_key(*addr));
        return json::value(json::object{{"address", addr->to_string()},
                                        {"balance", value.balance},
                                        {"nonce", value.nonce},
                                        {"prepaid", value.prepaid},
                                        {"exists", acc != nullptr},
                                        {"height", m_store.head().height},
                                        {"state_root", util::to_hex_prefixed(m_store.head().state_root)},
                                        {"proof", rpc::proof_to_json(proof)}});
    });
    d.add("conet_getNode", [this](const json::value& p) -> MethodResult {
        auto key = hex_param<32>(p, 0, "a 32-byte hex Noise key");
        if (!key) return util::unexpected(key.error());
        const ledger::State& s = m_store.state();
        const ledger::NodeEntry* n = s.node(*key);
        const auto proof = m_store.tree().prove(ledger::State::node_key(*key));
        json::object out{{"height", m_store.head().height},
                         {"state_root", util::to_hex_prefixed(m_store.head().state_root)},
                         {"proof", rpc::proof_to_json(proof)}};
        if (n) {
            out["record"] = n->record.to_json();
            out["record_encoded"] = util::to_hex_prefixed(codec::encode(n->record));
            out["stake"] = n->stake;
        } else {
            out["record"] = nullptr;
        }
        return json::value(std::move(out));
    });
    d.add("conet_listNodes", [this](const json::value& p) -> MethodResult {
        const std::uint64_t offset = param(p, 0) ? u64_param(p, 0, "an offset").value_or(0) : 0;
        const std::uint64_t limit =
            std::min<std::uint64_t>(param(p, 1) ? u64_param(p, 1, "a limit").value_or(100) : 100, 500);
        json::array nodes;
        std::uint64_t i = 0;
        for (const auto& [k, n] : m_store.state().nodes()) {
            if (i++ < offset) continue;
            if (nodes.size() >= limit) break;
            nodes.push_back(json::object{{"record", n.record.to_json()}, {"stake", n.stake}});
        }
        return json::value(json::object{{"nodes", std::move(nodes)}, {"total", m_store.state().nodes().size()}});
    });
    d.add("conet_sendRawTransaction", [this](const json::value& p) -> MethodResult {
        const json::value* v = param(p, 0);
        auto bytes = v && v->is_string()
                         ? util::from_hex(v->get_string())
                         : util::Result<util::Bytes, util::HexError>(util::unexpected(util::HexError::bad_digit));
        if (!bytes) return util::unexpected(bad_params("param 0 must be the hex transaction"));
        auto tx = codec::decode<ledger::Transaction>(*bytes);
        if (!tx) return util::unexpected(RpcError{rpc::rejected, "malformed transaction"});
        auto id = m_mempool.admit(*tx, m_store.state());
        if (!id) return util::unexpected(RpcError{rpc::rejected, std::string(ledger::describe(id.error()))});
        return json::value(util::to_hex_prefixed(*id));
    });
}

}  // namespace conet::node
