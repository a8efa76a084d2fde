#include "conet/node/validator.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>

#include "conet/rpc/proof_json.hpp"
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

Validator::Validator(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
                     crypto::PrivateKey key, std::uint32_t block_interval_ms)
    : m_io(io),
      m_store(store),
      m_genesis(genesis),
      m_key(std::move(key)),
      m_interval_ms(block_interval_ms),
      m_timer(io) {}

void Validator::start() {
    boost::asio::co_spawn(m_io, produce_loop(), boost::asio::detached);
}

void Validator::stop() {
    m_stopped = true;
    m_timer.cancel();
}

json::value Validator::header_answer(const ledger::Block& b) const {
    json::value out = block_json(b);
    json::array vals;
    for (const auto& v : m_genesis.validators) vals.push_back(json::value(v.to_string()));
    out.as_object()["validators"] = std::move(vals);
    return out;
}

void Validator::produce_one() {
    auto [block, next] = ledger::build_block(m_store.state(), m_store.head(), m_mempool,
                                             static_cast<std::uint64_t>(std::time(nullptr)), m_key);
    if (auto ok = m_store.commit(block, next); !ok) {
        // A failed durable write leaves state we cannot trust: stop (STYLE.md).
        spdlog::critical("[validator] {}", ok.error());
        std::abort();
    }
    m_mempool.prune(m_store.state());
    if (m_on_commit) m_on_commit(header_answer(block));
    if (!block.transactions.empty())
        spdlog::info("[validator] block {} with {} transactions", block.header.height, block.transactions.size());
}

net::awaitable<void> Validator::produce_loop() {
    while (!m_stopped) {
        m_timer.expires_after(std::chrono::milliseconds(m_interval_ms));
        co_await m_timer.async_wait(net::use_nothrow);
        if (m_stopped) co_return;
        produce_one();
    }
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
        auto b = m_store.block_at(*h);
        if (!b) return util::unexpected(RpcError{rpc::not_found, "no block at that height"});
        return header_answer(*b);
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
