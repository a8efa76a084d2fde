#include "conet/relay/usage_meter.hpp"

#include <algorithm>

#include "conet/util/assert.hpp"

namespace conet::relay {

std::string_view describe(ReceiptError e) {
    switch (e) {
        case ReceiptError::malformed: return "malformed receipt";
        case ReceiptError::forged:
            return "receipt signature does not match (or names another payer than the circuit's)";
        case ReceiptError::wrong_epoch: return "receipt for an epoch the exit is not in";
        case ReceiptError::went_backwards: return "receipt for fewer bytes than one already held";
        case ReceiptError::too_many_keys: return "receipt names one more entry than a payer may";
    }
    return "receipt error";
}

util::Result<crypto::Address, ReceiptError> UsageMeter::on_receipt(std::uint64_t circuit, util::ByteView body) {
    auto m = codec::decode<ledger::ReceiptMessage>(body);
    if (!m) return util::unexpected(ReceiptError::malformed);
    if (m_epoch && (m->epoch + 1 < *m_epoch || m->epoch > *m_epoch + 1))
        return util::unexpected(ReceiptError::wrong_epoch);
    const ledger::ReceiptFields f{m_config.chain_id, m_config.exit, m->entry, m->epoch, m->bytes};
    auto pk = crypto::recover(f.digest(), m->signature);
    if (!pk) return util::unexpected(ReceiptError::forged);
    const crypto::Address payer = pk->address();
    auto bound = m_bound.find(circuit);
    if (bound != m_bound.end() && bound->second != payer) return util::unexpected(ReceiptError::forged);
    if (bound == m_bound.end()) {
        m_bound.emplace(circuit, payer);
        m_free.erase(circuit);
        ++m_payers[payer].circuits;
    }
    Payer& p = m_payers[payer];
    if (m->bytes == 0) return payer;  // binds the circuit; nothing to claim
    const Key key{m->epoch, payer, m->entry};
    auto found = m_best.find(key);
    if (found == m_best.end()) {
        if (p.keys >= max_keys_per_payer) return util::unexpected(ReceiptError::too_many_keys);
        found = m_best.emplace(key, Best{}).first;
        ++p.keys;
    }
    Best& best = found->second;
    if (m->bytes < best.bytes) return util::unexpected(ReceiptError::went_backwards);
    p.receipted += m->bytes - best.bytes;
    const std::uint64_t was = unsettled(best);
    if (best.bytes > 0) {
        best.history.emplace_back(best.bytes, best.signature);
        if (best.history.size() > max_history) {
            // Keep the newest half whole and every other one of the older half.
            for (std::size_t i = 1; i < max_history / 2; ++i) best.history.erase(best.history.begin() + i);
        }
    }
    best.bytes = m->bytes;
    best.signature = m->signature;
    p.unsettled_cost += unsettled(best) - was;
    return payer;
}

MeterVerdict UsageMeter::on_bytes(std::uint64_t circuit, std::uint64_t n, Clock::time_point now) {
    if (!enabled()) return MeterVerdict::ok;
    auto bound = m_bound.find(circuit);
    if (bound == m_bound.end()) {
        if (m_config.free_bytes_per_second == 0) return MeterVerdict::payment_required;
        auto [it, fresh] = m_free.try_emplace(circuit);
        Free& f = it->second;
        const double burst = static_cast<double>(m_config.free_burst_bytes);
        if (fresh) {
            f.tokens = burst;
        } else {
            const double secs = std::chrono::duration<double>(now - f.last).count();
            f.tokens = std::min(burst, f.tokens + secs * static_cast<double>(m_config.free_bytes_per_second));
        }
        f.last = now;
        f.tokens -= static_cast<double>(n);  // may go below zero: the circuit then waits (free_tier_wait)
        return MeterVerdict::ok;
    }
    Payer& p = m_payers[bound->second];
    p.carried += n;
    return verdict(bound->second);
}

MeterVerdict UsageMeter::verdict(const crypto::Address& a) const {
    auto it = m_payers.find(a);
    if (it == m_payers.end()) return MeterVerdict::payment_required;
    const Payer& p = it->second;
    if (p.carried > p.receipted && p.carried - p.receipted > m_config.credit_bytes)
        return MeterVerdict::payment_required;
    const std::uint64_t due = owed(p);
    if (p.prepaid && due > *p.prepaid) return MeterVerdict::balance_exhausted;
    // Until the ledger shows the balance, a payer gets the credit's worth and no more.
    if (!p.prepaid && due > ledger::usage_cost(m_config.credit_bytes, m_config.price_per_mib).value_or(0))
        return MeterVerdict::payment_required;
    return MeterVerdict::ok;
}

MeterVerdict UsageMeter::admit_stream(std::uint64_t circuit) const {
    if (!enabled()) return MeterVerdict::ok;
    auto bound = m_bound.find(circuit);
    if (bound == m_bound.end())
        return m_config.free_bytes_per_second > 0 ? MeterVerdict::ok : MeterVerdict::payment_required;
    return verdict(bound->second);
}

bool UsageMeter::on_free_tier(std::uint64_t circuit) const {
    return enabled() && m_config.free_bytes_per_second > 0 && !m_bound.count(circuit);
}

UsageMeter::Clock::duration UsageMeter::free_tier_wait(std::uint64_t circuit, Clock::time_point now) const {
    if (!on_free_tier(circuit)) return Clock::duration::zero();
    auto it = m_free.find(circuit);
    if (it == m_free.end()) return Clock::duration::zero();
    const double secs = std::chrono::duration<double>(now - it->second.last).count();
    const double tokens = it->second.tokens + secs * static_cast<double>(m_config.free_bytes_per_second);
    if (tokens >= 0) return Clock::duration::zero();
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(-tokens / static_cast<double>(m_config.free_bytes_per_second)));
}

