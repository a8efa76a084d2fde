#include "conet/ledger/usage.hpp"

#include "conet/crypto/keccak.hpp"
#include "conet/util/assert.hpp"

namespace conet::ledger {

namespace {

codec::Result<crypto::Signature> read_signature(codec::Reader& r) {
    auto sig = r.fixed<65>();
    if (!sig) return util::unexpected(sig.error());
    if ((*sig)[64] > 1) return util::unexpected(codec::CodecError::bad_value);
    auto parsed = crypto::Signature::from_bytes(*sig);
    if (!parsed) return util::unexpected(codec::CodecError::bad_value);
    return *parsed;
}

}  // namespace

crypto::Hash256 ReceiptFields::digest() const {
    codec::Writer w;
    w.u64(chain_id);
    w.fixed(exit);
    w.fixed(entry);
    w.u64(epoch);
    w.u64(bytes);
    crypto::Keccak256 h;
    h.update(util::as_bytes(receipt_domain)).update(w.data());
    return h.finish();
}

void ReceiptMessage::encode(codec::Writer& w) const {
    w.u64(epoch);
    w.fixed(entry);
    w.u64(bytes);
    w.fixed(signature.to_bytes(0));
}

codec::Result<ReceiptMessage> ReceiptMessage::decode(codec::Reader& r) {
    ReceiptMessage m;
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    auto entry = r.fixed<32>();
    if (!entry) return util::unexpected(entry.error());
    auto bytes = r.u64();
    if (!bytes) return util::unexpected(bytes.error());
    auto sig = read_signature(r);
    if (!sig) return util::unexpected(sig.error());
    m.epoch = *epoch;
    m.entry = *entry;
    m.bytes = *bytes;
    m.signature = *sig;
    return m;
}

void UsageClaimPayload::encode(codec::Writer& w) const {
    w.fixed(exit);
    w.u64(epoch);
    w.count(receipts.size());
    for (const auto& c : receipts) {
        w.fixed(c.payer.bytes);
        w.fixed(c.entry);
        w.u64(c.bytes);
        w.fixed(c.signature.to_bytes(0));
    }
}

codec::Result<UsageClaimPayload> UsageClaimPayload::decode(codec::Reader& r) {
    UsageClaimPayload p;
    auto exit = r.fixed<32>();
    if (!exit) return util::unexpected(exit.error());
    p.exit = *exit;
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    p.epoch = *epoch;
    auto n = r.count(max_receipts);
    if (!n) return util::unexpected(n.error());
    if (*n == 0) return util::unexpected(codec::CodecError::bad_value);
    p.receipts.reserve(*n);
    for (std::size_t i = 0; i < *n; ++i) {
        ClaimedReceipt c;
        auto payer = r.fixed<20>();
        if (!payer) return util::unexpected(payer.error());
        auto entry = r.fixed<32>();
        if (!entry) return util::unexpected(entry.error());
        auto bytes = r.u64();
        if (!bytes) return util::unexpected(bytes.error());
        auto sig = read_signature(r);
        if (!sig) return util::unexpected(sig.error());
        c.payer = crypto::Address{*payer};
        c.entry = *entry;
        c.bytes = *bytes;
        c.signature = *sig;
        p.receipts.push_back(c);
    }
    return p;
}

std::optional<std::uint64_t> usage_cost(std::uint64_t bytes, std::uint64_t price_per_mib) {
    const unsigned __int128 cost = static_cast<unsigned __int128>(bytes) * price_per_mib >> 20;
    if (cost > ~std::uint64_t{0}) return std::nullopt;
    return static_cast<std::uint64_t>(cost);
}

UsageSplit split_usage_fee(std::uint64_t fee, const IncentiveParams& p) {
    UsageSplit s;
    s.protocol = static_cast<std::uint64_t>(static_cast<unsigned __int128>(fee) * p.usage_protocol_bps / bps_one);
    const std::uint64_t rest = fee - s.protocol;
    s.entry = static_cast<std::uint64_t>(static_cast<unsigned __int128>(rest) * p.usage_entry_bps / bps_one);
    s.exit = rest - s.entry;
    CONET_ASSERT(s.entry + s.exit + s.protocol == fee);
    return s;
}

}  // namespace conet::ledger
