#include "conet/node/ledger_rpc.hpp"

#include "conet/node/incentives_rpc.hpp"
#include "conet/node/rpc_params.hpp"
#include "conet/rpc/proof_json.hpp"
#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;
using rpc::RpcError;
using MethodResult = util::Result<json::value, RpcError>;

namespace {

using rpc_params::bad_params;
using rpc_params::hex_param;
using rpc_params::param;
using rpc_params::u64_param;

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
                        {"parent_certificate", util::to_hex_prefixed(h.parent_certificate)},
                        {"state_root", util::to_hex_prefixed(h.state_root)},
                        {"encoded", util::to_hex_prefixed(codec::encode(h))}};
}

std::string_view tx_kind_name(ledger::TxKind k) {
    using ledger::TxKind;
    switch (k) {
        case TxKind::transfer: return "transfer";
        case TxKind::register_node: return "register_node";
        case TxKind::deregister_node: return "deregister_node";
        case TxKind::stake: return "stake";
        case TxKind::unstake: return "unstake";
        case TxKind::deposit: return "deposit";
        case TxKind::withdraw: return "withdraw";
        case TxKind::validator_bond: return "validator_bond";
        case TxKind::validator_unbond: return "validator_unbond";
        case TxKind::probe_report: return "probe_report";
        case TxKind::unjail: return "unjail";
        case TxKind::evidence: return "evidence";
        case TxKind::grant_propose: return "grant_propose";
        case TxKind::grant_vote: return "grant_vote";
        case TxKind::usage_claim: return "usage_claim";
    }
    return "unknown";
}

/// What a committed transaction did, for people (the explorer): its kind,
/// sender, nonce, fee, and the payload's main fields for the common kinds.
void describe_transaction(json::object& out, const ledger::Transaction& tx) {
    using ledger::TxKind;
    out["kind"] = tx_kind_name(tx.kind);
    if (auto from = tx.sender()) out["from"] = from->to_string();
    out["nonce"] = tx.nonce;
    out["fee"] = tx.fee;
    switch (tx.kind) {
        case TxKind::transfer:
            if (auto p = codec::decode<ledger::TransferPayload>(tx.payload)) {
                out["to"] = p->to.to_string();
                out["amount"] = p->amount;
            }
            break;
        case TxKind::deposit:
        case TxKind::withdraw:
        case TxKind::validator_unbond:
            if (auto p = codec::decode<ledger::AmountPayload>(tx.payload)) out["amount"] = p->amount;
            break;
        case TxKind::stake:
        case TxKind::unstake:
            if (auto p = codec::decode<ledger::StakePayload>(tx.payload)) {
                out["node"] = util::to_hex(p->node_key);
                out["amount"] = p->amount;
            }
            break;
        case TxKind::usage_claim:
            if (auto p = codec::decode<ledger::UsageClaimPayload>(tx.payload)) {
                out["node"] = util::to_hex(p->exit);
                out["epoch"] = p->epoch;
                out["receipts"] = p->receipts.size();
            }
            break;
        default: break;
    }
}

json::value block_json(const ledger::Block& b) {
    json::array txs;
    for (const auto& tx : b.transactions) txs.push_back(json::value(util::to_hex_prefixed(tx.hash())));
    json::object out{
        {"header", header_json(b.header)},
        {"transactions", std::move(txs)},
        {"certificate", rpc::certificate_to_json(b.certificate)},
        {"parent_certificate",
         json::object{
             {"kind", b.parent_certificate.empty()                              ? "none"
                      : b.parent_certificate.kind == ledger::VoteType::notarize ? "notarize"
                                                                                : "finalize"},
             {"votes", rpc::certificate_to_json(ledger::Certificate{b.parent_certificate.votes, std::nullopt})}}}};
    if (b.certificate.reproposal) out["certificate_reproposal"] = rpc::reproposal_to_json(*b.certificate.reproposal);
    return out;
}

}  // namespace

