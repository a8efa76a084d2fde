// The incentive protocol's part of the state machine (docs/incentives.md):
// probe reports, the epoch's scoring and rewards, grants and the fund.
#include <algorithm>
#include <functional>

#include "conet/ledger/block.hpp"
#include "conet/ledger/state.hpp"
#include "conet/ledger/state_detail.hpp"

namespace conet::ledger {

using detail::payload_as;
using util::unexpected;

const crypto::Address& developer_fund_address() {
    static const crypto::Address fund = [] {
        const crypto::Hash256 h = crypto::keccak256(util::as_bytes(std::string_view("CONET/DeveloperFund/v1")));
        crypto::Address a;
        std::copy(h.begin() + 12, h.end(), a.bytes.begin());
        return a;
    }();
    return fund;
}

const RewardRecord* State::reward(const crypto::Address& a) const {
    auto it = m_rewards->find(a);
    return it == m_rewards->end() ? nullptr : &it->second;
}

void State::put_reward(const crypto::Address& a, RewardRecord r) {
    if (m_rewards.use_count() != 1) m_rewards = std::make_shared<std::map<crypto::Address, RewardRecord>>(*m_rewards);
    m_tree.set(reward_key(a), reward_value_hash(r));
    (*m_rewards)[a] = r;
}

const Grant* State::grant(const crypto::Hash256& id) const {
    auto it = m_grants->find(id);
    return it == m_grants->end() ? nullptr : &it->second;
}

void State::put_grant(const crypto::Hash256& id, Grant g) {
    if (m_grants.use_count() != 1) m_grants = std::make_shared<std::map<crypto::Hash256, Grant>>(*m_grants);
    m_tree.set(grant_key(id), grant_value_hash(g));
    (*m_grants)[id] = std::move(g);
}

std::pair<std::size_t, std::size_t> State::grant_support(const Grant& g) const {
    // One vote per seat of the current set, as consensus counts its quorum:
    // weighing by today's bonds would let a member bond a fortune into the
    // current epoch, outvote the others and unbond again. Tombstoned members
    // (slashed for double-signing) do not vote.
    std::size_t approving = 0, total = 0;
    for (const auto& m : m_validator_set.members) {
        if (const ValidatorBond* b = bond(m); b && b->tombstoned) continue;
        ++total;
        approving += std::binary_search(g.approvals.begin(), g.approvals.end(), m);
    }
    return {approving, total};
}

void State::settle_grant(const crypto::Hash256& id, std::uint64_t epoch) {
    const Grant* current = grant(id);
    CONET_ASSERT(current != nullptr);
    if (current->status != Grant::Status::open) return;
    const auto [approving, total] = grant_support(*current);
    if (total == 0 || approving * 3 <= total * 2) return;
    const Account* fund = account(developer_fund_address());
    if (!fund || fund->balance < current->proposal.amount) return;  // approved, waits for the fund
    Account from = *fund;
    from.balance -= current->proposal.amount;
    put_account(developer_fund_address(), from);
    const Account* to_current = account(current->proposal.recipient);
    Account to = to_current ? *to_current : Account{};
    to.balance += current->proposal.amount;  // within the supply, which fits a u64
    put_account(current->proposal.recipient, to);
    Grant paid = *current;
    paid.status = Grant::Status::paid;
    paid.closed_epoch = epoch;
    put_grant(id, std::move(paid));
}

void State::set_epoch_info(EpochInfo info) {
    if (info == m_epoch) return;
    m_epoch = std::move(info);
    m_tree.set(epoch_key(), epoch_value_hash(m_epoch));
}

void State::count_votes(const std::vector<CertificateVote>& votes) {
    if (votes.empty()) return;
    EpochInfo info = m_epoch;
    for (const CertificateVote& v : votes) {
        CONET_ASSERT(v.validator < m_validator_set.members.size());
        const crypto::Address& a = m_validator_set.members[v.validator];
        auto it = std::lower_bound(info.votes.begin(), info.votes.end(), a,
                                   [](const auto& entry, const crypto::Address& key) { return entry.first < key; });
        if (it == info.votes.end() || it->first != a) it = info.votes.insert(it, {a, 0});
        ++it->second;
        CONET_ASSERT(info.votes.size() <= m_validator_set.members.size());  // the set changes only with the epoch
    }
    set_epoch_info(std::move(info));
}

util::Result<ProbeReportPayload, TxError> State::check_probe_report(const Transaction& tx, const crypto::Address& from,
                                                                    std::uint64_t height) const {
    auto p = payload_as<ProbeReportPayload>(tx);
    if (!p) return unexpected(p.error());
    if (m_params.epoch_blocks == 0) return unexpected(TxError::incentives_off);
    const std::uint64_t epoch = epoch_of(height, m_params.epoch_blocks);
    if (p->epoch != epoch) return unexpected(TxError::wrong_epoch);
    CONET_ASSERT(m_epoch.epoch == epoch && m_validator_set.epoch == epoch);
    const auto& members = m_validator_set.members;
    std::vector<crypto::X25519Public> seen;
    for (const auto& e : p->entries) {
        if (std::find(seen.begin(), seen.end(), e.node) != seen.end()) return unexpected(TxError::duplicate_report);
        seen.push_back(e.node);
        const NodeEntry* n = node(e.node);
        if (!n) return unexpected(TxError::unknown_node);
        if (n->service.jailed) return unexpected(TxError::node_jailed);
        if (!is_assigned_prober(m_epoch.seed, e.node, members, m_params.incentives.probers_per_node, from))
            return unexpected(TxError::not_a_prober);
        if (n->service.probe_epoch == epoch)
            for (const auto& [prober, r] : n->service.probes)
                if (prober == from) return unexpected(TxError::duplicate_report);
    }
    return std::move(*p);
}

util::Result<std::function<void()>, TxError> State::probe_report_effect(const Transaction& tx,
                                                                        const crypto::Address& from,
                                                                        const BlockContext& block) {
    auto p = check_probe_report(tx, from, block.height);
    if (!p) return unexpected(p.error());
    const std::uint64_t epoch = p->epoch;
    return std::function<void()>([this, entries = std::move(p->entries), from, epoch] {
        for (const auto& e : entries) {
            NodeEntry entry = *node(e.node);
            NodeService& svc = entry.service;
            if (svc.probe_epoch != epoch) {
                svc.probe_epoch = epoch;
                svc.probes.clear();
            }
            svc.probes.emplace_back(from, e.result);
            CONET_ASSERT(svc.probes.size() <= m_params.incentives.probers_per_node);
            put_node(e.node, std::move(entry));
        }
    });
}

void State::close_epoch(std::uint64_t epoch, const BlockContext& block) {
    const IncentiveParams& ip = m_params.incentives;
    EpochSummary summary;
    summary.epoch = epoch;
    // Two passes over the registry in key order: score every node, compute
    // the distribution, then write back the entries that changed.
    std::vector<NodeRewardInput> inputs;
    std::vector<NodeService> services;
    inputs.reserve(m_nodes->size());
    services.reserve(m_nodes->size());
    std::vector<std::uint32_t> scores;
    const std::size_t assigned = std::min<std::size_t>(ip.probers_per_node, m_validator_set.members.size());
    const std::size_t min_reports = std::max<std::size_t>(1, (assigned + 1) / 2);
    for (const auto& [key, n] : *m_nodes) {
        NodeService svc = n.service;
        scores.clear();
        if (svc.probe_epoch == epoch)
            for (const auto& [prober, r] : svc.probes) scores.push_back(probe_score_bps(r, ip));
        svc.probes.clear();
        svc.scored = true;
        svc.scored_epoch = epoch;
        svc.reports = static_cast<std::uint32_t>(scores.size());
        svc.score_bps = median_score_bps(scores);
        svc.reward = 0;
        const Tier tier = tier_of(svc.score_bps);
        // A node is measured when at least half of its assigned probers
        // reported (one late prober must not leave a single report to decide).
        // An unmeasured node earns nothing but is not blamed: a prober outage
        // must not jail honest nodes.
        const bool measured = scores.size() >= min_reports;
        if (measured) {
            ++summary.nodes_measured;
            svc.failed_epochs = tier == Tier::fail ? svc.failed_epochs + 1 : 0;
            if (svc.failed_epochs >= ip.jail_after_failed_epochs) svc.jailed = true;
        }
        const std::uint32_t multiplier = svc.jailed || !measured ? 0 : tier_multiplier_bps(tier);
        // Paid on the smaller of the stake at the epoch's start and now; the
        // next epoch starts from today's.
        const std::uint64_t stake = std::min(n.stake, svc.epoch_start_stake);
        svc.epoch_start_stake = n.stake;
        inputs.push_back(NodeRewardInput{key, n.record.operator_address, stake, multiplier});
        services.push_back(std::move(svc));
    }
    // Validators are paid by the votes this epoch's blocks carry in their
    // parent certificates; a validator slashed for double-signing earns nothing.
    std::vector<ValidatorRewardInput> voters;
    for (const auto& [a, n] : m_epoch.votes)
        if (const ValidatorBond* b = bond(a); !b || !b->tombstoned) voters.push_back(ValidatorRewardInput{a, n});
    const EpochRewards rewards = compute_rewards(ip, epoch, inputs, voters);
    if (!services.empty()) {
        auto paid = rewards.per_node.begin();  // sorted by key, as the registry
        std::size_t i = 0;
        std::vector<std::pair<crypto::Hash256, crypto::Hash256>> leaves;
        for (auto& [key, entry] : nodes_for_write()) {
            NodeService& svc = services[i++];
            if (paid != rewards.per_node.end() && paid->first == key) svc.reward = (paid++)->second;
            summary.nodes_paid += svc.reward > 0;
            if (svc == entry.service) continue;  // unchanged entries are not rehashed
            entry.service = std::move(svc);
            leaves.emplace_back(node_key(key), node_value_hash(entry));
        }
        CONET_ASSERT(paid == rewards.per_node.end());
        // In tree order, consecutive updates walk mostly the same (cached) path.
        std::sort(leaves.begin(), leaves.end());
        for (const auto& [k, v] : leaves) m_tree.set(k, v);
    }
    const auto pay = [&](const crypto::Address& a, std::uint64_t amount) {
        // Everything minted stays within the supply bound Genesis::state checked.
        const Account* current = account(a);
        Account acc = current ? *current : Account{};
        const bool overflowed = __builtin_add_overflow(acc.balance, amount, &acc.balance);
        CONET_ASSERT(!overflowed);
        put_account(a, acc);
    };
    for (const auto& [a, payout] : rewards.paid) {
        pay(a, payout.node_reward + payout.validator_reward);
        put_reward(a, RewardRecord{epoch, payout.node_reward, payout.validator_reward, 0});
    }
    if (rewards.fund > 0) {
        pay(developer_fund_address(), rewards.fund);
        RewardRecord r{epoch, 0, 0, rewards.fund};
        if (auto it = rewards.paid.find(developer_fund_address()); it != rewards.paid.end())
            r = RewardRecord{epoch, it->second.node_reward, it->second.validator_reward, rewards.fund};
        put_reward(developer_fund_address(), r);
    }
    summary.emission = rewards.emission;
    summary.node_pool = rewards.node_pool;
    summary.validator_pool = rewards.validator_pool;
    summary.fund = rewards.fund;
    summary.minted = rewards.minted;
    // Grants: an approved one the fund could not pay yet may be paid now;
    // open ones whose expiry epoch is this one expire.
    std::vector<crypto::Hash256> open;
    for (const auto& [id, g] : *m_grants)
        if (g.status == Grant::Status::open) open.push_back(id);
    for (const auto& id : open) {
        settle_grant(id, epoch);
        if (const Grant* g = grant(id); g->status == Grant::Status::open && g->proposal.expiry_epoch <= epoch) {
            Grant expired = *g;
            expired.status = Grant::Status::expired;
            expired.closed_epoch = epoch;
            put_grant(id, std::move(expired));
        }
    }
    // The next epoch's probers are assigned by the hash of this block's
    // parent: final once this block is, and unknown before it was built.
    set_epoch_info(EpochInfo{epoch + 1, block.parent, summary});
}

}  // namespace conet::ledger
