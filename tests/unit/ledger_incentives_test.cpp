// The incentive protocol on the ledger (docs/incentives.md): probe reports
// are accepted only from a node's assigned probers in the current epoch,
// once each; the epoch's last block scores them, pays the epoch's emission
// to operators and the developer fund and records it in the state root and
// the store; nodes that fail for several measured epochs are jailed until
// their operator unjails them.
#include <gtest/gtest.h>

#include <filesystem>

#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"

namespace conet::ledger {
namespace {

constexpr std::uint64_t E = 3;  // blocks per epoch
constexpr std::uint64_t emission = 1'000'000;

/// 3 genesis validators (keys 0..2) and 3 operators (keys 3..5), each with
/// one node staked 1'000, 2'000 and 3'000; blocks certified by the set.
struct Net {
    crypto::SeededRng rng{77};
    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::X25519KeyPair> noise;
    Genesis genesis;
    State state{0, {}};
    Header head;
    std::vector<Block> blocks;

    explicit Net(std::optional<IncentiveParams> incentives = {}) {
        for (int i = 0; i < 6; ++i) keys.push_back(crypto::PrivateKey::generate(rng));
        for (int i = 0; i < 3; ++i) noise.push_back(crypto::X25519KeyPair::generate(rng));
        genesis.chain_id = 21;
        genesis.time_unix = 1000;
        for (int i = 0; i < 3; ++i) genesis.validators.push_back(keys[i].address());
        for (auto& k : keys) genesis.balances.emplace_back(k.address(), 100'000);
        genesis.params.epoch_blocks = E;
        genesis.params.incentives.emission_per_epoch = emission;
        genesis.params.incentives.emission_halving_epochs = 1'000;
        genesis.params.incentives.probers_per_node = 2;
        if (incentives) genesis.params.incentives = *incentives;
        state = *genesis.state();
        head = genesis.header(state);
        std::vector<Transaction> setup;
        for (int i = 0; i < 3; ++i) {
            NodeRecord r;
            r.noise_key = noise[i].public_key;
            r.endpoints = {{"127.0.0.1", static_cast<std::uint16_t>(9100 + i)}};
            r.region = "DE";
            r.expires_at = 1'000'000;
            r.sign(operator_key(i), genesis.chain_id);
            setup.push_back(tx(3 + i, TxKind::register_node, NodePayload{r}, 0));
            setup.push_back(tx(3 + i, TxKind::stake, StakePayload{r.noise_key, 1'000u * (i + 1)}, 1));
        }
        advance(std::move(setup));  // height 1
        // Stake counts from the start of the next epoch (added during an
        // epoch, it earns nothing then): the tests measure epoch 1 on.
        advance_to_epoch_end();
    }
    const crypto::PrivateKey& operator_key(int node) const { return keys[3 + node]; }
    const crypto::X25519Public& node_key(int node) const { return noise[node].public_key; }
    const crypto::PrivateKey& key_of(const crypto::Address& a) const {
        for (const auto& k : keys)
            if (k.address() == a) return k;
        ADD_FAILURE() << "no key for " << a.to_string();
        return keys[0];
    }
    std::uint64_t nonce(std::size_t i) const {
        const Account* a = state.account(keys[i].address());
        return a ? a->nonce : 0;
    }
    template <class P>
    Transaction tx(std::size_t signer, TxKind kind, const P& payload, std::uint64_t nonce_offset = 0) {
        return make_transaction(keys[signer], genesis.chain_id, nonce(signer) + nonce_offset, 1, kind, payload);
    }
    std::uint64_t epoch() const { return epoch_of(head.height + 1, E); }
    /// The validators assigned to probe `node` this epoch.
    std::vector<crypto::Address> probers(int node) const {
        return assigned_probers(state.epoch_info().seed, node_key(node), state.validator_set().members,
                                genesis.params.incentives.probers_per_node);
    }
    std::size_t index_of(const crypto::Address& a) const {
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (keys[i].address() == a) return i;
        return keys.size();
    }
    /// A report by `prober` about `node`.
    Transaction report(std::size_t prober, int node, ProbeResult r, std::optional<std::uint64_t> for_epoch = {}) {
        return tx(prober, TxKind::probe_report, ProbeReportPayload{for_epoch.value_or(epoch()), {{node_key(node), r}}});
    }
    /// The outcome of one transaction applied on a copy of the state in the next block.
    util::Result<void, TxError> try_tx(const Transaction& t) const {
        State s = state;
        auto r = s.apply(t, BlockContext{head.height + 1, head.time_unix + 1, keys[0].address(), head.hash()});
        if (!r) return util::unexpected(r.error());
        if (r->reverted) return util::unexpected(*r->reverted);
        return {};
    }
    void advance(std::vector<Transaction> txs = {}) {
        Mempool pool;
        for (auto& t : txs) ASSERT_TRUE(pool.admit(t, state));
        auto [block, next] =
            build_unsigned_block(state, head, pool, head.time_unix + 1, keys[0].address(), head.view + 1);
        ASSERT_EQ(block.transactions.size(), txs.size());
        const auto& set = state.validator_set().members;
        for (std::uint32_t i = 0; i < set.size(); ++i)
            block.certificate.votes.push_back(finalize_vote(block.header, i, key_of(set[i]), E));
        ASSERT_TRUE(apply_block(state, head, block));
        head = block.header;
        blocks.push_back(block);
    }
    void advance_to_epoch_end() {
        while (!ends_epoch(head.height + 1, E)) advance();
        advance();
    }
    /// Every assigned prober of every node reports `results[node]`.
    void report_all(const std::vector<ProbeResult>& results) {
        std::vector<Transaction> txs;
        std::map<std::size_t, std::uint64_t> sent;
        for (int n = 0; n < static_cast<int>(results.size()); ++n)
            for (const auto& p : probers(n)) {
                const std::size_t i = index_of(p);
                txs.push_back(
                    tx(i, TxKind::probe_report, ProbeReportPayload{epoch(), {{node_key(n), results[n]}}}, sent[i]++));
            }
        advance(std::move(txs));
    }
    std::uint64_t balance(std::size_t i) const { return state.account(keys[i].address())->balance; }
};

const ProbeResult good{true, 20, 50'000};
const ProbeResult acceptable{true, 20, 6'000};  // 60 %
const ProbeResult down{false, 0, 0};

TEST(Incentives, AnEpochsReportsAreScoredAndItsEmissionPaidByScoreTimesStake) {
    Net n;
    const Amount128 supply = n.state.total_supply();
    const std::uint64_t op0 = n.balance(3), op1 = n.balance(4), op2 = n.balance(5);
    const std::uint64_t fund_before = n.state.account(developer_fund_address())->balance;
    n.report_all({good, acceptable, down});  // height 4
    n.advance();                             // height 5
    n.advance();                             // height 6 ends epoch 1
    const EpochInfo& info = n.state.epoch_info();
    ASSERT_EQ(info.epoch, 2u);
    ASSERT_TRUE(info.last);
    EXPECT_EQ(info.last->emission, emission);
    EXPECT_EQ(info.last->nodes_measured, 3u);
    EXPECT_EQ(info.last->nodes_paid, 2u);
    // Weights: 1'000 · 1.0 and 2'000 · 0.75 = 1'000 : 1'500 of the 700'000 node pool.
    EXPECT_EQ(n.balance(3), op0 + 280'000);
    EXPECT_EQ(n.balance(4), op1 + 420'000);
    EXPECT_EQ(n.balance(5), op2) << "a node that failed its probes earns nothing";
    EXPECT_EQ(n.state.account(developer_fund_address())->balance, fund_before + 100'000u);
    // The validator pool is not minted until votes are recorded; nothing else was lost.
    EXPECT_EQ(info.last->minted, 800'000u);
    EXPECT_EQ(n.state.total_supply(), supply + info.last->minted);
    const NodeService& s0 = n.state.node(n.node_key(0))->service;
    EXPECT_TRUE(s0.scored);
    EXPECT_EQ(s0.scored_epoch, 1u);
    EXPECT_EQ(s0.reports, 2u);
    EXPECT_EQ(s0.score_bps, 10'000u);
    EXPECT_EQ(s0.reward, 280'000u);
    EXPECT_TRUE(s0.probes.empty()) << "the epoch's reports are consumed by its scoring";
    EXPECT_EQ(n.state.node(n.node_key(2))->service.failed_epochs, 1u);
    ASSERT_NE(n.state.reward(n.keys[4].address()), nullptr);
    EXPECT_EQ(*n.state.reward(n.keys[4].address()), (RewardRecord{1, 420'000, 0, 0}));
    EXPECT_EQ(n.state.reward(n.keys[5].address()), nullptr);
    // The records are in the state root: a proof of the reward verifies.
    const auto proof = n.state.tree().prove(State::reward_key(n.keys[4].address()));
    EXPECT_TRUE(smt_verify(n.state.state_root(), State::reward_key(n.keys[4].address()),
                           State::reward_value_hash(*n.state.reward(n.keys[4].address())), proof));
}

TEST(Incentives, ReportsFromUnassignedProbersOtherEpochsOrTwiceAreRejected) {
    Net n;
    const auto assigned = n.probers(0);
    ASSERT_EQ(assigned.size(), 2u);
    std::size_t unassigned = 0;
    for (std::size_t i = 0; i < 3; ++i)
        if (std::find(assigned.begin(), assigned.end(), n.keys[i].address()) == assigned.end()) unassigned = i;
    const std::size_t prober = n.index_of(assigned[0]);
    EXPECT_EQ(n.try_tx(n.report(unassigned, 0, good)).error(), TxError::not_a_prober);
    EXPECT_EQ(n.try_tx(n.report(3, 0, good)).error(), TxError::not_a_prober) << "an operator cannot score itself";
    EXPECT_EQ(n.try_tx(n.report(prober, 0, good, n.epoch() + 1)).error(), TxError::wrong_epoch);
    EXPECT_EQ(n.try_tx(n.tx(prober, TxKind::probe_report,
                            ProbeReportPayload{n.epoch(), {{n.node_key(0), good}, {n.node_key(0), good}}}))
                  .error(),
              TxError::duplicate_report);
    crypto::X25519Public unknown{};
    unknown[0] = 9;
    EXPECT_EQ(n.try_tx(n.tx(prober, TxKind::probe_report, ProbeReportPayload{n.epoch(), {{unknown, good}}})).error(),
              TxError::unknown_node);
    // The report survives the wire (the kinds are known to the decoder).
    for (const Transaction& t : {n.report(prober, 0, good), n.tx(3, TxKind::unjail, NodeKeyPayload{n.node_key(0)})}) {
        auto back = codec::decode<Transaction>(codec::encode(t));
        ASSERT_TRUE(back);
        EXPECT_EQ(back->hash(), t.hash());
    }
    ASSERT_TRUE(n.try_tx(n.report(prober, 0, good)));
    n.advance({n.report(prober, 0, good)});
    EXPECT_EQ(n.try_tx(n.report(prober, 0, good)).error(), TxError::duplicate_report);
    // A forged report: the second prober's signed "down" with its result
    // changed to full marks. The signature no longer recovers the prober, so
    // the transaction is not even payable.
    const std::size_t second = n.index_of(assigned[1]);
    Transaction forged = n.report(second, 0, down);
    ASSERT_TRUE(n.try_tx(forged));
    forged.payload = codec::encode(ProbeReportPayload{n.epoch(), {{n.node_key(0), good}}});
    ASSERT_TRUE(forged.sender());
    EXPECT_NE(*forged.sender(), assigned[1]);
    EXPECT_FALSE(n.try_tx(forged));
    // Malformed payloads are refused, not trusted.
    Transaction junk = n.report(prober, 1, good);
    junk.payload.push_back(0);
    junk.sign(n.keys[prober]);
    EXPECT_EQ(n.try_tx(junk).error(), TxError::malformed_payload);
}

TEST(Incentives, AnUnmeasuredNodeEarnsNothingButIsNotBlamed) {
    Net n;
    n.report_all({good});  // nodes 1 and 2: no reports
    n.advance_to_epoch_end();
    const NodeService& s1 = n.state.node(n.node_key(1))->service;
    EXPECT_EQ(s1.reports, 0u);
    EXPECT_EQ(s1.reward, 0u);
    EXPECT_EQ(s1.failed_epochs, 0u);
    EXPECT_EQ(n.state.epoch_info().last->nodes_measured, 1u);
    // Node 0 takes the whole pool (rounding aside).
    EXPECT_EQ(n.state.node(n.node_key(0))->service.reward, 700'000u);
}

TEST(Incentives, NodesFailingSeveralMeasuredEpochsAreJailedUntilTheirOperatorUnjailsThem) {
    Net n;
    for (int e = 0; e < 3; ++e) {
        EXPECT_FALSE(n.state.node(n.node_key(2))->service.jailed);
        n.report_all({good, good, down});
        n.advance_to_epoch_end();
    }
    const NodeService& jailed = n.state.node(n.node_key(2))->service;
    EXPECT_TRUE(jailed.jailed);
    EXPECT_EQ(jailed.failed_epochs, 3u);
    const std::size_t prober = n.index_of(n.probers(2)[0]);
    EXPECT_EQ(n.try_tx(n.report(prober, 2, good)).error(), TxError::node_jailed);
    EXPECT_EQ(n.try_tx(n.tx(4, TxKind::unjail, NodeKeyPayload{n.node_key(2)})).error(), TxError::not_operator);
    EXPECT_EQ(n.try_tx(n.tx(3, TxKind::unjail, NodeKeyPayload{n.node_key(0)})).error(), TxError::not_jailed);
    n.advance({n.tx(5, TxKind::unjail, NodeKeyPayload{n.node_key(2)})});
    EXPECT_FALSE(n.state.node(n.node_key(2))->service.jailed);
    EXPECT_EQ(n.state.node(n.node_key(2))->service.failed_epochs, 0u);
    const std::uint64_t before = n.balance(5);
    n.report_all({good, good, good});
    n.advance_to_epoch_end();
    EXPECT_GT(n.balance(5), before) << "an unjailed node that serves well earns again";
}

TEST(Incentives, AFriendlyProberCannotLiftAFailingNodeAlone) {
    Net n;
    const auto probers = n.probers(2);
    ASSERT_EQ(probers.size(), 2u);
    // One prober lies (full marks), the other measures it down: the lower
    // median of two is 0, so the node earns nothing.
    n.advance({n.report(n.index_of(probers[0]), 2, good), n.report(n.index_of(probers[1]), 2, down)});
    n.advance_to_epoch_end();
    EXPECT_EQ(n.state.node(n.node_key(2))->service.score_bps, 0u);
    EXPECT_EQ(n.state.node(n.node_key(2))->service.reward, 0u);
}

TEST(Incentives, StakeAddedJustBeforeThePayoutEarnsNothingThatEpoch) {
    Net n;
    n.report_all({good, acceptable, down});  // height 4
    n.advance();                             // height 5
    // Operator 0 stakes 50 times more in the epoch's last block: paid on
    // the smaller of its stake at the epoch's start and at its end.
    n.advance({n.tx(3, TxKind::stake, StakePayload{n.node_key(0), 50'000})});  // height 6 ends epoch 1
    EXPECT_EQ(n.state.node(n.node_key(0))->service.reward, 280'000u);
    EXPECT_EQ(n.state.node(n.node_key(0))->service.epoch_start_stake, 51'000u) << "it counts from the next epoch";
    n.report_all({good, acceptable, down});
    n.advance_to_epoch_end();
    EXPECT_GT(n.state.node(n.node_key(0))->service.reward, 280'000u);
}

TEST(Incentives, ANodeIsMeasuredOnlyWithReportsFromHalfItsProbers) {
    Net n;
    // Three probers per node (all three validators): one report of three is
    // not enough to score (or blame) it.
    n.genesis.params.incentives.probers_per_node = 3;
    n = Net(n.genesis.params.incentives);
    const auto probers = n.probers(1);
    ASSERT_EQ(probers.size(), 3u);
    n.advance({n.report(n.index_of(probers[0]), 1, down)});
    n.advance_to_epoch_end();
    EXPECT_EQ(n.state.node(n.node_key(1))->service.reports, 1u);
    EXPECT_EQ(n.state.node(n.node_key(1))->service.failed_epochs, 0u) << "one report alone does not blame it";
    EXPECT_EQ(n.state.epoch_info().last->nodes_measured, 0u);
    n.advance({n.report(n.index_of(probers[0]), 1, down), n.report(n.index_of(probers[1]), 1, down)});
    n.advance_to_epoch_end();
    EXPECT_EQ(n.state.node(n.node_key(1))->service.failed_epochs, 1u) << "two of three do";
}

TEST(Incentives, TheNextEpochsProbersAreSeededByTheBlockBeforeTheEpochsLast) {
    Net n;
    n.advance_to_epoch_end();
    ASSERT_GE(n.blocks.size(), 2u);
    EXPECT_EQ(n.state.epoch_info().seed, n.blocks[n.blocks.size() - 2].header.hash());
    EXPECT_EQ(n.state.epoch_info().seed, n.head.parent);
}

TEST(Incentives, TheStoreKeepsEveryEpochsSummaryRewardsAndScoresAcrossReopening) {
    const auto dir = std::filesystem::temp_directory_path() / ("conet-incentives-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Net n;
    n.report_all({good, acceptable, down});
    n.advance_to_epoch_end();  // epoch 1 paid
    n.report_all({acceptable, good, good});
    n.advance_to_epoch_end();  // epoch 2 paid
    {
        auto store = BlockStore::open(dir, n.genesis);
        ASSERT_TRUE(store) << store.error();
        for (const Block& b : n.blocks) {
            State next = (*store)->state();
            ASSERT_TRUE(apply_block(next, (*store)->head(), b));
            ASSERT_TRUE((*store)->commit(b, next));
        }
    }
    auto store = BlockStore::open(dir, n.genesis);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->state().state_root(), n.state.state_root());
    EXPECT_EQ((*store)->state().epoch_info(), n.state.epoch_info());
    ASSERT_TRUE((*store)->epoch_summary(0));
    EXPECT_EQ((*store)->epoch_summary(0)->nodes_paid, 0u) << "stake added during epoch 0 earns from epoch 1";
    EXPECT_EQ((*store)->epoch_summary(1)->nodes_paid, 2u);
    EXPECT_EQ((*store)->epoch_summary(2)->nodes_paid, 3u);
    EXPECT_FALSE((*store)->epoch_summary(3));
    EXPECT_EQ((*store)->reward_at(1, n.keys[4].address()), (RewardRecord{1, 420'000, 0, 0}));
    EXPECT_FALSE((*store)->reward_at(1, n.keys[5].address()));
    EXPECT_TRUE((*store)->reward_at(2, n.keys[5].address()));
    EXPECT_EQ((*store)->rewards_of_epoch(1, 100).size(), 3u);  // two operators and the fund
    // Each node's score in every epoch, newest first: the last is the state's.
    for (std::size_t i = 0; i < 3; ++i) {
        const auto history = (*store)->score_history(n.node_key(i), 10);
        ASSERT_GE(history.size(), 2u) << "node " << i;
        const NodeService& now = n.state.node(n.node_key(i))->service;
        EXPECT_EQ(history[0].epoch, 2u);
        EXPECT_EQ(history[0].score_bps, now.score_bps);
        EXPECT_EQ(history[0].reward, now.reward);
        EXPECT_EQ(history[1].epoch, 1u);
        for (std::size_t k = 1; k < history.size(); ++k) EXPECT_LT(history[k].epoch, history[k - 1].epoch);
        EXPECT_EQ((*store)->score_history(n.node_key(i), 1).size(), 1u);
    }
    // Epoch 1 scored node 2 down (no reward) and node 0 good; epoch 2 node 2 good.
    EXPECT_EQ((*store)->score_history(n.node_key(2), 10)[1].reward, 0u);
    EXPECT_GT((*store)->score_history(n.node_key(2), 10)[0].reward, 0u);
    EXPECT_GT((*store)->score_history(n.node_key(0), 10)[1].score_bps,
              (*store)->score_history(n.node_key(2), 10)[1].score_bps);
    EXPECT_TRUE((*store)->score_history(crypto::X25519Public{}, 10).empty());
    std::filesystem::remove_all(dir);
}

TEST(Incentives, UsageRecordsAndFeesAreKeptByTheStoreAndRecordsPrunedOnceNoLongerClaimable) {
    const auto dir = std::filesystem::temp_directory_path() / ("conet-usage-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    IncentiveParams ip;
    ip.emission_per_epoch = emission;
    ip.emission_halving_epochs = 1'000;
    ip.probers_per_node = 2;
    ip.usage_price_per_mib = 1'000;
    Net n(ip);
    n.advance({n.tx(1, TxKind::deposit, AmountPayload{50'000})});
    const std::uint64_t epoch = n.epoch();
    const std::uint64_t bytes = 10u << 20;
    const ReceiptFields f{n.genesis.chain_id, n.node_key(0), n.node_key(1), epoch, bytes};
    const ClaimedReceipt r{n.keys[1].address(), n.node_key(1), bytes, crypto::sign_hash(n.keys[1], f.digest())};
    n.advance({n.tx(3, TxKind::usage_claim, UsageClaimPayload{n.node_key(0), epoch, {r}})});
    ASSERT_NE(n.state.usage_record(epoch, n.node_key(0), n.keys[1].address(), n.node_key(1)), nullptr);
    EXPECT_EQ(n.state.account(n.keys[1].address())->prepaid, 40'000u);
    auto commit_all = [&](std::size_t from) {
        auto store = BlockStore::open(dir, n.genesis);
        EXPECT_TRUE(store) << store.error();
        for (std::size_t i = from; i < n.blocks.size(); ++i) {
            State next = (*store)->state();
            EXPECT_TRUE(apply_block(next, (*store)->head(), n.blocks[i]));
            EXPECT_TRUE((*store)->commit(n.blocks[i], next));
        }
    };
    commit_all(0);
    {
        auto store = BlockStore::open(dir, n.genesis);
        ASSERT_TRUE(store) << store.error();
        EXPECT_EQ((*store)->state().state_root(), n.state.state_root());
        EXPECT_EQ((*store)->state().usage().size(), 1u);
        // The fees each operator earned from the epoch's usage: the claim's split, kept by the store.
        const UsageSplit split = split_usage_fee(10'000, ip);
        ASSERT_GT(split.entry, 0u);
        ASSERT_GT(split.exit, 0u);
        const auto exit_op = n.state.node(n.node_key(0))->record.operator_address;
        const auto entry_op = n.state.node(n.node_key(1))->record.operator_address;
        ASSERT_NE(exit_op, entry_op);
        EXPECT_EQ((*store)->usage_fees(epoch, exit_op), split.exit);
        EXPECT_EQ((*store)->usage_fees(epoch, entry_op), split.entry);
        EXPECT_EQ((*store)->usage_fees(epoch + 1, exit_op), 0u);
        EXPECT_EQ((*store)->usage_fees(epoch, n.keys[1].address()), 0u) << "the payer earned nothing";
    }
    const std::size_t before = n.blocks.size();
    n.advance_to_epoch_end();  // the epoch's own end: still claimable in the next
    EXPECT_EQ(n.state.usage().size(), 1u);
    n.advance_to_epoch_end();  // no longer claimable, kept one epoch more
    EXPECT_EQ(n.state.usage().size(), 1u);
    n.advance_to_epoch_end();  // pruned
    EXPECT_EQ(n.state.usage().size(), 0u);
    commit_all(before);
    auto store = BlockStore::open(dir, n.genesis);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->state().state_root(), n.state.state_root());
    EXPECT_EQ((*store)->state().usage().size(), 0u);
    std::filesystem::remove_all(dir);
}

TEST(Incentives, GenesisRefusesAnEmissionThatCouldOverflowTheSupply) {
    Genesis g;
    g.validators.push_back(crypto::PrivateKey::generate(*std::make_unique<crypto::SeededRng>(3)).address());
    g.params.epoch_blocks = 10;
    g.params.incentives.emission_per_epoch = ~0ull / 4;
    g.params.incentives.emission_halving_epochs = 4;
    auto s = g.state();
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().find("emission"), std::string::npos);
    g.params.incentives.emission_halving_epochs = 1;
    EXPECT_TRUE(g.state());
    // And a JSON genesis with incentives but without epochs.
    auto parsed = Genesis::from_json(
        R"({"chain_id": 1, "validators": ["0x0000000000000000000000000000000000000001"],
            "params": {"incentives": {"emission_per_epoch": 5, "emission_halving_epochs": 10}}})");
    ASSERT_FALSE(parsed);
    EXPECT_NE(parsed.error().find("epoch_blocks"), std::string::npos);
    auto ok = Genesis::from_json(
        R"({"chain_id": 1, "validators": ["0x0000000000000000000000000000000000000001"],
            "params": {"epoch_blocks": 5, "incentives": {"emission_per_epoch": 5, "emission_halving_epochs": 10,
                       "probers_per_node": 4}}})");
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->params.incentives.probers_per_node, 4u);
    auto round = Genesis::from_json(ok->to_json());
    ASSERT_TRUE(round);
    EXPECT_EQ(round->params.incentives, ok->params.incentives);
}

}  // namespace
}  // namespace conet::ledger