json::value header_answer(const ledger::Block& b, const ledger::BlockStore& store, const ledger::Genesis& genesis) {
    json::value out = block_json(b);
    json::array vals;
    // The set of the block's epoch: its certificate's indices name these.
    const auto set = store.validator_set(ledger::epoch_of(b.header.height, genesis.params.epoch_blocks));
    for (const auto& v : set ? set->members : genesis.validators) vals.push_back(json::value(v.to_string()));
    out.as_object()["validators"] = std::move(vals);
    return out;
}

json::value header_answer_at(const ledger::BlockStore& store, const ledger::Genesis& genesis, std::uint64_t height) {
    auto b = store.block_at(height);
    CONET_ASSERT(b.has_value());
    json::value out = header_answer(*b, store, genesis);
    if (height == 0 || !b->certificate.empty()) return out;
    // Finalized because a descendant was: the headers up to the first
    // certified one prove it (a light client checks the hash links).
    json::array chain;
    for (std::uint64_t h = height + 1; h <= store.head().height; ++h) {
        auto d = store.block_at(h);
        CONET_ASSERT(d.has_value());
        json::object link{{"encoded", util::to_hex_prefixed(codec::encode(d->header))}};
        const bool certified = !d->certificate.empty();
        if (certified) link["certificate"] = rpc::certificate_to_json(d->certificate);
        if (d->certificate.reproposal)
            link["certificate_reproposal"] = rpc::reproposal_to_json(*d->certificate.reproposal);
        chain.push_back(std::move(link));
        if (certified) break;
    }
    out.as_object()["finalized_by"] = std::move(chain);
    return out;
}

