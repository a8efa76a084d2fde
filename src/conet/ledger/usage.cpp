#include "conet/ledger/usage.hpp"

#include "conet/codec/codec.hpp"
#include "conet/crypto/keccak.hpp"
#include "conet/ledger/signature_codec.hpp"
#include "conet/util/assert.hpp"

namespace conet::ledger {

namespace {

__extension__ typedef unsigned __int128 U128;

}  // namespace

crypto::Hash256 ReceiptFields::digest() const {
    // On the stack: claims verify one per receipt, next to a signature recovery.
    std::array<std::uint8_t, 8 + 32 + 32 + 8 + 8> b;
    codec::store_be<std::uint64_t>(b.data(), chain_id);
    std::copy(exit.begin(), exit.end(), b.begin() + 8);
    std::copy(entry.begin(), entry.end(), b.begin() + 40);
    codec::store_be<std::uint64_t>(b.data() + 72, epoch);
    codec::store_be<std::uint64_t>(b.data() + 80, bytes);
    return crypto::keccak256({util::as_bytes(receipt_domain), util::ByteView(b)});
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

void UsageRecord::encode(codec::Writer& w) const {
    w.u64(epoch);
    w.fixed(exit);
    w.fixed(payer.bytes);
    w.fixed(entry);
    w.u64(bytes);
}

codec::Result<UsageRecord> UsageRecord::decode(codec::Reader& r) {
    UsageRecord u;
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    auto exit = r.fixed<32>();
    if (!exit) return util::unexpected(exit.error());
    auto payer = r.fixed<20>();
    if (!payer) return util::unexpected(payer.error());
    auto entry = r.fixed<32>();
    if (!entry) return util::unexpected(entry.error());
    auto bytes = r.u64();
    if (!bytes) return util::unexpected(bytes.error());
    u.epoch = *epoch;
    u.exit = *exit;
    u.payer = crypto::Address{*payer};
    u.entry = *entry;
    u.bytes = *bytes;
    return u;
}

UsageKey usage_record_key(std::uint64_t epoch, const crypto::X25519Public& exit, const crypto::Address& payer,
                          const crypto::X25519Public& entry) {
    UsageKey k{};
    codec::store_be<std::uint64_t>(k.data(), epoch);
    const crypto::Hash256 h =
        crypto::keccak256({util::ByteView(exit), util::ByteView(payer.bytes), util::ByteView(entry)});
    std::copy(h.begin(), h.begin() + 24, k.begin() + 8);
    return k;
}

std::uint64_t usage_key_epoch(const UsageKey& k) {
    return codec::load_be<std::uint64_t>(k.data());
}

std::optional<std::uint64_t> usage_cost(std::uint64_t bytes, std::uint64_t price_per_mib) {
    const U128 cost = static_cast<U128>(bytes) * price_per_mib >> 20;
    if (cost > ~std::uint64_t{0}) return std::nullopt;
    return static_cast<std::uint64_t>(cost);
}

UsageSplit split_usage_fee(std::uint64_t fee, const IncentiveParams& p) {
    UsageSplit s;
    s.protocol = static_cast<std::uint64_t>(static_cast<U128>(fee) * p.usage_protocol_bps / bps_one);
    const std::uint64_t rest = fee - s.protocol;
    s.entry = static_cast<std::uint64_t>(static_cast<U128>(rest) * p.usage_entry_bps / bps_one);
    s.exit = rest - s.entry;
    CONET_ASSERT(s.entry + s.exit + s.protocol == fee);
    return s;
}

}  // namespace conet::ledger
