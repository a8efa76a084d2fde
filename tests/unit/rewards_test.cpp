// The reward computation (ledger/rewards.hpp, docs/incentives.md) as
// properties over random epochs: it never pays more than the emission, does
// not depend on the order of its inputs, pays offline nodes nothing, never
// creates value by rounding, and splitting a node's stake over many nodes
// of the same operator never raises what the operator earns.
#include "conet/ledger/rewards.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <numeric>

namespace conet::ledger {
namespace {

crypto::Address address_of(std::uint32_t i) {
    crypto::Address a;
    for (int b = 0; b < 4; ++b) a.bytes[16 + b] = static_cast<std::uint8_t>(i >> (8 * (3 - b)));
    a.bytes[0] = 0xA0;
    return a;
}

crypto::X25519Public node_of(std::uint32_t i) {
    crypto::X25519Public k{};
    for (int b = 0; b < 4; ++b) k[28 + b] = static_cast<std::uint8_t>(i >> (8 * (3 - b)));
    k[0] = 0x0E;
    return k;
}

IncentiveParams params(std::uint64_t emission, std::uint64_t saturation) {
    IncentiveParams p;
    p.emission_per_epoch = emission;
    p.emission_halving_epochs = 100;
    p.saturation_stake = saturation;
    return p;
}

const std::uint32_t multipliers[] = {0, 2'500, 5'000, 7'500, 10'000};

/// Random nodes: up to 40, operators among 8, stakes up to 10^12.
std::vector<NodeRewardInput> gen_nodes() {
    const auto n = *rc::gen::inRange<std::uint32_t>(0, 40);
    std::vector<NodeRewardInput> nodes;
    for (std::uint32_t i = 0; i < n; ++i)
        nodes.push_back(NodeRewardInput{node_of(i), address_of(*rc::gen::inRange<std::uint32_t>(0, 8)),
                                        *rc::gen::inRange<std::uint64_t>(0, 1'000'000'000'000),
                                        multipliers[*rc::gen::inRange(0, 5)]});
    return nodes;
}

std::vector<ValidatorRewardInput> gen_validators() {
    const auto n = *rc::gen::inRange<std::uint32_t>(0, 10);
    std::vector<ValidatorRewardInput> vs;
    for (std::uint32_t i = 0; i < n; ++i)
        vs.push_back(ValidatorRewardInput{address_of(1000 + i), *rc::gen::inRange<std::uint64_t>(0, 5'000)});
    return vs;
}

std::uint64_t total_paid(const EpochRewards& r) {
    std::uint64_t sum = r.fund;
    for (const auto& [a, p] : r.paid) sum += p.node_reward + p.validator_reward;
    return sum;
}

RC_GTEST_PROP(Rewards, NeverPaysMoreThanTheEmissionAndRecordsWhatItPays, ()) {
    const auto emission =
        *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, 1'000'000'000), rc::gen::just<std::uint64_t>(~0ull >> 2));
    const auto p = params(emission, *rc::gen::inRange<std::uint64_t>(0, 3'000'000'000'000));
    const auto nodes = gen_nodes();
    const auto validators = gen_validators();
    const auto epoch = *rc::gen::inRange<std::uint64_t>(0, 300);
    const EpochRewards r = compute_rewards(p, epoch, nodes, validators);
    RC_ASSERT(r.emission == epoch_emission(p, epoch));
    RC_ASSERT(r.node_pool + r.validator_pool + r.fund == r.emission);
    RC_ASSERT(total_paid(r) == r.minted);
    RC_ASSERT(r.minted <= r.emission);
    std::uint64_t per_node = 0, node_paid = 0, validator_paid = 0;
    for (const auto& [k, v] : r.per_node) per_node += v;
    for (const auto& [a, v] : r.paid) node_paid += v.node_reward, validator_paid += v.validator_reward;
    RC_ASSERT(per_node == node_paid);
    RC_ASSERT(node_paid <= r.node_pool);
    RC_ASSERT(validator_paid <= r.validator_pool);
    // Rounding loses less than one unit per payee.
    const bool any_node =
        std::any_of(nodes.begin(), nodes.end(), [](const auto& n) { return n.multiplier_bps > 0 && n.stake > 0; });
    if (any_node) RC_ASSERT(r.node_pool - node_paid < nodes.size() + 1);
    const bool any_vote = std::any_of(validators.begin(), validators.end(), [](const auto& v) { return v.votes > 0; });
    if (any_vote) RC_ASSERT(r.validator_pool - validator_paid < validators.size() + 1);
    if (!any_node) RC_ASSERT(node_paid == 0u);  // an empty pool is not minted
}

RC_GTEST_PROP(Rewards, TheResultDoesNotDependOnTheOrderOfNodesOrValidators, ()) {
    const auto p = params(*rc::gen::inRange<std::uint64_t>(1, 1'000'000'000),
                          *rc::gen::inRange<std::uint64_t>(0, 3'000'000'000'000));
    auto nodes = gen_nodes();
    auto validators = gen_validators();
    const EpochRewards a = compute_rewards(p, 3, nodes, validators);
    std::reverse(nodes.begin(), nodes.end());
    std::rotate(validators.begin(), validators.begin() + validators.size() / 2, validators.end());
    const auto shuffled = *rc::gen::arbitrary<std::uint32_t>();
    for (std::size_t i = nodes.size(); i > 1; --i) std::swap(nodes[i - 1], nodes[(shuffled * 2654435761u + i) % i]);
    const EpochRewards b = compute_rewards(p, 3, nodes, validators);
    RC_ASSERT(a.paid == b.paid);
    RC_ASSERT(a.per_node == b.per_node);
    RC_ASSERT(a.minted == b.minted);
}

RC_GTEST_PROP(Rewards, AnOfflineNodeEarnsNothingAndOthersLoseNothingByIt, ()) {
    const auto p = params(*rc::gen::inRange<std::uint64_t>(1, 1'000'000'000), 0);
    auto nodes = gen_nodes();
    RC_PRE(!nodes.empty());
    // Node 0 failed its probes (multiplier 0): it earns nothing, and its
    // operator earns only for its other nodes.
    nodes[0].multiplier_bps = 0;
    nodes[0].operator_address = address_of(999);  // an operator with no other node
    const EpochRewards r = compute_rewards(p, 0, nodes, {});
    RC_ASSERT(r.node_reward(nodes[0].node) == 0u);
    RC_ASSERT(r.paid.count(address_of(999)) == 0u);
    // Removing it changes nothing for anyone else.
    const EpochRewards without = compute_rewards(p, 0, std::span(nodes).subspan(1), {});
    RC_ASSERT(without.paid == r.paid);
}

RC_GTEST_PROP(Rewards, SplittingANodesStakeOverManyNodesNeverRaisesTheOperatorsReward, ()) {
    const auto saturation =
        *rc::gen::oneOf(rc::gen::just<std::uint64_t>(0), rc::gen::inRange<std::uint64_t>(1, 2'000'000'000'000));
    const auto p = params(*rc::gen::inRange<std::uint64_t>(1, 1'000'000'000'000), saturation);
    auto nodes = gen_nodes();
    RC_PRE(!nodes.empty());
    const NodeRewardInput whole = nodes[0];
    const EpochRewards before = compute_rewards(p, 0, nodes, {});
    // The same operator splits node 0 into k nodes with the same total stake;
    // each piece measures at most the whole node's tier (it shares the machine).
    const auto k = *rc::gen::inRange<std::uint32_t>(2, 12);
    nodes.erase(nodes.begin());
    std::uint64_t left = whole.stake;
    for (std::uint32_t i = 0; i < k; ++i) {
        const std::uint64_t piece = i + 1 == k ? left : *rc::gen::inRange<std::uint64_t>(0, left + 1);
        left -= piece;
        const auto tier = *rc::gen::inRange<std::size_t>(0, 5);
        nodes.push_back(NodeRewardInput{node_of(100'000 + i), whole.operator_address, piece,
                                        std::min(whole.multiplier_bps, multipliers[tier])});
    }
    const EpochRewards after = compute_rewards(p, 0, nodes, {});
    const auto earned = [&](const EpochRewards& r) {
        auto it = r.paid.find(whole.operator_address);
        return it == r.paid.end() ? 0 : it->second.node_reward;
    };
    RC_ASSERT(earned(after) <= earned(before));
}

TEST(Rewards, SaturationCapsAnOperatorWhateverTheNumberOfItsNodes) {
    IncentiveParams p = params(1'000'000, 1'000);
    // Operator A: one node of stake 4'000 (over the cap of 1'000); operator
    // B: one node of 1'000. Both good: A counts as 1'000, so they earn alike.
    std::vector<NodeRewardInput> nodes{{node_of(1), address_of(1), 4'000, 10'000},
                                       {node_of(2), address_of(2), 1'000, 10'000}};
    const EpochRewards r = compute_rewards(p, 0, nodes, {});
    EXPECT_EQ(r.node_pool, 700'000u);
    EXPECT_EQ(r.paid.at(address_of(1)).node_reward, 350'000u);
    EXPECT_EQ(r.paid.at(address_of(2)).node_reward, 350'000u);
    // A spreads the same 4'000 over four nodes: still counted as 1'000.
    nodes = {{node_of(1), address_of(1), 1'000, 10'000},
             {node_of(3), address_of(1), 1'000, 10'000},
             {node_of(4), address_of(1), 1'000, 10'000},
             {node_of(5), address_of(1), 1'000, 10'000},
             {node_of(2), address_of(2), 1'000, 10'000}};
    const EpochRewards split = compute_rewards(p, 0, nodes, {});
    EXPECT_EQ(split.paid.at(address_of(1)).node_reward, 350'000u);
    EXPECT_EQ(split.node_reward(node_of(3)), 87'500u);
}

TEST(Rewards, TheWorkedExampleOfTheDocs) {
    // docs/incentives.md, "A worked example": the numbers there come from here.
    IncentiveParams p = params(1'000'000, 0);
    std::vector<NodeRewardInput> nodes{{node_of(1), address_of(1), 3'000, tier_multiplier_bps(Tier::good)},
                                       {node_of(2), address_of(2), 1'000, tier_multiplier_bps(Tier::acceptable)},
                                       {node_of(3), address_of(3), 2'000, tier_multiplier_bps(Tier::fail)}};
    std::vector<ValidatorRewardInput> validators{{address_of(10), 30}, {address_of(11), 29}};
    const EpochRewards r = compute_rewards(p, 0, nodes, validators);
    // Weights 3'000·1.0 = 30'000'000 and 1'000·0.75 = 7'500'000 (bps): 700'000 split 80:20.
    EXPECT_EQ(r.paid.at(address_of(1)).node_reward, 560'000u);
    EXPECT_EQ(r.paid.at(address_of(2)).node_reward, 140'000u);
    EXPECT_EQ(r.paid.count(address_of(3)), 0u);
    // 200'000 by votes 30:29: floor(200'000·30/59) = 101'694, floor(200'000·29/59) = 98'305.
    EXPECT_EQ(r.paid.at(address_of(10)).validator_reward, 101'694u);
    EXPECT_EQ(r.paid.at(address_of(11)).validator_reward, 98'305u);
    EXPECT_EQ(r.fund, 100'000u);
    EXPECT_EQ(r.minted, 999'999u) << "one unit of rounding is not minted";
}

TEST(Rewards, EmissionHalvesAndEndsAtZero) {
    IncentiveParams p = params(1'000, 0);
    p.emission_halving_epochs = 10;
    EXPECT_EQ(epoch_emission(p, 0), 1'000u);
    EXPECT_EQ(epoch_emission(p, 9), 1'000u);
    EXPECT_EQ(epoch_emission(p, 10), 500u);
    EXPECT_EQ(epoch_emission(p, 25), 250u);
    EXPECT_EQ(epoch_emission(p, 10 * 64), 0u);
    EXPECT_EQ(epoch_emission(p, ~0ull), 0u);
    p.emission_per_epoch = 0;
    EXPECT_EQ(epoch_emission(p, 0), 0u);
}

TEST(ProbeScores, ScoreTiersAndTheLowerMedian) {
    IncentiveParams p;  // target 10'000 kbit/s and 500 ms
    EXPECT_EQ(probe_score_bps({false, 10, 50'000}, p), 0u);
    EXPECT_EQ(probe_score_bps({true, 10, 50'000}, p), 10'000u);
    EXPECT_EQ(probe_score_bps({true, 500, 5'000}, p), 5'000u);
    EXPECT_EQ(probe_score_bps({true, 1'000, 10'000}, p), 5'000u);  // twice the target RTT halves it
    EXPECT_EQ(probe_score_bps({true, 1'000, 5'000}, p), 2'500u);
    EXPECT_EQ(probe_score_bps({true, ~0u, ~0u}, p), 0u);
    EXPECT_EQ(tier_of(10'000), Tier::good);
    EXPECT_EQ(tier_of(7'999), Tier::acceptable);
    EXPECT_EQ(tier_of(2'500), Tier::degraded);
    EXPECT_EQ(tier_of(1'000), Tier::poor);
    EXPECT_EQ(tier_of(999), Tier::fail);
    EXPECT_EQ(median_score_bps({}), 0u);
    EXPECT_EQ(median_score_bps({9'000}), 9'000u);
    // With two probers the lower one counts: one friend cannot lift a node.
    EXPECT_EQ(median_score_bps({10'000, 0}), 0u);
    // With three, one liar cannot move it outside the honest two.
    EXPECT_EQ(median_score_bps({10'000, 3'000, 2'000}), 3'000u);
    EXPECT_EQ(median_score_bps({0, 3'000, 2'000}), 2'000u);
}

TEST(ProbeAssignment, EachNodeGetsKDistinctMembersChosenByTheSeed) {
    std::vector<crypto::Address> members;
    for (std::uint32_t i = 0; i < 7; ++i) members.push_back(address_of(i));
    crypto::Hash256 seed{};
    seed[0] = 1;
    std::map<crypto::Address, int> load;
    bool differs = false;
    for (std::uint32_t n = 0; n < 200; ++n) {
        const auto probers = assigned_probers(seed, node_of(n), members, 3);
        ASSERT_EQ(probers.size(), 3u);
        std::set<crypto::Address> distinct(probers.begin(), probers.end());
        EXPECT_EQ(distinct.size(), 3u);
        for (const auto& m : members) {
            const bool listed = distinct.count(m) > 0;
            EXPECT_EQ(is_assigned_prober(seed, node_of(n), members, 3, m), listed);
        }
        for (const auto& m : probers) ++load[m];
        crypto::Hash256 other = seed;
        other[0] = 2;
        differs |= assigned_probers(other, node_of(n), members, 3) != probers;
    }
    EXPECT_TRUE(differs) << "the seed must change the assignment";
    for (const auto& m : members) EXPECT_GT(load[m], 40) << "every member probes a fair share";
    EXPECT_FALSE(is_assigned_prober(seed, node_of(0), members, 3, address_of(50))) << "outsiders never probe";
    EXPECT_EQ(assigned_probers(seed, node_of(0), std::span(members).first(2), 3).size(), 2u);
}

TEST(IncentiveParams, EncodingRoundTripsAndInconsistentParamsAreRefused) {
    IncentiveParams p = params(5, 7);
    p.node_share_bps = 6'000;
    auto back = codec::decode<IncentiveParams>(codec::encode(p));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, p);
    p.validator_share_bps = 4'001;
    EXPECT_FALSE(p.check().empty());
    EXPECT_FALSE(codec::decode<IncentiveParams>(codec::encode(p)));
    p = params(5, 0);
    p.emission_halving_epochs = 0;
    EXPECT_NE(p.check().find("halving"), std::string::npos);
}

}  // namespace
}  // namespace conet::ledger
