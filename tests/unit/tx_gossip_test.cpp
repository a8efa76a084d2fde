// Transaction gossip between validators: the per-validator budget and the
// penalty for a badly signed transaction (node/tx_gossip.hpp), each driven
// by an attacking validator's messages.
#include "conet/node/tx_gossip.hpp"

#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"

namespace conet::node {
namespace {

struct Net {
    crypto::SeededRng rng{33};
    std::vector<crypto::PrivateKey> users;
    ledger::Genesis genesis;
    ledger::State state{0, {}};
    util::Limits limits;

    explicit Net(std::size_t n_users) {
        for (std::size_t i = 0; i < n_users; ++i) users.push_back(crypto::PrivateKey::generate(rng));
        genesis.chain_id = 5;
        genesis.time_unix = 1000;
        genesis.validators = {crypto::PrivateKey::generate(rng).address()};
        for (auto& u : users) genesis.balances.emplace_back(u.address(), 1'000'000);
        state = *genesis.state();
        limits.gossip_txs_per_second_per_validator = 100;
        limits.gossip_txs_burst_per_validator = 200;
        limits.bad_gossip_penalty_ms = 5'000;
    }
    /// `per_user` valid transfers from each user (nonces 0..per_user-1).
    std::vector<ledger::Transaction> transfers(std::size_t per_user) {
        std::vector<ledger::Transaction> out;
        for (std::uint64_t nonce = 0; nonce < per_user; ++nonce)
            for (std::size_t u = 0; u < users.size(); ++u)
                out.push_back(
                    ledger::make_transaction(users[u], genesis.chain_id, nonce, 1, ledger::TxKind::transfer,
                                             ledger::TransferPayload{users[(u + 1) % users.size()].address(), 1}));
        return out;
    }
};

/// Sends `txs` as gossip messages of at most max_gossip_txs from `from` at `now`.
void send_all(GossipIntake& in, runtime::PeerId from, std::span<const ledger::Transaction> txs, ledger::Mempool& pool,
              const ledger::State& state, runtime::TimeMs now) {
    for (std::size_t i = 0; i < txs.size(); i += max_gossip_txs) {
        const auto n = std::min(max_gossip_txs, txs.size() - i);
        in.receive(from, encode_gossip(txs.subspan(i, n)), pool, state, now);
    }
}

TEST(TxGossip, AFloodingValidatorIsHeldToItsBudgetAndOthersKeepTheirs) {
    Net net(20);
    const auto txs = net.transfers(30);  // 600 valid transfers, all admissible
    ledger::Mempool pool;
    GossipIntake in(net.limits, 4);
    // Validator 1 sends all 600 at once: only the burst (200) is even decoded.
    send_all(in, 1, std::span(txs).first(600), pool, net.state, 10'000);
    EXPECT_EQ(in.stats().admitted, 200u);
    EXPECT_EQ(in.stats().over_budget, 400u);
    EXPECT_EQ(pool.size(), 200u);
    // Half a second later its bucket has refilled by 50 (100 per second).
    send_all(in, 1, std::span(txs).subspan(200, 400), pool, net.state, 10'500);
    EXPECT_EQ(in.stats().admitted, 250u);
    // Validator 2's budget is its own: the flood above did not spend it.
    send_all(in, 2, std::span(txs).subspan(250, 200), pool, net.state, 10'500);
    EXPECT_EQ(in.stats().admitted, 450u);
    EXPECT_EQ(pool.size(), 450u);
    // Copies of what the mempool holds are charged too, and refused there.
    send_all(in, 3, std::span(txs).first(100), pool, net.state, 10'500);
    EXPECT_EQ(in.stats().rejected, 100u);
    EXPECT_EQ(pool.size(), 450u);
}

TEST(TxGossip, ABadlySignedTransactionMutesItsSenderForThePenalty) {
    Net net(4);
    auto txs = net.transfers(2);  // 8 transfers
    ledger::Mempool pool;
    GossipIntake in(net.limits, 3);
    auto forged = txs[0];
    forged.signature.r = {};  // r = 0 recovers no key: no honest validator passes this on
    std::vector<ledger::Transaction> batch{txs[1], forged, txs[2]};
    in.receive(1, encode_gossip(batch), pool, net.state, 1'000);
    EXPECT_EQ(in.stats().admitted, 1u);  // the one before the forgery
    EXPECT_EQ(in.stats().bad_signatures, 1u);
    EXPECT_TRUE(in.muted(1, 1'000));
    EXPECT_FALSE(in.muted(2, 1'000));
    // While muted, even valid transactions from validator 1 are dropped unread...
    std::vector<ledger::Transaction> valid{txs[3], txs[4]};
    in.receive(1, encode_gossip(valid), pool, net.state, 5'999);
    EXPECT_EQ(in.stats().admitted, 1u);
    EXPECT_EQ(in.stats().muted, 1u + 2u);  // txs[2] after the forgery, then these two
    // ...while validator 2 is heard, and validator 1 again after the penalty.
    in.receive(2, encode_gossip(std::vector{txs[3]}), pool, net.state, 5'999);
    EXPECT_EQ(in.stats().admitted, 2u);
    EXPECT_FALSE(in.muted(1, 6'000));
    in.receive(1, encode_gossip(std::vector{txs[4]}), pool, net.state, 6'000);
    EXPECT_EQ(in.stats().admitted, 3u);
    EXPECT_EQ(pool.size(), 3u);
}

TEST(TxGossip, AMessageThatIsNotWholeAdmitsNothingAndUnknownSendersAreRefused) {
    Net net(2);
    ledger::Mempool pool;
    GossipIntake in(net.limits, 2);
    const auto txs = net.transfers(1);
    auto good = encode_gossip(txs);
    auto truncated = good;
    truncated.resize(truncated.size() - 3);
    in.receive(1, truncated, pool, net.state, 0);  // the first decodes, the second is cut
    auto trailing = good;
    trailing.push_back(0x00);
    in.receive(1, trailing, pool, net.state, 0);                                            // one byte too many
    in.receive(1, util::Bytes{tx_gossip_tag, 0xff, 0xff, 0xff, 0xff}, pool, net.state, 0);  // count over the limit
    in.receive(7, good, pool, net.state, 0);                                                // not a validator index
    EXPECT_EQ(in.stats().malformed, 4u);
    EXPECT_EQ(pool.size(), 0u);
    in.receive(1, good, pool, net.state, 0);
    EXPECT_EQ(in.stats().admitted, 2u);
    EXPECT_EQ(pool.size(), 2u);
}

TEST(TxGossip, TheClaimedCountIsChargedBeforeDecodingAndAllValidatorsShareATotal) {
    Net net(2);
    net.limits.gossip_txs_per_second_total = 300;
    net.limits.gossip_txs_burst_total = 300;
    ASSERT_FALSE(net.limits.check());
    ledger::Mempool pool;
    GossipIntake in(net.limits, 3);
    // Validator 1 claims 200 transactions in junk bytes: its burst (200) is spent.
    util::Bytes junk{tx_gossip_tag, 0, 0, 0, 200};
    junk.resize(junk.size() + 200 * 100, 0xab);
    in.receive(1, junk, pool, net.state, 0);
    EXPECT_EQ(in.stats().malformed, 1u);
    EXPECT_EQ(in.stats().over_budget, 0u);
    const auto txs = net.transfers(60);  // 120 valid transfers
    in.receive(1, encode_gossip(std::span(txs).first(1)), pool, net.state, 0);
    EXPECT_EQ(in.stats().over_budget, 1u) << "junk must cost what it claims";
    EXPECT_EQ(in.stats().admitted, 0u);
    // The total (300) had 100 left after the junk: validator 2 gets 100 of its 120.
    in.receive(2, encode_gossip(std::span(txs).first(120)), pool, net.state, 0);
    EXPECT_EQ(in.stats().admitted, 100u);
    EXPECT_EQ(in.stats().over_budget, 1u + 20u);
}

}  // namespace
}  // namespace conet::node