void UsageMeter::circuit_closed(std::uint64_t circuit) {
    m_free.erase(circuit);
    auto bound = m_bound.find(circuit);
    if (bound == m_bound.end()) return;
    auto p = m_payers.find(bound->second);
    CONET_ASSERT(p != m_payers.end() && p->second.circuits > 0);
    --p->second.circuits;
    m_bound.erase(bound);
}

std::uint64_t UsageMeter::unsettled(const Best& b) const {
    const auto now = ledger::usage_cost(b.bytes, m_config.price_per_mib).value_or(~std::uint64_t{0});
    const auto before = ledger::usage_cost(b.settled, m_config.price_per_mib).value_or(~std::uint64_t{0});
    return now > before ? now - before : 0;
}

void UsageMeter::set_settled(const crypto::Address& payer, Best& b, std::uint64_t settled) {
    Payer& p = m_payers[payer];
    const std::uint64_t was = unsettled(b);
    b.settled = settled;
    p.unsettled_cost -= std::min<U128>(p.unsettled_cost, was);
    p.unsettled_cost += unsettled(b);
}

std::uint64_t UsageMeter::owed(const Payer& p) const {
    // What the receipts held add to what was settled, plus what the
    // unreceipted bytes would cost.
    U128 total = p.unsettled_cost;
    if (p.carried > p.receipted)
        total += ledger::usage_cost(p.carried - p.receipted, m_config.price_per_mib).value_or(~std::uint64_t{0});
    return total > ~std::uint64_t{0} ? ~std::uint64_t{0} : static_cast<std::uint64_t>(total);
}

void UsageMeter::settle(const std::vector<ledger::UsageClaimPayload>& settled,
                        const std::map<crypto::Address, std::uint64_t>& prepaid) {
    for (const auto& claim : settled)
        for (const auto& r : claim.receipts) {
            auto it = m_best.find(Key{claim.epoch, r.payer, r.entry});
            if (it != m_best.end()) set_settled(r.payer, it->second, std::max(it->second.settled, r.bytes));
        }
    // Only payers this exit serves: a balance for anyone else would only grow the table.
    for (const auto& [a, v] : prepaid)
        if (auto it = m_payers.find(a); it != m_payers.end()) it->second.prepaid = v;
}

