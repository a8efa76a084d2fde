// Path selection (proxy/path_select): stake weighting, entry guards, latency,
// and the rules no path may break. Pure functions on a seeded generator.

#include "conet/proxy/path_select.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "conet/crypto/random.hpp"
#include "conet/proxy/client.hpp"

namespace conet::proxy {
namespace {

using ledger::NodeRecord;

NodeRecord relay(std::uint8_t id, std::string host, std::uint8_t operator_id,
                 std::uint8_t caps = ledger::capability_entry | ledger::capability_exit, std::string region = "DE") {
    NodeRecord r;
    r.noise_key[0] = id;
    r.noise_key[31] = 0x5a;
    r.operator_address.bytes[0] = operator_id;
    r.endpoints = {{std::move(host), 443}};
    r.capabilities = caps;
    r.region = std::move(region);
    return r;
}

/// n relays, each with its own operator and /16 (a public-looking address).
std::vector<NodeRecord> distinct_relays(std::size_t n, std::size_t first_id = 1) {
    std::vector<NodeRecord> out;
    for (std::size_t i = 0; i < n; ++i) {
        const auto id = static_cast<std::uint8_t>(first_id + i);
        out.push_back(relay(id, "20." + std::to_string(id) + ".1.1", id));
    }
    return out;
}

std::vector<RelayView> views_of(const std::vector<NodeRecord>& records, std::vector<std::uint64_t> weights = {}) {
    std::vector<RelayView> out;
    for (std::size_t i = 0; i < records.size(); ++i) {
        RelayView v;
        v.record = &records[i];
        v.weight = weights.empty() ? 1 : weights[i];
        out.push_back(v);
    }
    return out;
}

TEST(PickWeighted, FollowsTheWeightsAndNeverPicksAZeroWeight) {
    crypto::SeededRng rng(7);
    const std::vector<std::uint64_t> w = {1000, 0, 3000};
    std::array<int, 3> n{};
    for (int i = 0; i < 40000; ++i) ++n[pick_weighted(rng, w)];
    EXPECT_EQ(n[1], 0);
    const double ratio = double(n[2]) / n[0];
    EXPECT_GT(ratio, 2.7);
    EXPECT_LT(ratio, 3.3);
}

TEST(PickWeighted, AllZeroIsUniformAndHugeWeightsDoNotOverflow) {
    crypto::SeededRng rng(8);
    const std::vector<std::uint64_t> zero = {0, 0, 0, 0};
    std::array<int, 4> n{};
    for (int i = 0; i < 40000; ++i) ++n[pick_weighted(rng, zero)];
    for (int c : n) {
        EXPECT_GT(c, 9000);
        EXPECT_LT(c, 11000);
    }
    const std::vector<std::uint64_t> huge(1000, max_path_weight);
    std::set<std::size_t> seen;
    for (int i = 0; i < 5000; ++i) seen.insert(pick_weighted(rng, huge));
    EXPECT_GT(seen.size(), 900u);  // all reachable, none stuck
}

TEST(PathSelect, DirectoryStakesBecomeCappedWeightsAndNoStakesMeansEqualWeights) {
    auto records = distinct_relays(3);
    const ledger::Directory staked(records, {5, 0, std::numeric_limits<std::uint64_t>::max()});
    const auto v = relay_views(staked);
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].weight, 5u);
    EXPECT_EQ(v[1].weight, 0u);
    EXPECT_EQ(v[2].weight, max_path_weight);
    for (const auto& x : relay_views(ledger::Directory(records))) EXPECT_EQ(x.weight, 1u);
}

TEST(NetworkRule, SameIpv4Slash16OrIpv6Slash32SharesANetwork) {
    auto a = relay(1, "20.1.3.4", 1);
    EXPECT_TRUE(share_network(a, relay(2, "20.1.200.9", 2)));
    EXPECT_FALSE(share_network(a, relay(2, "20.2.3.4", 2)));
    EXPECT_TRUE(share_network(a, relay(2, "::ffff:20.1.9.9", 2)));  // mapped form, same /16
    auto v6 = relay(3, "2a00:1450:4001::1", 3);
    EXPECT_TRUE(share_network(v6, relay(4, "2a00:1450:ffff:1::2", 4)));
    EXPECT_FALSE(share_network(v6, relay(4, "2a00:1451:4001::1", 4)));
    EXPECT_FALSE(share_network(v6, a));
    // Any endpoint counts: a second address in the same /32 is enough.
    auto both = relay(5, "30.1.1.1", 5);
    both.endpoints.push_back({"2a00:1450:1::9", 443});
    EXPECT_TRUE(share_network(both, v6));
    EXPECT_EQ(network_group({"relay.example", 1}), std::nullopt);
}

