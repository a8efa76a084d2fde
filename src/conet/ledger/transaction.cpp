#include "conet/ledger/transaction.hpp"

#include "conet/ledger/signature_codec.hpp"

namespace conet::ledger {

namespace {
constexpr std::uint8_t max_kind = static_cast<std::uint8_t>(TxKind::usage_claim);
}

crypto::Hash256 Transaction::signing_digest() const {
    codec::Writer w;
    w.u64(chain_id);
    w.u64(nonce);
    w.u64(fee);
    w.u8(static_cast<std::uint8_t>(kind));
    w.bytes(payload);
    crypto::Keccak256 h;
    h.update(util::as_bytes(tx_domain)).update(w.data());
    return h.finish();
}

crypto::KeyResult<crypto::Address> Transaction::sender() const {
    auto pk = crypto::recover(signing_digest(), signature);
    if (!pk) return util::unexpected(pk.error());
    return pk->address();
}

crypto::Hash256 Transaction::hash() const {
    return crypto::keccak256(codec::encode(*this));
}

void Transaction::encode(codec::Writer& w) const {
    w.u64(chain_id);
    w.u64(nonce);
    w.u64(fee);
    w.u8(static_cast<std::uint8_t>(kind));
    w.bytes(payload);
    w.fixed(signature.to_bytes(0));
}

codec::Result<Transaction> Transaction::decode(codec::Reader& r) {
    Transaction tx;
    auto chain = r.u64();
    auto nonce = chain ? r.u64() : chain;
    auto fee = nonce ? r.u64() : nonce;
    if (!fee) return util::unexpected(fee.error());
    auto kind = r.u8();
    if (!kind) return util::unexpected(kind.error());
    if (*kind == 0 || *kind > max_kind) return util::unexpected(codec::CodecError::bad_value);
    auto payload = r.bytes(max_payload_bytes(static_cast<TxKind>(*kind)));
    if (!payload) return util::unexpected(payload.error());
    auto parsed = read_signature(r);
    if (!parsed) return util::unexpected(parsed.error());
    tx.chain_id = *chain;
    tx.nonce = *nonce;
    tx.fee = *fee;
    tx.kind = static_cast<TxKind>(*kind);
    tx.payload = std::move(*payload);
    tx.signature = *parsed;
    return tx;
}

void TransferPayload::encode(codec::Writer& w) const {
    w.fixed(to.bytes);
    w.u64(amount);
}

codec::Result<TransferPayload> TransferPayload::decode(codec::Reader& r) {
    auto to = r.fixed<20>();
    if (!to) return util::unexpected(to.error());
    auto amount = r.u64();
    if (!amount) return util::unexpected(amount.error());
    return TransferPayload{crypto::Address{*to}, *amount};
}

codec::Result<NodePayload> NodePayload::decode(codec::Reader& r) {
    auto rec = NodeRecord::decode(r);
    if (!rec) return util::unexpected(rec.error());
    return NodePayload{std::move(*rec)};
}

codec::Result<NodeKeyPayload> NodeKeyPayload::decode(codec::Reader& r) {
    auto key = r.fixed<32>();
    if (!key) return util::unexpected(key.error());
    return NodeKeyPayload{*key};
}

void StakePayload::encode(codec::Writer& w) const {
    w.fixed(node_key);
    w.u64(amount);
}

codec::Result<StakePayload> StakePayload::decode(codec::Reader& r) {
    auto key = r.fixed<32>();
    if (!key) return util::unexpected(key.error());
    auto amount = r.u64();
    if (!amount) return util::unexpected(amount.error());
    return StakePayload{*key, *amount};
}

void BondPayload::encode(codec::Writer& w) const {
    w.u64(amount);
    w.text(endpoint);
}

codec::Result<BondPayload> BondPayload::decode(codec::Reader& r) {
    auto amount = r.u64();
    if (!amount) return util::unexpected(amount.error());
    auto endpoint = r.text(max_bond_endpoint_bytes);
    if (!endpoint) return util::unexpected(endpoint.error());
    return BondPayload{*amount, std::move(*endpoint)};
}

codec::Result<AmountPayload> AmountPayload::decode(codec::Reader& r) {
    auto amount = r.u64();
    if (!amount) return util::unexpected(amount.error());
    return AmountPayload{*amount};
}

void ProbeReportPayload::encode(codec::Writer& w) const {
    w.u64(epoch);
    w.count(entries.size());
    for (const auto& e : entries) {
        w.fixed(e.node);
        w.boolean(e.result.reachable);
        w.u32(e.result.rtt_ms);
        w.u32(e.result.throughput_kbps);
    }
}

codec::Result<ProbeReportPayload> ProbeReportPayload::decode(codec::Reader& r) {
    ProbeReportPayload p;
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    p.epoch = *epoch;
    auto n = r.count(max_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        ProbeEntry e;
        auto node = r.fixed<32>();
        if (!node) return util::unexpected(node.error());
        e.node = *node;
        auto reachable = r.boolean();
        if (!reachable) return util::unexpected(reachable.error());
        auto rtt = r.u32();
        auto kbps = rtt ? r.u32() : rtt;
        if (!kbps) return util::unexpected(kbps.error());
        e.result = ProbeResult{*reachable, *rtt, *kbps};
        p.entries.push_back(e);
    }
    return p;
}

void GrantProposal::encode(codec::Writer& w) const {
    w.fixed(recipient.bytes);
    w.u64(amount);
    w.text(reference);
    w.u64(expiry_epoch);
}

codec::Result<GrantProposal> GrantProposal::decode(codec::Reader& r) {
    GrantProposal g;
    auto a = r.fixed<20>();
    if (!a) return util::unexpected(a.error());
    g.recipient = crypto::Address{*a};
    auto amount = r.u64();
    if (!amount) return util::unexpected(amount.error());
    g.amount = *amount;
    auto reference = r.text(max_grant_reference_bytes);
    if (!reference) return util::unexpected(reference.error());
    g.reference = std::move(*reference);
    auto expiry = r.u64();
    if (!expiry) return util::unexpected(expiry.error());
    g.expiry_epoch = *expiry;
    return g;
}

void GrantVotePayload::encode(codec::Writer& w) const {
    w.fixed(id);
    w.boolean(approve);
}

codec::Result<GrantVotePayload> GrantVotePayload::decode(codec::Reader& r) {
    auto id = r.fixed<32>();
    if (!id) return util::unexpected(id.error());
    auto approve = r.boolean();
    if (!approve) return util::unexpected(approve.error());
    return GrantVotePayload{*id, *approve};
}

}  // namespace conet::ledger
