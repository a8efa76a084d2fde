#include "conet/ledger/state.hpp"

#include <algorithm>
#include <functional>

#include "conet/ledger/block.hpp"

namespace conet::ledger {

namespace {

using util::unexpected;

bool add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    return !__builtin_add_overflow(a, b, &out);
}

template <class P>
util::Result<P, TxError> payload_as(const Transaction& tx) {
    auto p = codec::decode<P>(tx.payload);
    if (!p) return unexpected(TxError::malformed_payload);
    return std::move(*p);
}

crypto::Hash256 key_for(std::string_view space, util::ByteView id) {
    return crypto::keccak256({util::as_bytes(space), id});
}

}  // namespace

std::string_view describe(TxError e) {
    switch (e) {
        case TxError::wrong_chain: return "transaction is for another chain";
        case TxError::bad_signature: return "signature does not recover a sender";
        case TxError::bad_nonce: return "nonce is not the account's next nonce";
        case TxError::fee_too_low: return "fee below the minimum";
        case TxError::insufficient_funds: return "insufficient funds";
        case TxError::malformed_payload: return "malformed payload";
        case TxError::zero_amount: return "amount must be positive";
        case TxError::overflow: return "amount overflows";
        case TxError::bad_record: return "node record invalid or not signed by the sender";
        case TxError::unknown_node: return "unknown node";
        case TxError::not_operator: return "sender does not operate this node";
        case TxError::too_many_nodes: return "operator has too many nodes";
        case TxError::insufficient_stake: return "insufficient stake";
        case TxError::bad_endpoint: return "endpoint is not host:port";
        case TxError::validator_set_fixed: return "this chain's validator set is fixed at genesis (no validator slots)";
        case TxError::incentives_off: return "this chain has no epochs, so no probes or rewards";
        case TxError::wrong_epoch: return "probe report is not for the current epoch";
        case TxError::not_a_prober: return "sender is not assigned to probe this node this epoch";
        case TxError::duplicate_report: return "this prober already reported this node this epoch";
        case TxError::node_jailed: return "node is jailed (not probed until its operator unjails it)";
        case TxError::not_jailed: return "node is not jailed";
        case TxError::bad_evidence: return "not double-sign evidence (two conflicting votes of one key in one view)";
        case TxError::not_a_validator: return "the signer has no validator bond to slash";
        case TxError::already_slashed: return "this validator was already slashed for double-signing";
        case TxError::bad_grant: return "a grant needs a positive amount and an expiry epoch not yet past";
        case TxError::too_many_grants: return "too many grants are open; wait until some are paid or expire";
        case TxError::unknown_grant: return "unknown grant";
        case TxError::grant_closed: return "the grant was already paid or has expired";
        case TxError::not_in_set: return "only the current validators vote on grants";
    }
    return "unknown transaction error";
}

State::State(std::uint64_t chain_id, Params params)
    : m_chain_id(chain_id),
      m_params(params),
      m_nodes(std::make_shared<std::map<crypto::X25519Public, NodeEntry>>()),
      m_bonds(std::make_shared<std::map<crypto::Address, ValidatorBond>>()),
      m_rewards(std::make_shared<std::map<crypto::Address, RewardRecord>>()),
      m_grants(std::make_shared<std::map<crypto::Hash256, Grant>>()) {
    m_tree.set(pending_key(), pending_value_hash(m_pending));
    m_tree.set(validator_set_key(), validator_set_value_hash(m_validator_set));
    m_tree.set(epoch_key(), epoch_value_hash(m_epoch));
}

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

