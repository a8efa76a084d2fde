// Canonical encodings of the state's entries (docs/ledger.md, "State").
#include <algorithm>

#include "conet/ledger/block.hpp"
#include "conet/ledger/state.hpp"
#include "conet/ledger/state_detail.hpp"

namespace conet::ledger {

using detail::max_snapshot_entries;

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
    w.u64(epoch_start_stake);
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
    auto start_stake = r.u64();
    if (!start_stake) return util::unexpected(start_stake.error());
    s.epoch_start_stake = *start_stake;
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
    w.count(votes.size());
    for (const auto& [validator, n] : votes) {
        w.fixed(validator.bytes);
        w.u64(n);
    }
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
    auto n = r.count(max_validators);
    if (!n) return util::unexpected(n.error());
    for (std::size_t i = 0; i < *n; ++i) {
        auto validator = r.fixed<20>();
        auto votes = validator ? r.u64() : codec::Result<std::uint64_t>(util::unexpected(validator.error()));
        if (!votes) return util::unexpected(votes.error());
        crypto::Address a;
        a.bytes = *validator;
        // Sorted and distinct, as the state keeps them: one encoding per value.
        if (!e.votes.empty() && !(e.votes.back().first < a)) return util::unexpected(codec::CodecError::bad_value);
        e.votes.emplace_back(a, *votes);
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
        w.u8(p.validator_bond ? 1 : p.withdrawal ? 2 : 0);
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
        auto kind = r.u8();
        if (!kind) return util::unexpected(kind.error());
        if (*kind > 2) return util::unexpected(codec::CodecError::bad_value);
        out.push_back(Pending{crypto::Address{*a}, *amount, *height, *kind == 1, *kind == 2});
    }
    return out;
}

}  // namespace conet::ledger
