// Paid usage on the ledger (docs/incentives.md "Paid usage"): an exit's
// operator claims its users' cumulative receipts; each receipt pays what it
// adds to what was claimed before, from the payer's prepaid balance, split
// between the entry, the exit and the developer fund.

#include <algorithm>
#include <set>

#include "conet/ledger/block.hpp"
#include "conet/ledger/state_detail.hpp"

namespace conet::ledger {

using detail::add;
using detail::payload_as;

util::Result<State::UsagePlan, State::UsageRefusal> State::plan_usage_claim(const Transaction& tx,
                                                                            const crypto::Address& from,
                                                                            std::uint64_t height) const {
    const auto refuse = [](TxError e, std::optional<std::size_t> i = std::nullopt) {
        return util::unexpected(UsageRefusal{e, i});
    };
    auto p = payload_as<UsageClaimPayload>(tx);
    if (!p) return refuse(p.error());
    const IncentiveParams& ip = m_params.incentives;
    if (m_params.epoch_blocks == 0 || ip.usage_price_per_mib == 0) return refuse(TxError::usage_off);
    const std::uint64_t current = epoch_of(height, m_params.epoch_blocks);
    if (p->epoch != current && !(current > 0 && p->epoch == current - 1)) return refuse(TxError::wrong_epoch);
    const NodeEntry* exit = node(p->exit);
    if (!exit) return refuse(TxError::unknown_node);
    if (exit->record.operator_address != from) return refuse(TxError::not_operator);
    if ((exit->record.capabilities & capability_exit) == 0) return refuse(TxError::not_an_exit);

    UsagePlan plan;
    std::set<std::pair<crypto::Address, crypto::X25519Public>> seen;
    const auto credit = [&plan](const crypto::Address& to, std::uint64_t amount) {
        if (amount == 0) return true;
        std::uint64_t& c = plan.credits[to];
        return add(c, amount, c);
    };
    crypto::Address entry_operator;
    for (std::size_t i = 0; i < p->receipts.size(); ++i) {
        const ClaimedReceipt& c = p->receipts[i];
        if (!seen.emplace(c.payer, c.entry).second) return refuse(TxError::duplicate_receipt, i);
        const ReceiptFields fields{m_chain_id, p->exit, c.entry, p->epoch, c.bytes};
        auto signer = crypto::recover(fields.digest(), c.signature);
        if (!signer || signer->address() != c.payer) return refuse(TxError::forged_receipt, i);
        const UsageKey key = usage_record_key(p->epoch, p->exit, c.payer, c.entry);
        const UsageRecord* claimed = m_usage.find(key);
        const std::uint64_t before = claimed ? claimed->bytes : 0;
        if (c.bytes <= before) return refuse(TxError::replayed_receipt, i);
        const auto cost_now = usage_cost(c.bytes, ip.usage_price_per_mib);
        if (!cost_now) return refuse(TxError::overflow, i);
        const std::uint64_t fee = *cost_now - *usage_cost(before, ip.usage_price_per_mib);
        // Every record costs its payer something, so state cannot be grown for free.
        if (fee == 0) return refuse(TxError::zero_amount, i);
        std::uint64_t& debit = plan.debits[c.payer];
        if (fee > claimable(c.payer) - debit) return refuse(TxError::over_balance, i);
        debit += fee;
        const UsageSplit split = split_usage_fee(fee, ip);
        // An entry that has left the registry is paid to the fund instead.
        if (i == 0 || c.entry != p->receipts[i - 1].entry) {
            const NodeEntry* entry = node(c.entry);
            entry_operator = entry ? entry->record.operator_address : developer_fund_address();
        }
        if (!credit(entry_operator, split.entry) || !credit(exit->record.operator_address, split.exit) ||
            !credit(developer_fund_address(), split.protocol))
            return refuse(TxError::overflow, i);
        plan.records[key] = UsageRecord{p->epoch, p->exit, c.payer, c.entry, c.bytes};
    }
    return plan;
}

std::uint64_t State::withdrawal_release_height(std::uint64_t height) const {
    const std::uint64_t delayed = height + m_params.withdraw_delay_blocks;
    const std::uint64_t E = m_params.epoch_blocks;
    if (E == 0 || m_params.incentives.usage_price_per_mib == 0) return delayed;
    // Receipts of this epoch can be claimed until the next epoch's last
    // block, whose claims apply before its end_block releases anything.
    return std::max(delayed, (epoch_of(height, E) + 2) * E);
}

std::uint64_t State::claimable(const crypto::Address& payer) const {
    const Account* a = account(payer);
    Amount128 total = a ? a->prepaid : 0;
    for (const Pending& p : m_pending)
        if (p.withdrawal && p.owner == payer) total += p.amount;
    return total > ~std::uint64_t{0} ? ~std::uint64_t{0} : static_cast<std::uint64_t>(total);
}

void State::put_usage(const UsageKey& k, const UsageRecord& u) {
    m_tree.set(usage_key(k), usage_value_hash(u));
    m_usage.set(k, u);
}

void State::prune_usage(std::uint64_t epoch) {
    std::vector<UsageKey> old;
    m_usage.for_each([&](const UsageKey& k, const UsageRecord&) {
        if (usage_key_epoch(k) < epoch) old.push_back(k);
    });
    for (const auto& k : old) {
        m_usage.erase(k);
        m_tree.erase(usage_key(k));
    }
}

}  // namespace conet::ledger
