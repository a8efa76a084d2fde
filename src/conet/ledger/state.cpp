#include "conet/ledger/state.hpp"

#include <algorithm>
#include <functional>

#include "conet/ledger/block.hpp"
#include "conet/ledger/state_detail.hpp"

namespace conet::ledger {

using detail::add;
using detail::key_for;
using detail::max_snapshot_entries;
using detail::payload_as;
using util::unexpected;

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
        case TxError::wrong_epoch:
            return "wrong epoch (a probe report is for the current epoch, a usage claim for the current or the "
                   "previous one)";
        case TxError::not_a_prober: return "sender is not assigned to probe this node this epoch";
        case TxError::duplicate_report: return "this prober already reported this node this epoch";
        case TxError::node_jailed: return "node is jailed (not probed until its operator unjails it)";
        case TxError::not_jailed: return "node is not jailed";
        case TxError::bad_evidence: return "not double-sign evidence (two conflicting votes of one key in one view)";
        case TxError::not_a_validator: return "the signer has no validator bond to slash";
        case TxError::already_slashed: return "this validator was already slashed for double-signing";
        case TxError::bad_grant:
            return "a grant needs a positive amount and an expiry epoch not yet past and at most 1000 epochs ahead";
        case TxError::too_many_grants: return "too many grants are open; wait until some are paid or expire";
        case TxError::unknown_grant: return "unknown grant";
        case TxError::grant_closed: return "the grant was already paid or has expired";
        case TxError::not_in_set: return "only the current validators vote on grants";
        case TxError::usage_off: return "this chain has no usage price (usage is free), so nothing to claim";
        case TxError::not_an_exit: return "the claimed node's record does not offer exit";
        case TxError::forged_receipt:
            return "receipt signature is not the payer's for this chain, exit, entry, epoch and byte count";
        case TxError::duplicate_receipt: return "the claim names one payer and entry twice";
        case TxError::replayed_receipt: return "receipt claims no more bytes than were already claimed";
        case TxError::over_balance: return "receipt costs more than the payer's prepaid balance";
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
    // A tombstoned validator is never seated again, even when the set is
    // otherwise kept (no slots, or nobody qualifies) — unless that would
    // leave nobody to produce blocks.
    std::vector<crypto::Address> kept;
    for (const auto& m : next.members)
        if (const ValidatorBond* b = bond(m); !b || !b->tombstoned) kept.push_back(m);
    if (!kept.empty()) next.members = std::move(kept);
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
    std::optional<std::size_t> refused_receipt;
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
                    const Pending back{*from, p->amount, withdrawal_release_height(block.height), false, true};
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
                const Pending back{*from, p->amount, block.height + m_params.unbonding_blocks, true};
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
                // What the key has at stake: its bond and what it is unbonding
                // (unbonding first does not escape the slash).
                const ValidatorBond* current = bond(*signer);
                if (current && current->tombstoned) return unexpected(TxError::already_slashed);
                Amount128 unbonding = 0;
                for (const Pending& pend : m_pending)
                    if (pend.validator_bond && pend.owner == *signer) unbonding += pend.amount;
                if (!current && unbonding == 0) return unexpected(TxError::not_a_validator);
                ValidatorBond next = current ? *current : ValidatorBond{};
                const Amount128 at_stake = next.stake + unbonding;
                auto to_slash = static_cast<std::uint64_t>(at_stake * m_params.incentives.slash_bps / bps_one);
                const std::uint64_t slashed = to_slash;
                const std::uint64_t from_bond = std::min(next.stake, to_slash);
                next.stake -= from_bond;
                to_slash -= from_bond;
                next.tombstoned = true;  // kept even at stake 0: the key cannot bond afresh
                std::vector<Pending> pending = m_pending;
                for (Pending& pend : pending) {
                    if (to_slash == 0) break;
                    if (!pend.validator_bond || pend.owner != *signer) continue;
                    const std::uint64_t take = std::min(pend.amount, to_slash);
                    pend.amount -= take;
                    to_slash -= take;
                }
                CONET_ASSERT(to_slash == 0);
                std::erase_if(pending, [](const Pending& pend) { return pend.amount == 0; });
                Account& fund = acct(developer_fund_address());
                if (!add(fund.balance, slashed, fund.balance)) return unexpected(TxError::overflow);
                effect = [this, a = *signer, next, pending = std::move(pending)] {
                    put_bond(a, next);
                    set_pending(pending);
                };
                break;
            }
            case TxKind::grant_propose: {
                auto p = payload_as<GrantProposal>(tx);
                if (!p) return unexpected(p.error());
                const std::uint64_t epoch = epoch_of(block.height, m_params.epoch_blocks);
                if (p->amount == 0 || p->expiry_epoch < epoch || p->expiry_epoch - epoch > max_grant_epochs)
                    return unexpected(TxError::bad_grant);
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
            case TxKind::usage_claim: {
                auto plan = plan_usage_claim(tx, *from, block.height);
                if (!plan) {
                    refused_receipt = plan.error().receipt;
                    return unexpected(plan.error().error);
                }
                // Prepaid first; the rest from the payer's withdrawals under way
                // (a user cannot escape a claim by withdrawing first).
                std::vector<Pending> pending = m_pending;
                bool pending_changed = false;
                for (const auto& [payer, amount] : plan->debits) {
                    Account& a = acct(payer);
                    const std::uint64_t from_prepaid = std::min(a.prepaid, amount);
                    a.prepaid -= from_prepaid;
                    std::uint64_t rest = amount - from_prepaid;
                    for (Pending& pend : pending) {
                        if (rest == 0) break;
                        if (!pend.withdrawal || pend.owner != payer) continue;
                        const std::uint64_t take = std::min(pend.amount, rest);
                        pend.amount -= take;
                        rest -= take;
                        pending_changed = true;
                    }
                    CONET_ASSERT(rest == 0);
                }
                std::erase_if(pending, [](const Pending& pend) { return pend.amount == 0; });
                for (const auto& [to, amount] : plan->credits) {
                    Account& a = acct(to);
                    if (!add(a.balance, amount, a.balance)) return unexpected(TxError::overflow);
                }
                effect = [this, records = std::move(plan->records), pending = std::move(pending), pending_changed] {
                    for (const auto& [k, u] : records) put_usage(k, u);
                    if (pending_changed) set_pending(pending);
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
        applied.receipt = refused_receipt;
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
        // The next epoch can still claim this one, not the one before; its
        // records stay one epoch more, so every block's state shows what the
        // claims of the epoch's last block paid.
        if (epoch > 0) prune_usage(epoch - 1);
        set_validator_set(next_validator_set(epoch + 1));
    }
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
    w.count(m_usage.size());
    m_usage.for_each([&](const UsageKey&, const UsageRecord& u) { u.encode(w); });
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
    n = r.count(max_snapshot_entries);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto u = UsageRecord::decode(r);
        if (!u) return util::unexpected(u.error());
        const UsageKey k = usage_record_key(u->epoch, u->exit, u->payer, u->entry);
        if (!parts.usage.empty() && !(parts.usage.back().first < k))
            return util::unexpected(codec::CodecError::bad_value);
        parts.usage.emplace_back(k, *u);
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
    for (const auto& [k, u] : parts.usage) s.put_usage(k, u);
    return s;
}

std::optional<State> State::restore(std::uint64_t chain_id, Params params, AccountTrie accounts, Parts parts,
                                    SparseMerkleTree tree) {
    // Leaves: accounts, nodes, bonds, rewards, grants, usage, the pending list, the validator set and the epoch.
    if (tree.size() != accounts.size() + parts.nodes.size() + parts.bonds.size() + parts.rewards.size() +
                           parts.grants.size() + parts.usage.size() + 3)
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
    s.m_usage = UsageTrie::from_sorted(parts.usage);
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

crypto::Hash256 State::usage_key(const UsageKey& k) {
    return key_for("usage", k);
}

crypto::Hash256 State::usage_value_hash(const UsageRecord& u) {
    return crypto::keccak256(codec::encode(u));
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
