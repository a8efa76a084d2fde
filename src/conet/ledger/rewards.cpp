#include "conet/ledger/rewards.hpp"

#include <algorithm>

#include "conet/crypto/keccak.hpp"
#include "conet/util/assert.hpp"

namespace conet::ledger {

namespace {

__extension__ typedef unsigned __int128 U128;

/// floor(a × b / c) for c > 0, exact in 128 bits (a × b < 2^128 for u64 a, b).
std::uint64_t mul_div(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    CONET_ASSERT(c > 0);
    return static_cast<std::uint64_t>(static_cast<U128>(a) * b / c);
}

/// floor(a × b / c) for a 128-bit weight b ≤ c: the result is ≤ a.
std::uint64_t share_of(std::uint64_t a, U128 b, U128 c) {
    // c < 2^95 holds for every use (so the sums below fit 128 bits): weights sum stakes (part of a u64
    // supply) times at most 10'000, votes are counted in u64.
    CONET_ASSERT(c > 0 && b <= c && (c >> 95) == 0);
    // a × b can exceed 128 bits when b is a product of stake and multiplier;
    // split a into its high and low 32 bits to stay exact.
    const U128 hi = a >> 32, lo = a & 0xffff'ffffu;
    const U128 q_hi = hi * b / c, r_hi = hi * b % c;  // hi × b < 2^32 · 2^95
    // a·b/c = (hi·2^32·b + lo·b)/c = q_hi·2^32 + (r_hi·2^32 + lo·b)/c
    const U128 rest = ((r_hi << 32) + lo * b) / c;
    return static_cast<std::uint64_t>((q_hi << 32) + rest);
}

}  // namespace

void IncentiveParams::encode(codec::Writer& w) const {
    w.u64(emission_per_epoch);
    w.u64(emission_halving_epochs);
    w.u32(node_share_bps);
    w.u32(validator_share_bps);
    w.u64(saturation_stake);
    w.u32(probers_per_node);
    w.u32(probe_target_kbps);
    w.u32(probe_target_rtt_ms);
    w.u32(jail_after_failed_epochs);
    w.u32(slash_bps);
    w.u64(usage_price_per_mib);
    w.u32(usage_protocol_bps);
    w.u32(usage_entry_bps);
}

codec::Result<IncentiveParams> IncentiveParams::decode(codec::Reader& r) {
    IncentiveParams p;
    for (std::uint64_t* f : {&p.emission_per_epoch, &p.emission_halving_epochs}) {
        auto v = r.u64();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    for (std::uint32_t* f : {&p.node_share_bps, &p.validator_share_bps}) {
        auto v = r.u32();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    auto sat = r.u64();
    if (!sat) return util::unexpected(sat.error());
    p.saturation_stake = *sat;
    for (std::uint32_t* f : {&p.probers_per_node, &p.probe_target_kbps, &p.probe_target_rtt_ms,
                             &p.jail_after_failed_epochs, &p.slash_bps}) {
        auto v = r.u32();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    auto price = r.u64();
    if (!price) return util::unexpected(price.error());
    p.usage_price_per_mib = *price;
    for (std::uint32_t* f : {&p.usage_protocol_bps, &p.usage_entry_bps}) {
        auto v = r.u32();
        if (!v) return util::unexpected(v.error());
        *f = *v;
    }
    if (!p.check().empty()) return util::unexpected(codec::CodecError::bad_value);
    return p;
}

std::string IncentiveParams::check() const {
    if (static_cast<std::uint64_t>(node_share_bps) + validator_share_bps > bps_one)
        return "node_share_bps + validator_share_bps exceed 10000";
    if (emission_per_epoch > 0 && emission_halving_epochs == 0)
        return "emission_halving_epochs must be positive with an emission (the supply must stay bounded)";
    if (probers_per_node == 0) return "probers_per_node must be positive";
    if (probe_target_kbps == 0 || probe_target_rtt_ms == 0) return "probe targets must be positive";
    if (jail_after_failed_epochs == 0) return "jail_after_failed_epochs must be positive";
    if (slash_bps > bps_one) return "slash_bps exceeds 10000";
    if (usage_protocol_bps > bps_one || usage_entry_bps > bps_one)
        return "usage_protocol_bps and usage_entry_bps are at most 10000";
    return {};
}

std::uint32_t probe_score_bps(const ProbeResult& r, const IncentiveParams& p) {
    if (!r.reachable) return 0;
    const std::uint64_t throughput =
        std::min<std::uint64_t>(bps_one, mul_div(r.throughput_kbps, bps_one, p.probe_target_kbps));
    const std::uint64_t latency =
        r.rtt_ms <= p.probe_target_rtt_ms ? bps_one : mul_div(p.probe_target_rtt_ms, bps_one, r.rtt_ms);
    return static_cast<std::uint32_t>(throughput * latency / bps_one);
}

std::uint32_t median_score_bps(std::vector<std::uint32_t> scores) {
    if (scores.empty()) return 0;
    std::sort(scores.begin(), scores.end());
    return scores[(scores.size() - 1) / 2];
}

Tier tier_of(std::uint32_t score_bps) {
    if (score_bps >= 8'000) return Tier::good;
    if (score_bps >= 5'000) return Tier::acceptable;
    if (score_bps >= 2'500) return Tier::degraded;
    if (score_bps >= 1'000) return Tier::poor;
    return Tier::fail;
}

std::uint32_t tier_multiplier_bps(Tier t) {
    switch (t) {
        case Tier::good: return 10'000;
        case Tier::acceptable: return 7'500;
        case Tier::degraded: return 5'000;
        case Tier::poor: return 2'500;
        case Tier::fail: return 0;
    }
    return 0;
}

std::string_view tier_name(Tier t) {
    switch (t) {
        case Tier::good: return "good";
        case Tier::acceptable: return "acceptable";
        case Tier::degraded: return "degraded";
        case Tier::poor: return "poor";
        case Tier::fail: return "fail";
    }
    return "fail";
}

namespace {
crypto::Hash256 probe_rank(const crypto::Hash256& seed, const crypto::X25519Public& node, const crypto::Address& m) {
    static constexpr std::string_view domain = "CONET/Probe/v1";
    return crypto::keccak256({util::as_bytes(domain), seed, node, m.bytes});
}
}  // namespace

std::vector<crypto::Address> assigned_probers(const crypto::Hash256& seed, const crypto::X25519Public& node,
                                              std::span<const crypto::Address> members, std::uint32_t k) {
    std::vector<std::pair<crypto::Hash256, crypto::Address>> ranked;
    ranked.reserve(members.size());
    for (const auto& m : members) ranked.emplace_back(probe_rank(seed, node, m), m);
    std::sort(ranked.begin(), ranked.end());
    std::vector<crypto::Address> out;
    for (std::size_t i = 0; i < ranked.size() && i < k; ++i) out.push_back(ranked[i].second);
    return out;
}

bool is_assigned_prober(const crypto::Hash256& seed, const crypto::X25519Public& node,
                        std::span<const crypto::Address> members, std::uint32_t k, const crypto::Address& prober) {
    if (std::find(members.begin(), members.end(), prober) == members.end()) return false;
    // Assigned when fewer than k members rank strictly before it (members are distinct).
    const crypto::Hash256 mine = probe_rank(seed, node, prober);
    std::uint32_t before = 0;
    for (const auto& m : members)
        if (m != prober && probe_rank(seed, node, m) < mine && ++before >= k) return false;
    return true;
}

std::uint64_t epoch_emission(const IncentiveParams& p, std::uint64_t epoch) {
    if (p.emission_per_epoch == 0 || p.emission_halving_epochs == 0) return 0;
    const std::uint64_t halvings = epoch / p.emission_halving_epochs;
    return halvings >= 64 ? 0 : p.emission_per_epoch >> halvings;
}

std::uint64_t EpochRewards::node_reward(const crypto::X25519Public& node) const {
    auto it = std::lower_bound(per_node.begin(), per_node.end(), node,
                               [](const auto& entry, const crypto::X25519Public& k) { return entry.first < k; });
    return it != per_node.end() && it->first == node ? it->second : 0;
}

EpochRewards compute_rewards(const IncentiveParams& p, std::uint64_t epoch, std::span<const NodeRewardInput> nodes,
                             std::span<const ValidatorRewardInput> validators) {
    EpochRewards out;
    out.emission = epoch_emission(p, epoch);
    out.node_pool = mul_div(out.emission, p.node_share_bps, bps_one);
    out.validator_pool = mul_div(out.emission, p.validator_share_bps, bps_one);
    out.fund = out.emission - out.node_pool - out.validator_pool;  // the fund's share takes the rounding of the others'

    // Nodes, grouped by operator (sorted, so the order of `nodes` does not
    // matter; sums of integers do not depend on their order either).
    // Every staked node counts against its operator's cap, earning or not:
    // otherwise a failing node would free cap for the others, and splitting
    // a node so that a piece fails could raise the operator's reward.
    const std::size_t n = nodes.size();
    std::vector<std::uint32_t> by_operator(n);
    for (std::uint32_t i = 0; i < n; ++i) by_operator[i] = i;
    std::sort(by_operator.begin(), by_operator.end(), [&](std::uint32_t a, std::uint32_t b) {
        const auto& x = nodes[a];
        const auto& y = nodes[b];
        return x.operator_address != y.operator_address ? x.operator_address < y.operator_address : x.node < y.node;
    });
    std::vector<U128> weight(n, 0);
    U128 total_weight = 0;
    for (std::size_t g = 0; g < n;) {
        std::size_t end = g;
        U128 operator_stake = 0;
        for (; end < n && nodes[by_operator[end]].operator_address == nodes[by_operator[g]].operator_address; ++end)
            operator_stake += nodes[by_operator[end]].stake;
        for (std::size_t j = g; j < end; ++j) {
            const NodeRewardInput& in = nodes[by_operator[j]];
            CONET_ASSERT(in.multiplier_bps <= bps_one);
            CONET_ASSERT_MSG(j == g || in.node != nodes[by_operator[j - 1]].node, "a node listed twice");
            if (in.multiplier_bps == 0 || in.stake == 0) continue;
            // An operator over the cap counts each node's stake scaled by cap / S.
            U128 stake = in.stake;
            if (p.saturation_stake > 0 && operator_stake > p.saturation_stake)
                stake = stake * p.saturation_stake / operator_stake;  // < 2^128
            weight[by_operator[j]] = stake * in.multiplier_bps;       // ≤ stake · 2^14
            total_weight += weight[by_operator[j]];
        }
        g = end;
    }
    // Each operator is paid for its nodes together, ⌊pool · W_o / ΣW⌋, so
    // its reward depends only on its own weight and the total: splitting a
    // node (or merging two) cannot gain by rounding. The operator's reward
    // is then split among its nodes by weight, the rounding remainder to its
    // first earning node (by key), so the nodes' shares add up to it.
    std::uint64_t node_paid = 0;
    std::vector<std::pair<crypto::Address, RewardPayout>> paid;  // sorted by address
    if (total_weight > 0) {
        for (std::size_t g = 0; g < n;) {
            std::size_t end = g;
            U128 operator_weight = 0;
            for (; end < n && nodes[by_operator[end]].operator_address == nodes[by_operator[g]].operator_address; ++end)
                operator_weight += weight[by_operator[end]];
            const std::uint64_t reward =
                operator_weight == 0 ? 0 : share_of(out.node_pool, operator_weight, total_weight);
            if (reward > 0) {
                std::uint64_t shared = 0;
                std::size_t first = n;
                const std::size_t at = out.per_node.size();
                for (std::size_t j = g; j < end; ++j) {
                    const std::uint32_t i = by_operator[j];
                    if (weight[i] == 0) continue;
                    const std::uint64_t r = share_of(reward, weight[i], operator_weight);
                    if (first == n) first = out.per_node.size();
                    out.per_node.emplace_back(nodes[i].node, r);
                    shared += r;
                }
                CONET_ASSERT(first != n && shared <= reward);
                out.per_node[first].second += reward - shared;
                out.per_node.erase(std::remove_if(out.per_node.begin() + static_cast<std::ptrdiff_t>(at),
                                                  out.per_node.end(), [](const auto& e) { return e.second == 0; }),
                                   out.per_node.end());
                paid.emplace_back(nodes[by_operator[g]].operator_address, RewardPayout{reward, 0});
                node_paid += reward;  // ≤ node_pool in total: no overflow
            }
            g = end;
        }
    }
    CONET_ASSERT(node_paid <= out.node_pool);
    std::sort(out.per_node.begin(), out.per_node.end());
    for (std::size_t i = 1; i < out.per_node.size(); ++i)
        CONET_ASSERT_MSG(out.per_node[i - 1].first != out.per_node[i].first, "a node listed twice");

    std::vector<std::pair<crypto::Address, std::uint64_t>> votes;
    for (const auto& v : validators)
        if (v.votes > 0) votes.emplace_back(v.validator, v.votes);
    std::sort(votes.begin(), votes.end());
    U128 total_votes = 0;
    for (std::size_t i = 0; i < votes.size(); ++i) {
        CONET_ASSERT_MSG(i == 0 || votes[i - 1].first != votes[i].first, "a validator listed twice");
        total_votes += votes[i].second;
    }
    std::uint64_t validator_paid = 0;
    for (const auto& [a, count] : votes) {
        const std::uint64_t r = share_of(out.validator_pool, count, total_votes);
        if (r == 0) continue;
        auto it = std::lower_bound(paid.begin(), paid.end(), a,
                                   [](const auto& entry, const crypto::Address& k) { return entry.first < k; });
        if (it == paid.end() || it->first != a) it = paid.emplace(it, a, RewardPayout{});
        it->second.validator_reward += r;
        validator_paid += r;
    }
    CONET_ASSERT(validator_paid <= out.validator_pool);
    for (auto& [a, payout] : paid) out.paid.emplace_hint(out.paid.end(), a, payout);
    out.minted = node_paid + validator_paid + out.fund;
    CONET_ASSERT(out.minted <= out.emission);
    return out;
}

}  // namespace conet::ledger