void register_ledger_methods(rpc::Dispatcher& d, const ledger::BlockStore& store, const ledger::Genesis& genesis,
                             ledger::Mempool* mempool, AdmittedHook on_admitted) {
    d.add("conet_chainId",
          [&store](const json::value&) -> MethodResult { return json::value(store.state().chain_id()); });
    d.add("conet_blockNumber",
          [&store](const json::value&) -> MethodResult { return json::value(store.head().height); });
    d.add("conet_getBlockByHeight", [&store](const json::value& p) -> MethodResult {
        auto h = u64_param(p, 0, "a block height");
        if (!h) return util::unexpected(h.error());
        auto b = store.block_at(*h);
        if (!b) return util::unexpected(RpcError{rpc::not_found, "no block at that height"});
        return block_json(*b);
    });
    d.add("conet_getRawBlocks", [&store](const json::value& p) -> MethodResult {
        // Followers sync with this: up to max_raw_blocks canonical blocks (with
        // their certificates) from `from`, cut short past max_raw_bytes.
        auto from = u64_param(p, 0, "a block height");
        if (!from) return util::unexpected(from.error());
        auto count = param(p, 1) ? u64_param(p, 1, "a count") : util::Result<std::uint64_t, RpcError>(max_raw_blocks);
        if (!count) return util::unexpected(count.error());
        json::array blocks;
        std::size_t bytes = 0;
        for (std::uint64_t h = *from;
             h <= store.head().height && blocks.size() < std::min(*count, max_raw_blocks) && bytes < max_raw_bytes;
             ++h) {
            auto b = store.block_at(h);
            if (!b) break;
            const auto enc = codec::encode(*b);
            bytes += enc.size();
            blocks.push_back(json::value(util::to_hex_prefixed(enc)));
        }
        return json::value(json::object{{"head", store.head().height}, {"blocks", std::move(blocks)}});
    });
    d.add("conet_getBlockByHash", [&store](const json::value& p) -> MethodResult {
        auto hash = hex_param<32>(p, 0, "a 32-byte hex block hash");
        if (!hash) return util::unexpected(hash.error());
        auto h = store.height_of(*hash);
        auto b = h ? store.block_at(*h) : std::nullopt;
        if (!b) return util::unexpected(RpcError{rpc::not_found, "unknown block"});
        return block_json(*b);
    });
    d.add("conet_getHeader", [&store, &genesis](const json::value& p) -> MethodResult {
        const std::uint64_t height = param(p, 0) ? 0 : store.head().height;
        auto h = param(p, 0) ? u64_param(p, 0, "a block height") : util::Result<std::uint64_t, RpcError>(height);
        if (!h) return util::unexpected(h.error());
        if (*h > store.head().height) return util::unexpected(RpcError{rpc::not_found, "no block at that height"});
        return header_answer_at(store, genesis, *h);
    });
    d.add("conet_getTransaction", [&store, mempool](const json::value& p) -> MethodResult {
        auto id = hex_param<32>(p, 0, "a 32-byte hex transaction id");
        if (!id) return util::unexpected(id.error());
        if (auto loc = store.find_transaction(*id)) {
            json::object out{{"status", "committed"}, {"height", loc->height}, {"index", loc->index}};
            if (auto block = store.block_at(loc->height); block && loc->index < block->transactions.size())
                describe_transaction(out, block->transactions[loc->index]);
            return json::value(std::move(out));
        }
        if (mempool && mempool->contains(*id)) return json::value(json::object{{"status", "pending"}});
        return json::value(json::object{{"status", "unknown"}});
    });
    d.add("conet_getAccount", [&store](const json::value& p) -> MethodResult {
        const json::value* a = param(p, 0);
        auto addr = a && a->is_string()
                        ? crypto::Address::parse(a->get_string())
                        : crypto::KeyResult<crypto::Address>(util::unexpected(crypto::KeyError::bad_address));
        if (!addr) return util::unexpected(bad_params("param 0 must be an address"));
        const ledger::State& s = store.state();
        const ledger::Account* acc = s.account(*addr);
        const ledger::Account value = acc ? *acc : ledger::Account{};
        const auto proof = store.tree().prove(ledger::State::account_key(*addr));
        return json::value(json::object{{"address", addr->to_string()},
                                        {"balance", value.balance},
                                        {"nonce", value.nonce},
                                        {"prepaid", value.prepaid},
                                        {"withdrawing", s.claimable(*addr) - value.prepaid},
                                        {"exists", acc != nullptr},
                                        {"height", store.head().height},
                                        {"state_root", util::to_hex_prefixed(store.head().state_root)},
                                        {"proof", rpc::proof_to_json(proof)}});
    });
    d.add("conet_getNode", [&store](const json::value& p) -> MethodResult {
        auto key = hex_param<32>(p, 0, "a 32-byte hex Noise key");
        if (!key) return util::unexpected(key.error());
        const ledger::State& s = store.state();
        const ledger::NodeEntry* n = s.node(*key);
        const auto proof = store.tree().prove(ledger::State::node_key(*key));
        json::object out{{"height", store.head().height},
                         {"state_root", util::to_hex_prefixed(store.head().state_root)},
                         {"proof", rpc::proof_to_json(proof)}};
        if (n) {
            out["record"] = n->record.to_json();
            out["record_encoded"] = util::to_hex_prefixed(codec::encode(n->record));
            out["stake"] = n->stake;
            out["jailed"] = n->service.jailed;
            out["service_encoded"] = util::to_hex_prefixed(codec::encode(n->service));
        } else {
            out["record"] = nullptr;
        }
        return json::value(std::move(out));
    });
    d.add("conet_getValidatorSet", [&store](const json::value& p) -> MethodResult {
        // The set of an epoch (default: the next block's) with its proof under
        // the state root of the block that stored it: epoch·E, genesis for 0.
        const std::uint64_t current = store.state().validator_set().epoch;
        auto e = param(p, 0) ? u64_param(p, 0, "an epoch") : util::Result<std::uint64_t, RpcError>(current);
        if (!e) return util::unexpected(e.error());
        auto set = store.validator_set(*e);
        auto proof = set ? store.validator_set_proof(*e) : std::nullopt;
        if (!set || !proof)
            return util::unexpected(RpcError{rpc::not_found, "no validator set for epoch " + std::to_string(*e) +
                                                                 " (the current one is " + std::to_string(current) +
                                                                 ")"});
        json::array members, bonds;
        for (const auto& a : set->members) {
            members.push_back(json::value(a.to_string()));
            const ledger::ValidatorBond* b = store.state().bond(a);
            bonds.push_back(json::object{{"address", a.to_string()},
                                         {"stake", b ? b->stake : 0},
                                         {"endpoint", b ? b->endpoint : std::string()},
                                         {"tombstoned", b && b->tombstoned}});
        }
        return json::value(json::object{{"epoch", *e},
                                        {"members", std::move(members)},
                                        {"height", *e * store.state().params().epoch_blocks},
                                        {"proof", rpc::proof_to_json(*proof)},
                                        {"bonds_now", std::move(bonds)},
                                        {"head", store.head().height}});
    });
    d.add("conet_listNodes", [&store](const json::value& p) -> MethodResult {
        const std::uint64_t offset = param(p, 0) ? u64_param(p, 0, "an offset").value_or(0) : 0;
        const std::uint64_t limit =
            std::min<std::uint64_t>(param(p, 1) ? u64_param(p, 1, "a limit").value_or(100) : 100, 500);
        json::array nodes;
        std::uint64_t i = 0;
        for (const auto& [k, n] : store.state().nodes()) {
            if (i++ < offset) continue;
            if (nodes.size() >= limit) break;
            nodes.push_back(json::object{{"record", n.record.to_json()}, {"stake", n.stake}});
        }
        return json::value(json::object{{"nodes", std::move(nodes)}, {"total", store.state().nodes().size()}});
    });
    d.add("conet_sendRawTransaction", [&store, mempool, on_admitted](const json::value& p) -> MethodResult {
        if (!mempool)
            return util::unexpected(RpcError{rpc::rejected,
                                             "this node follows the chain and holds no mempool: send "
                                             "transactions to a validator's RPC"});
        const json::value* v = param(p, 0);
        auto bytes = v && v->is_string()
                         ? util::from_hex(v->get_string())
                         : util::Result<util::Bytes, util::HexError>(util::unexpected(util::HexError::bad_digit));
        if (!bytes) return util::unexpected(bad_params("param 0 must be the hex transaction"));
        auto tx = codec::decode<ledger::Transaction>(*bytes);
        if (!tx) return util::unexpected(RpcError{rpc::rejected, "malformed transaction"});
        if (tx->kind >= ledger::TxKind::probe_report) {
            // An incentive-protocol transaction (probe report, unjail,
            // evidence, grant) that would be reverted is refused here with
            // its reason, rather than included and charged its fee: it is
            // tried on a copy of the head state (O(1) to copy).
            ledger::State trial = store.state();
            const ledger::Header& head = store.head();
            auto tried = trial.apply(*tx, ledger::BlockContext{head.height + 1, head.time_unix, {}, head.hash()});
            std::string what = tx->kind == ledger::TxKind::evidence       ? "evidence refused: "
                               : tx->kind == ledger::TxKind::probe_report ? "probe report refused: "
                               : tx->kind == ledger::TxKind::usage_claim  ? "usage claim refused: "
                                                                          : "refused: ";
            if (tried && tried->reverted && tried->receipt) what += "receipt " + std::to_string(*tried->receipt) + ": ";
            if (tried && tried->reverted)
                return util::unexpected(
                    RpcError{rpc::rejected, what + std::string(ledger::describe(*tried->reverted))});
        }
        auto id = mempool->admit(*tx, store.state());
        if (!id) return util::unexpected(RpcError{rpc::rejected, std::string(ledger::describe(id.error()))});
        if (on_admitted) on_admitted(*tx);
        return json::value(util::to_hex_prefixed(*id));
    });
    register_incentive_methods(d, store);
}

}  // namespace conet::node