TEST(NetworkRule, OperatorAndKeyAreAlwaysDistinctAndTheDevnetFlagLiftsOnlyTheNetworkRule) {
    auto a = relay(1, "127.0.0.1", 1);
    auto b = relay(2, "127.0.0.2", 2);
    EXPECT_FALSE(may_share_path(a, b, false));  // same /16
    EXPECT_TRUE(may_share_path(a, b, true));
    auto same_operator = relay(3, "127.0.0.3", 1);
    EXPECT_FALSE(may_share_path(a, same_operator, true));
    EXPECT_FALSE(may_share_path(a, a, true));
    EXPECT_TRUE(may_share_path(relay(4, "20.1.1.1", 4), relay(5, "20.2.1.1", 5), false));
}

TEST(EntryGuards, AreFewStakeWeightedAndOnlyEntries) {
    // Relay 1 holds 90% of the entries' stake; relay 4 is exit-only.
    auto records = distinct_relays(3);
    records.push_back(relay(4, "20.4.1.1", 4, ledger::capability_exit));
    const auto views = views_of(records, {900, 50, 50, 100000});
    int first_is_heavy = 0;
    for (std::uint64_t seed = 0; seed < 2000; ++seed) {
        crypto::SeededRng rng(seed);
        EntryGuards g(1);
        g.update(views, rng);
        ASSERT_EQ(g.guards().size(), 1u);
        EXPECT_NE(g.guards()[0][0], 4);
        first_is_heavy += g.guards()[0][0] == 1;
    }
    EXPECT_GT(first_is_heavy, 1700);
    EXPECT_LT(first_is_heavy, 1900);
}

TEST(EntryGuards, PersistAcrossCircuitsAndDirectoryRefreshesSoNewUnmeasuredEntriesAreNotTried) {
    crypto::SeededRng rng(3);
    auto records = distinct_relays(10);
    auto views = views_of(records);
    EntryGuards g(3);
    g.update(views, rng);
    const auto chosen = g.guards();
    ASSERT_EQ(chosen.size(), 3u);
    const std::set<crypto::X25519Public> guard_set(chosen.begin(), chosen.end());
    PathRules rules;
    for (int i = 0; i < 300; ++i) {
        g.update(views, rng);
        auto path = choose_path(views, g.primary(views), rules, rng);
        ASSERT_EQ(path.size(), 2u);
        EXPECT_TRUE(guard_set.count(path[0]->noise_key));
    }
    // A refresh brings 40 new relays (an attacker's, say), never measured.
    auto more = records;
    for (auto& r : distinct_relays(40, 100)) more.push_back(r);
    auto refreshed = views_of(more);
    for (int i = 0; i < 300; ++i) {
        g.update(refreshed, rng);
        auto path = choose_path(refreshed, g.primary(refreshed), rules, rng);
        ASSERT_EQ(path.size(), 2u);
        EXPECT_TRUE(guard_set.count(path[0]->noise_key)) << "a new relay became an entry";
    }
    EXPECT_EQ(g.guards(), chosen);
}

TEST(EntryGuards, AFailedGuardIsStoodInForAndResumesWhenItRecovers) {
    crypto::SeededRng rng(4);
    auto records = distinct_relays(8);
    auto views = views_of(records);
    EntryGuards g(2);
    g.update(views, rng);
    const auto original = g.guards();
    ASSERT_EQ(original.size(), 2u);
    for (auto& v : views) v.failed = v.record->noise_key == original[0];
    g.update(views, rng);
    auto now = g.primary(views);
    ASSERT_EQ(now.size(), 2u);
    EXPECT_EQ(now[0], original[1]);
    EXPECT_NE(now[1], original[0]);
    EXPECT_EQ(g.guards().size(), 3u);
    for (auto& v : views) v.failed = false;
    g.update(views, rng);
    EXPECT_EQ(g.primary(views), original);
}

TEST(EntryGuards, LeaveWithTheirRelayAndTheRememberedListIsBounded) {
    crypto::SeededRng rng(5);
    auto records = distinct_relays(40);
    auto views = views_of(records);
    EntryGuards g(2);
    g.update(views, rng);
    const auto first = g.guards();
    // Every guard keeps failing: new ones are sampled, old failed ones dropped.
    for (int round = 0; round < 15; ++round) {
        for (auto& v : views)
            for (const auto& k : g.guards())
                if (v.record->noise_key == k) v.failed = true;
        g.update(views, rng);
        EXPECT_LE(g.guards().size(), 2 * guards_sampled_per_guard);
    }
    EXPECT_EQ(std::count(g.guards().begin(), g.guards().end(), first[0]), 0);  // the oldest failed made room
    // A guard whose relay left the directory is forgotten.
    EntryGuards h(2);
    h.update(views_of(records), rng);
    const auto kept = h.guards();
    std::vector<NodeRecord> without_kept;
    for (const auto& r : records)
        if (r.noise_key != kept[0]) without_kept.push_back(r);
    auto after = views_of(without_kept);
    h.update(after, rng);
    EXPECT_EQ(std::count(h.guards().begin(), h.guards().end(), kept[0]), 0);
    EXPECT_EQ(h.guards().size(), 2u);
    EXPECT_EQ(h.guards()[0], kept[1]);
}