std::pair<Amount128, Amount128> State::grant_support(const Grant& g) const {
    // Stake is the validators' bonds; a chain without bonds counts one per validator.
    const auto weight = [&](const crypto::Address& a) -> Amount128 {
        if (m_params.validator_slots == 0) return 1;
        const ValidatorBond* b = bond(a);
        return b ? b->stake : 0;
    };
    Amount128 approving = 0, total = 0;
    for (const auto& m : m_validator_set.members) {
        total += weight(m);
        if (std::binary_search(g.approvals.begin(), g.approvals.end(), m)) approving += weight(m);
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

void State::set_genesis_validators(const std::vector<crypto::Address>& validators, std::uint64_t stake) {
    set_validator_set(ValidatorSet{0, validators});
    if (stake > 0)
        for (const auto& v : validators) put_bond(v, ValidatorBond{stake, {}});
}

const ValidatorBond* State::bond(const crypto::Address& a) const {
    auto it = m_bonds->find(a);
    return it == m_bonds->end() ? nullptr : &it->second;
}

void State::put_bond(const crypto::Address& a, ValidatorBond bond) {
    if (m_bonds.use_count() != 1) m_bonds = std::make_shared<std::map<crypto::Address, ValidatorBond>>(*m_bonds);
    if (bond.stake == 0 && !bond.tombstoned) {
        m_tree.erase(bond_key(a));
        m_bonds->erase(a);
        return;
    }
    m_tree.set(bond_key(a), bond_value_hash(bond));
    (*m_bonds)[a] = std::move(bond);
}

void State::set_validator_set(ValidatorSet set) {
    if (set == m_validator_set) return;
    m_validator_set = std::move(set);
    m_tree.set(validator_set_key(), validator_set_value_hash(m_validator_set));
}

ValidatorSet State::next_validator_set(std::uint64_t epoch) const {
    ValidatorSet next{epoch, m_validator_set.members};
    if (m_params.validator_slots == 0) return next;
    std::vector<std::pair<std::uint64_t, crypto::Address>> ranked;
    for (const auto& [a, b] : *m_bonds)
        if (!b.tombstoned && b.stake >= std::max<std::uint64_t>(m_params.min_validator_stake, 1))
            ranked.emplace_back(b.stake, a);
    if (ranked.empty()) return next;  // nobody qualifies: the chain keeps its validators
    std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    if (ranked.size() > m_params.validator_slots) ranked.resize(m_params.validator_slots);
    next.members.clear();
    for (const auto& [stake, a] : ranked) next.members.push_back(a);
    std::sort(next.members.begin(), next.members.end());
    return next;
}

util::Result<void, TxError> State::credit(const crypto::Address& a, std::uint64_t amount) {
    const Account* current = account(a);
    Account acc = current ? *current : Account{};
    if (!add(acc.balance, amount, acc.balance)) return unexpected(TxError::overflow);
    put_account(a, acc);
    return {};
}

const NodeEntry* State::node(const crypto::X25519Public& key) const {
    auto it = m_nodes->find(key);
    return it == m_nodes->end() ? nullptr : &it->second;
}

void State::put_account(const crypto::Address& a, const Account& acc) {
    m_accounts.set(a.bytes, acc);
    m_tree.set(account_key(a), account_value_hash(acc));
}

std::map<crypto::X25519Public, NodeEntry>& State::nodes_for_write() {
    if (m_nodes.use_count() != 1) m_nodes = std::make_shared<std::map<crypto::X25519Public, NodeEntry>>(*m_nodes);
    return *m_nodes;
}

void State::put_node(const crypto::X25519Public& key, NodeEntry entry) {
    m_tree.set(node_key(key), node_value_hash(entry));
    nodes_for_write()[key] = std::move(entry);
}

void State::erase_node(const crypto::X25519Public& key) {
    m_tree.erase(node_key(key));
    nodes_for_write().erase(key);
}

void State::set_pending(std::vector<Pending> pending) {
    if (pending == m_pending) return;
    m_pending = std::move(pending);
    m_tree.set(pending_key(), pending_value_hash(m_pending));
}

util::Result<void, TxError> State::check_payable(const Transaction& tx, const crypto::Address& sender) const {
    if (tx.chain_id != m_chain_id) return unexpected(TxError::wrong_chain);
    const Account* acc = account(sender);
    if (tx.nonce != (acc ? acc->nonce : 0)) return unexpected(TxError::bad_nonce);
    if (tx.fee < m_params.min_fee) return unexpected(TxError::fee_too_low);
    if ((acc ? acc->balance : 0) < tx.fee) return unexpected(TxError::insufficient_funds);
    return {};
}

util::Result<Applied, TxError> State::apply(const Transaction& tx, const BlockContext& block,
                                            const crypto::Address* known_sender) {
    // Every change is staged in `staged` (accounts) and `effect` (nodes, pending)
    // and committed only after every check has passed: all or nothing, except
    // that a payable transaction whose effect fails still pays (reverted).
    if (tx.chain_id != m_chain_id) return unexpected(TxError::wrong_chain);
    auto from = known_sender ? crypto::KeyResult<crypto::Address>(*known_sender) : tx.sender();
    if (!from) return unexpected(TxError::bad_signature);
    if (auto payable = check_payable(tx, *from); !payable) return unexpected(payable.error());

    std::map<crypto::Address, Account> staged;
    auto acct = [&](const crypto::Address& a) -> Account& {
        auto found = staged.find(a);
        if (found != staged.end()) return found->second;
        const Account* current = account(a);
        return staged[a] = current ? *current : Account{};
    };

    Account& sender = acct(*from);
    sender.balance -= tx.fee;
    sender.nonce += 1;
    Account& proposer = acct(block.proposer);  // fees pay the block's proposer
    if (!add(proposer.balance, tx.fee, proposer.balance)) return unexpected(TxError::overflow);
    const auto fee_paid = staged;

    std::function<void()> effect = [] {};
    const auto result = [&]() -> util::Result<void, TxError> {
        switch (tx.kind) {
            case TxKind::transfer: {
                auto p = payload_as<TransferPayload>(tx);
                if (!p) return unexpected(p.error());
                if (p->amount == 0) return unexpected(TxError::zero_amount);
                Account& s = acct(*from);
                if (s.balance < p->amount) return unexpected(TxError::insufficient_funds);
                s.balance -= p->amount;
                Account& to = acct(p->to);
                if (!add(to.balance, p->amount, to.balance)) return unexpected(TxError::overflow);
                break;
            }
            case TxKind::register_node: {
                auto p = payload_as<NodePayload>(tx);
                if (!p) return unexpected(p.error());
                if (p->record.operator_address != *from || !p->record.verify(m_chain_id, block.time_unix))
                    return unexpected(TxError::bad_record);
                const NodeEntry* existing = node(p->record.noise_key);
                if (existing && existing->record.operator_address != *from) return unexpected(TxError::not_operator);
                if (!existing) {
                    std::size_t owned = 0;
                    for (const auto& [k, n] : *m_nodes) owned += n.record.operator_address == *from;
                    if (owned >= m_params.max_nodes_per_operator) return unexpected(TxError::too_many_nodes);
                }
                NodeEntry entry{p->record, existing ? existing->stake : 0,
                                existing ? existing->service : NodeService{}};
                effect = [this, entry = std::move(entry)] { put_node(entry.record.noise_key, entry); };
                break;
            }
            case TxKind::deregister_node: {
                auto p = payload_as<NodeKeyPayload>(tx);
                if (!p) return unexpected(p.error());
                const NodeEntry* n = node(p->node_key);
                if (!n) return unexpected(TxError::unknown_node);
                if (n->record.operator_address != *from) return unexpected(TxError::not_operator);
                const Pending refund{*from, n->stake, block.height + m_params.unbonding_blocks};
                effect = [this, key = p->node_key, refund] {
                    erase_node(key);
                    if (refund.amount > 0) {
                        auto pending = m_pending;
                        pending.push_back(refund);
                        set_pending(std::move(pending));
                    }
                };
                break;
            }
            case TxKind::stake:
            case TxKind::unstake: {
                auto p = payload_as<StakePayload>(tx);
                if (!p) return unexpected(p.error());
                if (p->amount == 0) return unexpected(TxError::zero_amount);
                const NodeEntry* n = node(p->node_key);
                if (!n) return unexpected(TxError::unknown_node);
                if (n->record.operator_address != *from) return unexpected(TxError::not_operator);
                if (tx.kind == TxKind::stake) {
                    Account& s = acct(*from);
                    if (s.balance < p->amount) return unexpected(TxError::insufficient_funds);
                    std::uint64_t stake = 0;
                    if (!add(n->stake, p->amount, stake)) return unexpected(TxError::overflow);
                    s.balance -= p->amount;
                    effect = [this, key = p->node_key, stake] {
                        NodeEntry entry = *node(key);
                        entry.stake = stake;
                        put_node(key, std::move(entry));
                    };
                } else {
                    if (n->stake < p->amount) return unexpected(TxError::insufficient_stake);
                    const Pending back{*from, p->amount, block.height + m_params.unbonding_blocks};
                    effect = [this, key = p->node_key, stake = n->stake - p->amount, back] {
                        NodeEntry entry = *node(key);
                        entry.stake = stake;
                        put_node(key, std::move(entry));
                        auto pending = m_pending;
                        pending.push_back(back);
                        set_pending(std::move(pending));
                    };
                }
                break;
            }
            case TxKind::deposit:
            case TxKind::withdraw: {
                auto p = payload_as<AmountPayload>(tx);
                if (!p) return unexpected(p.error());
                if (p->amount == 0) return unexpected(TxError::zero_amount);
                Account& s = acct(*from);
                if (tx.kind == TxKind::deposit) {
                    if (s.balance < p->amount) return unexpected(TxError::insufficient_funds);
                    if (!add(s.prepaid, p->amount, s.prepaid)) return unexpected(TxError::overflow);
                    s.balance -= p->amount;
                } else {
                    if (s.prepaid < p->amount) return unexpected(TxError::insufficient_funds);
                    s.prepaid -= p->amount;
                    const Pending back{*from, p->amount, block.height + m_params.withdraw_delay_blocks};
                    effect = [this, back] {
                        auto pending = m_pending;
                        pending.push_back(back);
                        set_pending(std::move(pending));
                    };
                }
                break;
            }
            case TxKind::validator_bond: {
                auto p = payload_as<BondPayload>(tx);
                if (!p) return unexpected(p.error());
                if (m_params.validator_slots == 0) return unexpected(TxError::validator_set_fixed);
                if (p->amount == 0) return unexpected(TxError::zero_amount);
                if (!p->endpoint.empty() && !Endpoint::parse(p->endpoint)) return unexpected(TxError::bad_endpoint);
                Account& s = acct(*from);
                if (s.balance < p->amount) return unexpected(TxError::insufficient_funds);
                const ValidatorBond* current = bond(*from);
                if (current && current->tombstoned) return unexpected(TxError::already_slashed);
                ValidatorBond next = current ? *current : ValidatorBond{};
                if (!add(next.stake, p->amount, next.stake)) return unexpected(TxError::overflow);
                if (!p->endpoint.empty()) next.endpoint = p->endpoint;
                s.balance -= p->amount;
                effect = [this, a = *from, next] { put_bond(a, next); };
                break;
            }
            case TxKind::validator_unbond: {
                auto p = payload_as<AmountPayload>(tx);
                if (!p) return unexpected(p.error());
                if (p->amount == 0) return unexpected(TxError::zero_amount);
                const ValidatorBond* current = bond(*from);
                if (!current || current->stake < p->amount) return unexpected(TxError::insufficient_stake);
                // The funds stay at stake for the unbonding period: a validator
                // still in this epoch's set keeps something to lose.
                ValidatorBond next = *current;
                next.stake -= p->amount;
                const Pending back{*from, p->amount, block.height + m_params.unbonding_blocks};
                effect = [this, a = *from, next, back] {
                    put_bond(a, next);
                    auto pending = m_pending;
                    pending.push_back(back);
                    set_pending(std::move(pending));
                };
                break;
            }
            case TxKind::probe_report: {
                auto e = probe_report_effect(tx, *from, block);
                if (!e) return unexpected(e.error());
                effect = std::move(*e);
                break;
            }
            case TxKind::evidence: {
                auto p = payload_as<EvidencePayload>(tx);
                if (!p) return unexpected(p.error());
                if (p->epoch > epoch_of(block.height, m_params.epoch_blocks)) return unexpected(TxError::wrong_epoch);
                auto signer = double_signer(m_chain_id, *p);
                if (!signer) return unexpected(TxError::bad_evidence);
                const ValidatorBond* current = bond(*signer);
                if (!current) return unexpected(TxError::not_a_validator);
                if (current->tombstoned) return unexpected(TxError::already_slashed);
                ValidatorBond next = *current;
                const auto slashed = static_cast<std::uint64_t>(static_cast<Amount128>(next.stake) *
                                                                m_params.incentives.slash_bps / bps_one);
                next.stake -= slashed;
                next.tombstoned = true;
                Account& fund = acct(developer_fund_address());
                if (!add(fund.balance, slashed, fund.balance)) return unexpected(TxError::overflow);
                effect = [this, a = *signer, next] { put_bond(a, next); };
                break;
            }
            case TxKind::grant_propose: {
                auto p = payload_as<GrantProposal>(tx);
                if (!p) return unexpected(p.error());
                const std::uint64_t epoch = epoch_of(block.height, m_params.epoch_blocks);
                if (p->amount == 0 || p->expiry_epoch < epoch) return unexpected(TxError::bad_grant);
                std::size_t open = 0;
                for (const auto& [id, g] : *m_grants) open += g.status == Grant::Status::open;
                if (open >= max_open_grants) return unexpected(TxError::too_many_grants);
                effect = [this, id = tx.hash(), g = Grant{*p, *from, epoch, {}, Grant::Status::open, 0}] {
                    put_grant(id, g);
                };
                break;
            }
            case TxKind::grant_vote: {
                auto p = payload_as<GrantVotePayload>(tx);
                if (!p) return unexpected(p.error());
                const Grant* g = grant(p->id);
                if (!g) return unexpected(TxError::unknown_grant);
                if (g->status != Grant::Status::open) return unexpected(TxError::grant_closed);
                const auto& members = m_validator_set.members;
                if (std::find(members.begin(), members.end(), *from) == members.end())
                    return unexpected(TxError::not_in_set);
                Grant next = *g;
                auto at = std::lower_bound(next.approvals.begin(), next.approvals.end(), *from);
                const bool present = at != next.approvals.end() && *at == *from;
                if (p->approve && !present) next.approvals.insert(at, *from);
                if (!p->approve && present) next.approvals.erase(at);
                effect = [this, id = p->id, next, epoch = epoch_of(block.height, m_params.epoch_blocks)] {
                    put_grant(id, next);
                    settle_grant(id, epoch);
                };
                break;
            }
            case TxKind::unjail: {
                auto p = payload_as<NodeKeyPayload>(tx);
                if (!p) return unexpected(p.error());
                const NodeEntry* n = node(p->node_key);
                if (!n) return unexpected(TxError::unknown_node);
                if (n->record.operator_address != *from) return unexpected(TxError::not_operator);
                if (!n->service.jailed) return unexpected(TxError::not_jailed);
                effect = [this, key = p->node_key] {
                    NodeEntry entry = *node(key);
                    entry.service.jailed = false;
                    entry.service.failed_epochs = 0;
                    put_node(key, std::move(entry));
                };
                break;
            }
        }
        return {};
    }();

    Applied applied;
    if (!result) {
        applied.reverted = result.error();
        staged = fee_paid;
        effect = [] {};
    }
    for (const auto& [a, acc] : staged) put_account(a, acc);
    effect();
    return applied;
}

void State::end_block(const BlockContext& block) {
    std::vector<Pending> keep;
    for (const Pending& p : m_pending) {
        if (p.release_height <= block.height) {
            // Pending funds were part of the supply; returning them cannot overflow
            // a u64 unless the supply itself exceeds it, which credit() prevents.
            const Account* current = account(p.owner);
            Account acc = current ? *current : Account{};
            acc.balance += p.amount;
            put_account(p.owner, acc);
        } else {
            keep.push_back(p);
        }
    }
    set_pending(std::move(keep));
    if (ends_epoch(block.height, m_params.epoch_blocks)) {
        const std::uint64_t epoch = epoch_of(block.height, m_params.epoch_blocks);
        close_epoch(epoch, block);
        set_validator_set(next_validator_set(epoch + 1));
    }
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
        // An unmeasured node (its probers did not report) earns nothing but is
        // not blamed: a prober outage must not jail honest nodes.
        if (!scores.empty()) {
            ++summary.nodes_measured;
            svc.failed_epochs = tier == Tier::fail ? svc.failed_epochs + 1 : 0;
            if (svc.failed_epochs >= ip.jail_after_failed_epochs) svc.jailed = true;
        }
        const std::uint32_t multiplier = svc.jailed ? 0 : tier_multiplier_bps(tier);
        inputs.push_back(NodeRewardInput{key, n.record.operator_address, n.stake, multiplier});
        services.push_back(std::move(svc));
    }
    // Validators are paid by the votes certificates on the ledger show they
    // cast; the ledger does not record certificates yet, so that pool is not
    // minted (docs/incentives.md, "Not yet built").
    const EpochRewards rewards = compute_rewards(ip, epoch, inputs, {});
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

namespace {
constexpr std::size_t max_snapshot_entries = 50'000'000;
}

void Params::encode(codec::Writer& w) const {
    w.u64(min_fee);
    w.u64(unbonding_blocks);
    w.u64(withdraw_delay_blocks);
    w.u64(max_nodes_per_operator);
    w.u64(epoch_blocks);
    w.u64(validator_slots);
    w.u64(min_validator_stake);
    incentives.encode(w);
}

codec::Result<Params> Params::decode(codec::Reader& r) {
    std::uint64_t v[7];
    for (auto& x : v) {
        auto got = r.u64();
        if (!got) return util::unexpected(got.error());
        x = *got;
    }
    auto incentives = IncentiveParams::decode(r);
    if (!incentives) return util::unexpected(incentives.error());
    return Params{v[0], v[1], v[2], static_cast<std::size_t>(v[3]), v[4], v[5], v[6], *incentives};
}

void ValidatorBond::encode(codec::Writer& w) const {
    w.u64(stake);
    w.text(endpoint);
    w.boolean(tombstoned);
}

codec::Result<ValidatorBond> ValidatorBond::decode(codec::Reader& r) {
    auto stake = r.u64();
    if (!stake) return util::unexpected(stake.error());
    auto endpoint = r.text(max_bond_endpoint_bytes);
    if (!endpoint) return util::unexpected(endpoint.error());
    auto tombstoned = r.boolean();
    if (!tombstoned) return util::unexpected(tombstoned.error());
    return ValidatorBond{*stake, std::move(*endpoint), *tombstoned};
}

void ValidatorSet::encode(codec::Writer& w) const {
    w.u64(epoch);
    w.count(members.size());
    for (const auto& m : members) w.fixed(m.bytes);
}

codec::Result<ValidatorSet> ValidatorSet::decode(codec::Reader& r) {
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    auto n = r.count(max_validators);
    if (!n) return util::unexpected(n.error());
    ValidatorSet s{*epoch, {}};
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        if (!a) return util::unexpected(a.error());
        s.members.push_back(crypto::Address{*a});
    }
    return s;
}

void Account::encode(codec::Writer& w) const {
    w.u64(balance);
    w.u64(nonce);
    w.u64(prepaid);
}

codec::Result<Account> Account::decode(codec::Reader& r) {
    Account a;
    for (std::uint64_t* f : {&a.balance, &a.nonce, &a.prepaid}) {
        auto x = r.u64();
        if (!x) return util::unexpected(x.error());
        *f = *x;
    }
    return a;
}

void NodeEntry::encode(codec::Writer& w) const {
    record.encode(w);
    w.u64(stake);
    service.encode(w);
}

codec::Result<NodeEntry> NodeEntry::decode(codec::Reader& r) {
    auto rec = NodeRecord::decode(r);
    if (!rec) return util::unexpected(rec.error());
    auto stake = r.u64();
    if (!stake) return util::unexpected(stake.error());
    auto service = NodeService::decode(r);
    if (!service) return util::unexpected(service.error());
    return NodeEntry{std::move(*rec), *stake, std::move(*service)};
}

void NodeService::encode(codec::Writer& w) const {
    w.u64(probe_epoch);
    w.count(probes.size());
    for (const auto& [prober, r] : probes) {
        w.fixed(prober.bytes);
        w.boolean(r.reachable);
        w.u32(r.rtt_ms);
        w.u32(r.throughput_kbps);
    }
    w.u64(scored_epoch);
    w.boolean(scored);
    w.u32(reports);
    w.u32(score_bps);
    w.u64(reward);
    w.u32(failed_epochs);
    w.boolean(jailed);
}

codec::Result<NodeService> NodeService::decode(codec::Reader& r) {
    NodeService s;
    auto pe = r.u64();
    if (!pe) return util::unexpected(pe.error());
    s.probe_epoch = *pe;
    auto n = r.count(max_validators);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        if (!a) return util::unexpected(a.error());
        auto reachable = r.boolean();
        if (!reachable) return util::unexpected(reachable.error());
        auto rtt = r.u32();
        auto kbps = rtt ? r.u32() : rtt;
        if (!kbps) return util::unexpected(kbps.error());
        s.probes.emplace_back(crypto::Address{*a}, ProbeResult{*reachable, *rtt, *kbps});
    }
    auto se = r.u64();
    auto scored = se ? r.boolean() : codec::Result<bool>(util::unexpected(se.error()));
    if (!scored) return util::unexpected(scored.error());
    s.scored_epoch = *se;
    s.scored = *scored;
    for (std::uint32_t* f : {&s.reports, &s.score_bps}) {
        auto v = r.u32();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    auto reward = r.u64();
    auto failed = reward ? r.u32() : codec::Result<std::uint32_t>(util::unexpected(reward.error()));
    auto jailed = failed ? r.boolean() : codec::Result<bool>(util::unexpected(failed.error()));
    if (!jailed) return util::unexpected(jailed.error());
    s.reward = *reward;
    s.failed_epochs = *failed;
    s.jailed = *jailed;
    return s;
}

void EpochSummary::encode(codec::Writer& w) const {
    for (std::uint64_t v : {epoch, emission, node_pool, validator_pool, fund, minted}) w.u64(v);
    w.u32(nodes_measured);
    w.u32(nodes_paid);
}

codec::Result<EpochSummary> EpochSummary::decode(codec::Reader& r) {
    EpochSummary s;
    for (std::uint64_t* f : {&s.epoch, &s.emission, &s.node_pool, &s.validator_pool, &s.fund, &s.minted}) {
        auto v = r.u64();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    for (std::uint32_t* f : {&s.nodes_measured, &s.nodes_paid}) {
        auto v = r.u32();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    return s;
}

void EpochInfo::encode(codec::Writer& w) const {
    w.u64(epoch);
    w.fixed(seed);
    w.boolean(last.has_value());
    if (last) last->encode(w);
}

codec::Result<EpochInfo> EpochInfo::decode(codec::Reader& r) {
    EpochInfo e;
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    e.epoch = *epoch;
    auto seed = r.fixed<32>();
    if (!seed) return util::unexpected(seed.error());
    e.seed = *seed;
    auto has = r.boolean();
    if (!has) return util::unexpected(has.error());
    if (*has) {
        auto last = EpochSummary::decode(r);
        if (!last) return util::unexpected(last.error());
        e.last = *last;
    }
    return e;
}

std::string_view grant_status_name(Grant::Status s) {
    switch (s) {
        case Grant::Status::open: return "open";
        case Grant::Status::paid: return "paid";
        case Grant::Status::expired: return "expired";
    }
    return "open";
}

void Grant::encode(codec::Writer& w) const {
    proposal.encode(w);
    w.fixed(proposer.bytes);
    w.u64(proposed_epoch);
    w.count(approvals.size());
    for (const auto& a : approvals) w.fixed(a.bytes);
    w.u8(static_cast<std::uint8_t>(status));
    w.u64(closed_epoch);
}

codec::Result<Grant> Grant::decode(codec::Reader& r) {
    Grant g;
    auto p = GrantProposal::decode(r);
    if (!p) return util::unexpected(p.error());
    g.proposal = std::move(*p);
    auto proposer = r.fixed<20>();
    if (!proposer) return util::unexpected(proposer.error());
    g.proposer = crypto::Address{*proposer};
    auto epoch = r.u64();
    if (!epoch) return util::unexpected(epoch.error());
    g.proposed_epoch = *epoch;
    auto n = r.count(max_validators);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        if (!a) return util::unexpected(a.error());
        g.approvals.push_back(crypto::Address{*a});
    }
    if (!std::is_sorted(g.approvals.begin(), g.approvals.end()) ||
        std::adjacent_find(g.approvals.begin(), g.approvals.end()) != g.approvals.end())
        return util::unexpected(codec::CodecError::bad_value);
    auto status = r.u8();
    if (!status) return util::unexpected(status.error());
    if (*status > 2) return util::unexpected(codec::CodecError::bad_value);
    g.status = static_cast<Grant::Status>(*status);
    auto closed = r.u64();
    if (!closed) return util::unexpected(closed.error());
    g.closed_epoch = *closed;
    return g;
}

void RewardRecord::encode(codec::Writer& w) const {
    for (std::uint64_t v : {epoch, node_reward, validator_reward, fund_reward}) w.u64(v);
}

codec::Result<RewardRecord> RewardRecord::decode(codec::Reader& r) {
    RewardRecord rec;
    for (std::uint64_t* f : {&rec.epoch, &rec.node_reward, &rec.validator_reward, &rec.fund_reward}) {
        auto v = r.u64();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    return rec;
}

void encode_pending(codec::Writer& w, const std::vector<Pending>& pending) {
    w.count(pending.size());
    for (const auto& p : pending) {
        w.fixed(p.owner.bytes);
        w.u64(p.amount);
        w.u64(p.release_height);
    }
}

codec::Result<std::vector<Pending>> decode_pending(codec::Reader& r) {
    auto n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    std::vector<Pending> out;
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        auto amount = a ? r.u64() : codec::Result<std::uint64_t>(util::unexpected(a.error()));
        auto height = amount ? r.u64() : amount;
        if (!height) return util::unexpected(height.error());
        out.push_back(Pending{crypto::Address{*a}, *amount, *height});
    }
    return out;
}

void State::encode(codec::Writer& w) const {
    w.u64(m_chain_id);
    m_params.encode(w);
    w.count(m_accounts.size());
    m_accounts.for_each([&](const util::ByteArray<20>& a, const Account& acc) {
        w.fixed(a);
        acc.encode(w);
    });
    w.count(m_nodes->size());
    for (const auto& [k, n] : *m_nodes) n.encode(w);
    encode_pending(w, m_pending);
    w.count(m_bonds->size());
    for (const auto& [a, b] : *m_bonds) {
        w.fixed(a.bytes);
        b.encode(w);
    }
    m_validator_set.encode(w);
    m_epoch.encode(w);
    w.count(m_rewards->size());
    for (const auto& [a, rec] : *m_rewards) {
        w.fixed(a.bytes);
        rec.encode(w);
    }
    w.count(m_grants->size());
    for (const auto& [id, g] : *m_grants) {
        w.fixed(id);
        g.encode(w);
    }
}

codec::Result<State> State::decode(codec::Reader& r) {
    auto chain_id = r.u64();
    if (!chain_id) return util::unexpected(chain_id.error());
    auto params = Params::decode(r);
    if (!params) return util::unexpected(params.error());
    std::map<crypto::Address, Account> accounts;
    auto n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        if (!a) return util::unexpected(a.error());
        auto acc = Account::decode(r);
        if (!acc) return util::unexpected(acc.error());
        accounts[crypto::Address{*a}] = *acc;
    }
    std::map<crypto::X25519Public, NodeEntry> nodes;
    n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto entry = NodeEntry::decode(r);
        if (!entry) return util::unexpected(entry.error());
        const auto key = entry->record.noise_key;
        nodes[key] = std::move(*entry);
    }
    Parts parts{std::move(nodes), {}, {}, {}};
    auto pending = decode_pending(r);
    if (!pending) return util::unexpected(pending.error());
    parts.pending = std::move(*pending);
    n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        if (!a) return util::unexpected(a.error());
        auto b = ValidatorBond::decode(r);
        if (!b) return util::unexpected(b.error());
        if (b->stake == 0 && !b->tombstoned)
            return util::unexpected(codec::CodecError::bad_value);  // an empty bond is no entry
        parts.bonds[crypto::Address{*a}] = std::move(*b);
    }
    auto set = ValidatorSet::decode(r);
    if (!set) return util::unexpected(set.error());
    parts.validator_set = std::move(*set);
    auto epoch = EpochInfo::decode(r);
    if (!epoch) return util::unexpected(epoch.error());
    parts.epoch = std::move(*epoch);
    n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto a = r.fixed<20>();
        if (!a) return util::unexpected(a.error());
        auto rec = RewardRecord::decode(r);
        if (!rec) return util::unexpected(rec.error());
        parts.rewards[crypto::Address{*a}] = *rec;
    }
    n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto id = r.fixed<32>();
        if (!id) return util::unexpected(id.error());
        auto g = Grant::decode(r);
        if (!g) return util::unexpected(g.error());
        parts.grants[*id] = std::move(*g);
    }
    return restore(*chain_id, *params, std::move(accounts), std::move(parts));
}

