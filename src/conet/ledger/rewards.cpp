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
    for (std::uint32_t* f :
         {&p.probers_per_node, &p.probe_target_kbps, &p.probe_target_rtt_ms, &p.jail_after_failed_epochs}) {
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
    return {};
}

std::uint32_t probe_score_bps(const ProbeResult& r, const IncentiveParams& p) {
    if (!r.reachable) return 0;
    const std::uint64_t throughput = std::min<std::uint64_t>(bps_one, mul_div(r.throughput_kbps, bps_one, p.probe_target_kbps));
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

EpochRewards compute_rewards(const IncentiveParams& p, std::uint64_t epoch, std::span<const NodeRewardInput> nodes,
                             std::span<const ValidatorRewardInput> validators) {
    EpochRewards out;
    out.emission = epoch_emission(p, epoch);
    out.node_pool = mul_div(out.emission, p.node_share_bps, bps_one);
    out.validator_pool = mul_div(out.emission, p.validator_share_bps, bps_one);
    out.fund = out.emission - out.node_pool - out.validator_pool;  // the fund's share takes the rounding of the others'

    // Nodes: weights are sums over a map, so the order of `nodes` does not matter.
    // Every staked node counts against its operator's cap, earning or not:
    // otherwise a failing node would free cap for the others, and splitting
    // a node so that a piece fails could raise the operator's reward.
    std::map<crypto::Address, U128> operator_stake;
    for (const auto& n : nodes) operator_stake[n.operator_address] += n.stake;
    std::map<crypto::X25519Public, U128> weight;
    U128 total_weight = 0;
    for (const auto& n : nodes) {
        CONET_ASSERT(n.multiplier_bps <= bps_one);
        if (n.multiplier_bps == 0 || n.stake == 0) continue;
        // An operator over the cap counts each node's stake scaled by cap / S.
        U128 stake = n.stake;
        const U128 s = operator_stake[n.operator_address];
        if (p.saturation_stake > 0 && s > p.saturation_stake) stake = stake * p.saturation_stake / s;  // < 2^128
        const U128 w = stake * n.multiplier_bps;  // ≤ stake · 2^14
        const bool fresh = weight.emplace(n.node, w).second;
        CONET_ASSERT_MSG(fresh, "a node listed twice");
        total_weight += w;
    }
    std::uint64_t node_paid = 0;
    if (total_weight > 0) {
        for (const auto& n : nodes) {
            auto it = weight.find(n.node);
            if (it == weight.end() || it->second == 0) continue;
            const std::uint64_t r = share_of(out.node_pool, it->second, total_weight);
            if (r == 0) continue;
            out.per_node[n.node] = r;
            out.paid[n.operator_address].node_reward += r;  // ≤ node_pool in total: no overflow
            node_paid += r;
        }
    }
    CONET_ASSERT(node_paid <= out.node_pool);

    U128 total_votes = 0;
    std::map<crypto::Address, std::uint64_t> votes;
    for (const auto& v : validators) {
        if (v.votes == 0) continue;
        const bool fresh = votes.emplace(v.validator, v.votes).second;
        CONET_ASSERT_MSG(fresh, "a validator listed twice");
        total_votes += v.votes;
    }
    std::uint64_t validator_paid = 0;
    for (const auto& [a, n] : votes) {
        const std::uint64_t r = share_of(out.validator_pool, n, total_votes);
        if (r == 0) continue;
        out.paid[a].validator_reward += r;
        validator_paid += r;
    }
    CONET_ASSERT(validator_paid <= out.validator_pool);
    out.minted = node_paid + validator_paid + out.fund;
    CONET_ASSERT(out.minted <= out.emission);
    return out;
}

}  // namespace conet::ledger