TEST(PathSelect, EntryIsAGuardCloseToTheBestLatency) {
    crypto::SeededRng rng(6);
    auto records = distinct_relays(6);
    auto views = views_of(records);
    const std::vector<crypto::X25519Public> guards = {records[0].noise_key, records[1].noise_key, records[2].noise_key};
    views[0].rtt_ms = 10;
    views[1].rtt_ms = 11;
    views[2].rtt_ms = 100;  // slow: not used while the others are close to the best
    std::map<std::uint8_t, int> entries;
    for (int i = 0; i < 1000; ++i) ++entries[choose_path(views, guards, {}, rng)[0]->noise_key[0]];
    EXPECT_EQ(entries[3], 0);
    EXPECT_GT(entries[1], 350);
    EXPECT_GT(entries[2], 350);
    // An unmeasured guard is among the candidates (so it gets measured).
    views[2].rtt_ms.reset();
    entries.clear();
    for (int i = 0; i < 1000; ++i) ++entries[choose_path(views, guards, {}, rng)[0]->noise_key[0]];
    EXPECT_GT(entries[3], 200);
}

TEST(PathSelect, ExitIsStakeWeightedInRegionAndSpreadOverUnusedExits) {
    crypto::SeededRng rng(9);
    std::vector<NodeRecord> records = {
        relay(1, "20.1.1.1", 1, ledger::capability_entry), relay(2, "20.2.1.1", 2, ledger::capability_exit, "US"),
        relay(3, "20.3.1.1", 3, ledger::capability_exit, "US"), relay(4, "20.4.1.1", 4, ledger::capability_exit, "FR")};
    auto views = views_of(records, {1, 100, 300, 100000});
    const std::vector<crypto::X25519Public> guards = {records[0].noise_key};
    PathRules rules;
    rules.exit_region = "US";
    std::map<std::uint8_t, int> exits;
    for (int i = 0; i < 4000; ++i) ++exits[choose_path(views, guards, rules, rng)[1]->noise_key[0]];
    EXPECT_EQ(exits[4], 0);
    EXPECT_GT(double(exits[3]) / exits[2], 2.6);
    EXPECT_LT(double(exits[3]) / exits[2], 3.4);
    views[2].exit_in_use = true;
    for (int i = 0; i < 200; ++i) EXPECT_EQ(choose_path(views, guards, rules, rng)[1]->noise_key[0], 2);
}

TEST(PathSelect, AGuardNoExitCanFollowIsSkippedAndFailedRelaysAreNeverChosen) {
    crypto::SeededRng rng(10);
    // Guard 1 shares the only exit's operator; guard 2 shares its /16.
    std::vector<NodeRecord> records = {
        relay(1, "20.1.1.1", 9, ledger::capability_entry), relay(2, "20.9.7.7", 2, ledger::capability_entry),
        relay(3, "20.3.1.1", 3, ledger::capability_entry), relay(4, "20.9.1.1", 9, ledger::capability_exit)};
    auto views = views_of(records);
    const std::vector<crypto::X25519Public> guards = {records[0].noise_key, records[1].noise_key, records[2].noise_key};
    for (int i = 0; i < 100; ++i) {
        auto p = choose_path(views, guards, {}, rng);
        ASSERT_EQ(p.size(), 2u);
        EXPECT_EQ(p[0]->noise_key[0], 3);
    }
    views[2].failed = true;
    EXPECT_TRUE(choose_path(views, guards, {}, rng).empty());
    PathRules devnet;
    devnet.allow_same_network = true;  // guard 2 becomes possible; guard 1 never (operator)
    for (int i = 0; i < 100; ++i) EXPECT_EQ(choose_path(views, guards, devnet, rng)[0]->noise_key[0], 2);
}