State State::restore(std::uint64_t chain_id, Params params, std::map<crypto::Address, Account> accounts, Parts parts) {
    State s(chain_id, params);
    for (const auto& [a, acc] : accounts) s.put_account(a, acc);
    for (auto& [k, n] : parts.nodes) s.put_node(k, std::move(n));
    s.set_pending(std::move(parts.pending));
    for (auto& [a, b] : parts.bonds) s.put_bond(a, std::move(b));
    s.set_validator_set(std::move(parts.validator_set));
    s.set_epoch_info(std::move(parts.epoch));
    for (const auto& [a, rec] : parts.rewards) s.put_reward(a, rec);
    for (auto& [id, g] : parts.grants) s.put_grant(id, std::move(g));
    return s;
}

std::optional<State> State::restore(std::uint64_t chain_id, Params params, AccountTrie accounts, Parts parts,
                                    SparseMerkleTree tree) {
    // Leaves: accounts, nodes, bonds, rewards, grants, the pending list, the validator set and the epoch.
    if (tree.size() !=
        accounts.size() + parts.nodes.size() + parts.bonds.size() + parts.rewards.size() + parts.grants.size() + 3)
        return std::nullopt;
    State s(chain_id, params);
    s.m_accounts = std::move(accounts);
    s.m_nodes = std::make_shared<std::map<crypto::X25519Public, NodeEntry>>(std::move(parts.nodes));
    s.m_pending = std::move(parts.pending);
    s.m_bonds = std::make_shared<std::map<crypto::Address, ValidatorBond>>(std::move(parts.bonds));
    s.m_validator_set = std::move(parts.validator_set);
    s.m_epoch = std::move(parts.epoch);
    s.m_rewards = std::make_shared<std::map<crypto::Address, RewardRecord>>(std::move(parts.rewards));
    s.m_grants = std::make_shared<std::map<crypto::Hash256, Grant>>(std::move(parts.grants));
    s.m_tree = std::move(tree);
    return s;
}