std::vector<crypto::Address> UsageMeter::payers() const {
    std::vector<crypto::Address> out;
    for (const auto& [a, p] : m_payers) out.push_back(a);
    return out;
}

std::vector<ledger::UsageClaimPayload> UsageMeter::claims(std::uint64_t epoch) const {
    std::vector<ledger::UsageClaimPayload> out;
    for (auto it = m_best.lower_bound(Key{epoch, {}, {}}); it != m_best.end() && it->first.epoch == epoch; ++it) {
        if (it->second.bytes <= it->second.settled) continue;
        // The ledger refuses a receipt that adds nothing to pay: it waits for more bytes.
        if (unsettled(it->second) == 0) continue;
        if (out.empty() || out.back().receipts.size() >= ledger::UsageClaimPayload::max_receipts)
            out.push_back(ledger::UsageClaimPayload{m_config.exit, epoch, {}});
        out.back().receipts.push_back(
            ledger::ClaimedReceipt{it->first.payer, it->first.entry, it->second.bytes, it->second.signature});
    }
    return out;
}

std::optional<ledger::ClaimedReceipt> UsageMeter::affordable(std::uint64_t epoch, const crypto::Address& payer,
                                                             const crypto::X25519Public& entry,
                                                             std::uint64_t budget) const {
    auto it = m_best.find(Key{epoch, payer, entry});
    if (it == m_best.end()) return std::nullopt;
    const Best& b = it->second;
    auto fits = [&](std::uint64_t bytes) {
        return bytes > b.settled && claim_cost(epoch, payer, entry, bytes) <= budget;
    };
    if (fits(b.bytes)) return ledger::ClaimedReceipt{payer, entry, b.bytes, b.signature};
    for (auto h = b.history.rbegin(); h != b.history.rend(); ++h)
        if (fits(h->first)) return ledger::ClaimedReceipt{payer, entry, h->first, h->second};
    return std::nullopt;
}

std::uint64_t UsageMeter::claim_cost(std::uint64_t epoch, const crypto::Address& payer,
                                     const crypto::X25519Public& entry, std::uint64_t bytes) const {
    auto it = m_best.find(Key{epoch, payer, entry});
    const std::uint64_t settled = it == m_best.end() ? 0 : it->second.settled;
    const auto now = ledger::usage_cost(bytes, m_config.price_per_mib).value_or(~std::uint64_t{0});
    const auto before = ledger::usage_cost(settled, m_config.price_per_mib).value_or(~std::uint64_t{0});
    return now > before ? now - before : 0;
}

void UsageMeter::drop(std::uint64_t epoch, const crypto::Address& payer, const crypto::X25519Public& entry) {
    auto it = m_best.find(Key{epoch, payer, entry});
    if (it != m_best.end()) set_settled(payer, it->second, it->second.bytes);  // nothing left to claim of it
}

void UsageMeter::set_epoch(std::uint64_t epoch) {
    if (m_epoch && epoch > *m_epoch)
        for (auto& [a, p] : m_payers) p.carried = std::min(p.carried, p.receipted);
    m_epoch = epoch;
}

void UsageMeter::forget_before(std::uint64_t epoch) {
    for (auto it = m_best.begin(); it != m_best.end() && it->first.epoch < epoch;) {
        set_settled(it->first.payer, it->second, it->second.bytes);
        Payer& p = m_payers[it->first.payer];
        CONET_ASSERT(p.keys > 0);
        --p.keys;
        it = m_best.erase(it);
    }
    // Payers with no circuit and no receipt left are forgotten too.
    std::erase_if(m_payers, [](const auto& kv) { return kv.second.circuits == 0 && kv.second.keys == 0; });
}

std::optional<UsageMeter::PayerView> UsageMeter::payer(const crypto::Address& a) const {
    auto it = m_payers.find(a);
    if (it == m_payers.end()) return std::nullopt;
    return PayerView{it->second.carried, it->second.receipted, it->second.prepaid, owed(it->second)};
}

}  // namespace conet::relay