TEST(PathSelect, ThreeHopsSetAsideAnExitNoMiddleCanJoin) {
    crypto::SeededRng rng(12);
    // Exit 2 is heavy but no middle fits with it: relay 4 shares its operator
    // and exit 3 its /16. Every path must be 1 -> 4 -> 3.
    std::vector<NodeRecord> records = {
        relay(1, "20.1.1.1", 1, ledger::capability_entry), relay(2, "20.2.1.1", 2, ledger::capability_exit),
        relay(3, "20.2.9.9", 3, ledger::capability_exit), relay(4, "20.5.1.1", 2, ledger::capability_entry)};
    auto views = views_of(records, {1, 1000, 1, 1});
    const std::vector<crypto::X25519Public> guards = {records[0].noise_key};
    PathRules rules;
    rules.hops = 3;
    for (int i = 0; i < 100; ++i) {
        auto p = choose_path(views, guards, rules, rng);
        ASSERT_EQ(p.size(), 3u);
        EXPECT_EQ(p[0]->noise_key[0], 1);
        EXPECT_EQ(p[1]->noise_key[0], 4);
        EXPECT_EQ(p[2]->noise_key[0], 3);
    }
    views[3].failed = true;
    EXPECT_TRUE(choose_path(views, guards, rules, rng).empty());
}

TEST(PathSelect, RandomDirectoriesNeverYieldAPathThatBreaksTheRules) {
    int paths = 0;
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
        crypto::SeededRng rng(seed);
        std::uint8_t buf[64];
        rng.fill(buf);
        std::vector<NodeRecord> records;
        for (std::uint8_t i = 0; i < 12; ++i) {
            const std::uint8_t op = buf[i] % 6, net = buf[i + 12] % 5, caps = 1 + buf[i + 24] % 3;
            const std::string host = buf[i + 36] % 2 ? "20." + std::to_string(net) + ".0." + std::to_string(i + 1)
                                                     : "2a00:" + std::to_string(net) + "::" + std::to_string(i + 1);
            records.push_back(relay(i + 1, host, op, caps, buf[i + 48] % 2 ? "DE" : "US"));
        }
        auto views = views_of(records);
        for (std::size_t i = 0; i < views.size(); ++i) {
            views[i].failed = buf[i + 50 < 64 ? i + 50 : 0] % 7 == 0;
            views[i].weight = buf[(i * 5) % 64];
        }
        EntryGuards g(3);
        g.update(views, rng);
        PathRules rules;
        rules.hops = 2 + seed % 2;
        rules.exit_region = seed % 3 == 0 ? "DE" : "";
        const auto guards = g.primary(views);
        auto path = choose_path(views, guards, rules, rng);
        if (path.empty()) continue;
        ++paths;
        ASSERT_EQ(path.size(), rules.hops) << "seed " << seed;
        EXPECT_TRUE(path.front()->is_entry()) << "seed " << seed;
        EXPECT_TRUE(std::count(guards.begin(), guards.end(), path.front()->noise_key)) << "seed " << seed;
        EXPECT_TRUE(path.back()->is_exit()) << "seed " << seed;
        if (!rules.exit_region.empty()) {
            EXPECT_EQ(path.back()->region, rules.exit_region) << "seed " << seed;
        }
        for (std::size_t i = 0; i < path.size(); ++i) {
            for (const auto& v : views)
                if (v.record == path[i]) {
                    EXPECT_FALSE(v.failed) << "seed " << seed;
                }
            for (std::size_t j = i + 1; j < path.size(); ++j)
                EXPECT_TRUE(may_share_path(*path[i], *path[j], false)) << "seed " << seed;
        }
    }
    EXPECT_GT(paths, 100);  // the rules were exercised, not just skipped
}

TEST(ProxyClient, KeepsOnlyRecordsTheAddressRuleAllowsAndNeverNames) {
    // No socket is opened: the client is built, given directories, never started.
    boost::asio::io_context io;
    crypto::SeededRng rng(11);
    std::vector<NodeRecord> records = {relay(1, "20.1.1.1", 1), relay(2, "169.254.169.254", 2),
                                       relay(3, "relay.example", 3), relay(4, "127.0.0.1", 4),
                                       relay(5, "2a00:1450::5", 5)};
    records[4].endpoints.push_back({"10.0.0.5", 443});  // one bad endpoint refuses the record
    const ledger::Directory directory(records, {10, 20, 30, 40, 50});

    Client strict(io, ClientOptions{}, directory, rng);
    EXPECT_EQ(strict.relays_known(), 1u);
    EXPECT_EQ(strict.relays_refused(), 4u);
    EXPECT_EQ(strict.status().as_object().at("relays_refused").as_uint64(), 4u);

    ClientOptions devnet;
    devnet.allow_private_relays = true;
    Client lax(io, devnet, directory, rng);
    EXPECT_EQ(lax.relays_known(), 4u);  // names stay refused
    EXPECT_EQ(lax.relays_refused(), 1u);
    lax.set_directory(ledger::Directory({records[2]}));
    EXPECT_EQ(lax.relays_known(), 0u);
    EXPECT_EQ(lax.relays_refused(), 1u);
}

}  // namespace
}  // namespace conet::proxy