Amount128 State::total_supply() const {
    Amount128 total = 0;
    m_accounts.for_each(
        [&](const auto&, const Account& acc) { total += acc.balance + static_cast<Amount128>(acc.prepaid); });
    for (const auto& [k, n] : *m_nodes) total += n.stake;
    for (const auto& p : m_pending) total += p.amount;
    for (const auto& [a, b] : *m_bonds) total += b.stake;
    return total;
}

crypto::Hash256 State::account_key(const crypto::Address& a) {
    return key_for("account", a.bytes);
}
crypto::Hash256 State::node_key(const crypto::X25519Public& k) {
    return key_for("node", k);
}

crypto::Hash256 State::pending_key() {
    static const crypto::Hash256 key = key_for("pending", {});
    return key;
}

crypto::Hash256 State::bond_key(const crypto::Address& a) {
    return key_for("validator", a.bytes);
}

crypto::Hash256 State::validator_set_key() {
    static const crypto::Hash256 key = key_for("validator_set", {});
    return key;
}

crypto::Hash256 State::epoch_key() {
    static const crypto::Hash256 key = key_for("epoch", {});
    return key;
}

crypto::Hash256 State::reward_key(const crypto::Address& a) {
    return key_for("reward", a.bytes);
}

crypto::Hash256 State::grant_key(const crypto::Hash256& id) {
    return key_for("grant", id);
}

crypto::Hash256 State::grant_value_hash(const Grant& g) {
    return crypto::keccak256(codec::encode(g));
}

crypto::Hash256 State::epoch_value_hash(const EpochInfo& e) {
    return crypto::keccak256(codec::encode(e));
}

crypto::Hash256 State::reward_value_hash(const RewardRecord& r) {
    return crypto::keccak256(codec::encode(r));
}

crypto::Hash256 State::bond_value_hash(const ValidatorBond& b) {
    return crypto::keccak256(codec::encode(b));
}

crypto::Hash256 State::validator_set_value_hash(const ValidatorSet& s) {
    return crypto::keccak256(codec::encode(s));
}

crypto::Hash256 State::pending_value_hash(const std::vector<Pending>& pending) {
    codec::Writer w;
    encode_pending(w, pending);
    return crypto::keccak256(w.data());
}

crypto::Hash256 State::account_value_hash(const Account& acc) {
    return crypto::keccak256(codec::encode(acc));
}

crypto::Hash256 State::node_value_hash(const NodeEntry& n) {
    return crypto::keccak256(codec::encode(n));
}

}  // namespace conet::ledger
