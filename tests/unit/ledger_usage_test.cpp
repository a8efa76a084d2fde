// Paid usage on the ledger (docs/incentives.md "Paid usage"): an exit's
// operator claims its users' signed cumulative receipts; the ledger debits
// each payer's prepaid balance by what the receipt adds, pays the entry, the
// exit and the developer fund by the split parameters, and refuses forged,
// replayed, duplicate, over-balance and misdirected receipts (the claimant
// pays its fee for them, nothing else moves).
#include <gtest/gtest.h>

#include <random>

#include "conet/crypto/random.hpp"
#include "conet/ledger/block.hpp"
#include "conet/ledger/state.hpp"

namespace conet::ledger {
namespace {

constexpr std::uint64_t E = 10;         // blocks per epoch
constexpr std::uint64_t price = 1'000;  // base units per MiB
constexpr std::uint64_t MiB = 1u << 20;

struct UsageNet {
    crypto::SeededRng rng{5};
    crypto::PrivateKey proposer = crypto::PrivateKey::generate(rng);
    crypto::PrivateKey entry_op = crypto::PrivateKey::generate(rng);
    crypto::PrivateKey exit_op = crypto::PrivateKey::generate(rng);
    crypto::PrivateKey user = crypto::PrivateKey::generate(rng);
    crypto::PrivateKey user2 = crypto::PrivateKey::generate(rng);
    crypto::X25519KeyPair entry = crypto::X25519KeyPair::generate(rng);
    crypto::X25519KeyPair exit = crypto::X25519KeyPair::generate(rng);
    static constexpr std::uint64_t chain = 7;
    State state{chain, params()};
    std::uint64_t height = 1;

    static Params params() {
        Params p;
        p.epoch_blocks = E;
        p.incentives.usage_price_per_mib = price;
        return p;
    }
    UsageNet() {
        for (const auto* k : {&entry_op, &exit_op, &user, &user2}) EXPECT_TRUE(state.credit(k->address(), 1'000'000));
        register_node(entry_op, entry.public_key);
        register_node(exit_op, exit.public_key);
        EXPECT_FALSE(apply(user, TxKind::deposit, AmountPayload{100'000}).reverted);
        EXPECT_FALSE(apply(user2, TxKind::deposit, AmountPayload{500}).reverted);
    }
    void register_node(const crypto::PrivateKey& op, const crypto::X25519Public& key) {
        NodeRecord r;
        r.noise_key = key;
        r.endpoints = {{"127.0.0.1", 9000}};
        r.region = "DE";
        r.expires_at = 1'000'000;
        r.sign(op, chain);
        EXPECT_FALSE(apply(op, TxKind::register_node, NodePayload{r}).reverted);
    }
    std::uint64_t epoch() const { return epoch_of(height, E); }
    template <class P>
    Applied apply(const crypto::PrivateKey& key, TxKind kind, const P& payload) {
        const Account* a = state.account(key.address());
        auto tx = make_transaction(key, chain, a ? a->nonce : 0, 1, kind, payload);
        auto r = state.apply(tx, BlockContext{height, 1000 + height, proposer.address(), {}});
        EXPECT_TRUE(r.has_value());
        return r ? *r : Applied{TxError::bad_signature, {}};
    }
    ClaimedReceipt receipt(const crypto::PrivateKey& payer, std::uint64_t bytes, std::uint64_t for_epoch,
                           const crypto::X25519Public* to_exit = nullptr) const {
        const ReceiptFields f{chain, to_exit ? *to_exit : exit.public_key, entry.public_key, for_epoch, bytes};
        return ClaimedReceipt{payer.address(), entry.public_key, bytes, crypto::sign_hash(payer, f.digest())};
    }
    Applied claim(std::vector<ClaimedReceipt> receipts, std::optional<std::uint64_t> for_epoch = {},
                  const crypto::PrivateKey* claimant = nullptr) {
        return apply(claimant ? *claimant : exit_op, TxKind::usage_claim,
                     UsageClaimPayload{exit.public_key, for_epoch.value_or(epoch()), std::move(receipts)});
    }
    std::uint64_t balance(const crypto::Address& a) const {
        const Account* acc = state.account(a);
        return acc ? acc->balance : 0;
    }
    std::uint64_t prepaid(const crypto::Address& a) const {
        const Account* acc = state.account(a);
        return acc ? acc->prepaid : 0;
    }
};

TEST(LedgerUsage, ClaimDebitsPrepaidAndPaysEntryExitAndFundBySplit) {
    UsageNet n;
    const Amount128 supply = n.state.total_supply();
    const auto entry_before = n.balance(n.entry_op.address());
    const auto exit_before = n.balance(n.exit_op.address());
    const auto fund_before = n.balance(developer_fund_address());
    const auto prepaid_before = n.prepaid(n.user.address());

    const Applied a = n.claim({n.receipt(n.user, 10 * MiB, n.epoch())});
    ASSERT_FALSE(a.reverted) << describe(*a.reverted);
    const std::uint64_t fee = 10 * price;  // 10'000
    EXPECT_EQ(n.prepaid(n.user.address()), prepaid_before - fee);
    // 5 % to the fund, then 30 % of the rest to the entry, the remainder to the exit.
    EXPECT_EQ(n.balance(developer_fund_address()) - fund_before, 500u);
    EXPECT_EQ(n.balance(n.entry_op.address()) - entry_before, 2'850u);
    EXPECT_EQ(n.balance(n.exit_op.address()) + 1 - exit_before, 6'650u);  // + the claim's fee of 1
    EXPECT_EQ(n.state.total_supply(), supply);
    const UsageRecord* rec = n.state.usage_record(n.epoch(), n.exit.public_key, n.user.address(), n.entry.public_key);
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->bytes, 10 * MiB);
    // The record is a leaf of the state root, and a snapshot round trip keeps it.
    const auto key =
        State::usage_key(usage_record_key(n.epoch(), n.exit.public_key, n.user.address(), n.entry.public_key));
    EXPECT_TRUE(smt_verify(n.state.state_root(), key, State::usage_value_hash(*rec), n.state.tree().prove(key)));
    auto back = codec::decode<State>(codec::encode(n.state));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->state_root(), n.state.state_root());
}

TEST(LedgerUsage, LaterReceiptPaysOnlyWhatItAddsAndAReplayIsRefused) {
    UsageNet n;
    ASSERT_FALSE(n.claim({n.receipt(n.user, 3 * MiB, n.epoch())}).reverted);
    const auto after_first = n.prepaid(n.user.address());
    ASSERT_FALSE(n.claim({n.receipt(n.user, 5 * MiB, n.epoch())}).reverted);
    EXPECT_EQ(after_first - n.prepaid(n.user.address()), 2 * price);

    const auto before_replay = n.prepaid(n.user.address());
    const auto exit_before = n.balance(n.exit_op.address());
    const Applied replay = n.claim({n.receipt(n.user, 5 * MiB, n.epoch())});
    ASSERT_TRUE(replay.reverted);
    EXPECT_EQ(*replay.reverted, TxError::replayed_receipt);
    EXPECT_EQ(replay.receipt, std::optional<std::size_t>(0));
    EXPECT_EQ(n.prepaid(n.user.address()), before_replay);
    EXPECT_EQ(n.balance(n.exit_op.address()), exit_before - 1);  // the claimant paid its fee
}

TEST(LedgerUsage, ClaimingInStepsCostsWhatOneClaimCosts) {
    // Rounding follows the cumulative total: 7 steps of an odd size cost what one claim of the total costs.
    UsageNet stepwise, once;
    const std::uint64_t step = MiB / 3 + 17;
    for (std::uint64_t i = 1; i <= 7; ++i)
        ASSERT_FALSE(stepwise.claim({stepwise.receipt(stepwise.user, i * step, stepwise.epoch())}).reverted);
    ASSERT_FALSE(once.claim({once.receipt(once.user, 7 * step, once.epoch())}).reverted);
    EXPECT_EQ(stepwise.prepaid(stepwise.user.address()), once.prepaid(once.user.address()));
    EXPECT_EQ(100'000 - once.prepaid(once.user.address()), *usage_cost(7 * step, price));
}

TEST(LedgerUsage, ForgedReceiptsAreRefusedWithTheirIndex) {
    UsageNet n;
    const auto prepaid = n.prepaid(n.user.address());
    // Signed by someone else than the payer it names.
    ClaimedReceipt forged = n.receipt(n.user2, MiB, n.epoch());
    forged.payer = n.user.address();
    Applied a = n.claim({n.receipt(n.user2, MiB / 4, n.epoch()), forged});
    ASSERT_TRUE(a.reverted);
    EXPECT_EQ(*a.reverted, TxError::forged_receipt);
    EXPECT_EQ(a.receipt, std::optional<std::size_t>(1));
    // Bytes raised after signing.
    ClaimedReceipt raised = n.receipt(n.user, MiB, n.epoch());
    raised.bytes = 50 * MiB;
    EXPECT_EQ(n.claim({raised}).reverted, TxError::forged_receipt);
    // Signed for another exit.
    const auto other = crypto::X25519KeyPair::generate(n.rng).public_key;
    EXPECT_EQ(n.claim({n.receipt(n.user, MiB, n.epoch(), &other)}).reverted, TxError::forged_receipt);
    // Signed for another epoch than the claim's.
    n.height = E + 1;
    EXPECT_EQ(n.claim({n.receipt(n.user, MiB, 0)}, 1).reverted, TxError::forged_receipt);
    EXPECT_EQ(n.prepaid(n.user.address()), prepaid);
    EXPECT_EQ(n.prepaid(n.user2.address()), 500u);
}

TEST(LedgerUsage, DuplicateOverBalanceWrongEpochAndWrongClaimantAreRefused) {
    UsageNet n;
    EXPECT_EQ(n.claim({n.receipt(n.user, MiB, n.epoch()), n.receipt(n.user, 2 * MiB, n.epoch())}).reverted,
              TxError::duplicate_receipt);
    // user2 holds 500: a receipt for 1 MiB costs 1'000.
    Applied over = n.claim({n.receipt(n.user, MiB, n.epoch()), n.receipt(n.user2, MiB, n.epoch())});
    EXPECT_EQ(over.reverted, TxError::over_balance);
    EXPECT_EQ(over.receipt, std::optional<std::size_t>(1));
    EXPECT_EQ(n.prepaid(n.user.address()), 100'000u);  // the whole claim reverted
    // Someone else than the exit's operator.
    EXPECT_EQ(n.claim({n.receipt(n.user, MiB, n.epoch())}, {}, &n.entry_op).reverted, TxError::not_operator);
    // Epoch 0 may still be claimed in epoch 1, no longer in epoch 2; a future epoch never.
    n.height = E + 1;
    EXPECT_FALSE(n.claim({n.receipt(n.user, MiB, 0)}, 0).reverted);
    EXPECT_EQ(n.claim({n.receipt(n.user, MiB, 2)}, 2).reverted, TxError::wrong_epoch);
    n.height = 2 * E + 1;
    EXPECT_EQ(n.claim({n.receipt(n.user, 2 * MiB, 0)}, 0).reverted, TxError::wrong_epoch);
    // Epoch 0's record goes at the end of epoch 2 (nothing can claim it after epoch 1).
    EXPECT_EQ(n.state.usage().size(), 1u);
    n.state.end_block(BlockContext{2 * E, 2000, n.proposer.address(), {}});
    EXPECT_EQ(n.state.usage().size(), 1u);
    n.state.end_block(BlockContext{3 * E, 3000, n.proposer.address(), {}});
    EXPECT_EQ(n.state.usage().size(), 0u);
    ASSERT_FALSE(n.claim({n.receipt(n.user, MiB, 2)}).reverted);
    EXPECT_EQ(n.state.usage().size(), 1u);
    EXPECT_NE(n.state.usage_record(2, n.exit.public_key, n.user.address(), n.entry.public_key), nullptr);
}

TEST(LedgerUsage, WithdrawingFirstDoesNotEscapeAClaim) {
    UsageNet n;
    const Amount128 supply = n.state.total_supply();
    // The user withdraws its whole prepaid balance right after using 20 MiB.
    ASSERT_FALSE(n.apply(n.user, TxKind::withdraw, AmountPayload{100'000}).reverted);
    EXPECT_EQ(n.prepaid(n.user.address()), 0u);
    EXPECT_EQ(n.state.claimable(n.user.address()), 100'000u);
    const Applied a = n.claim({n.receipt(n.user, 20 * MiB, n.epoch())});
    ASSERT_FALSE(a.reverted) << describe(*a.reverted);
    EXPECT_EQ(n.state.claimable(n.user.address()), 80'000u);  // taken from the withdrawal under way
    EXPECT_EQ(n.state.total_supply(), supply);
    // What is left comes back when the withdrawal is released.
    const auto balance = n.balance(n.user.address());
    n.state.end_block(BlockContext{n.height + 100, 5000, n.proposer.address(), {}});
    EXPECT_EQ(n.balance(n.user.address()), balance + 80'000u);
    EXPECT_EQ(n.state.claimable(n.user.address()), 0u);
    // A claim beyond both is over balance.
    EXPECT_EQ(n.claim({n.receipt(n.user, 30 * MiB, n.epoch())}).reverted, TxError::over_balance);
}

TEST(LedgerUsage, AWithdrawalStaysClaimableUntilTheNextEpochEndsWhateverTheDelay) {
    Params p = UsageNet::params();
    p.withdraw_delay_blocks = 1;  // far shorter than an exit's claim interval
    State s(UsageNet::chain, p);
    EXPECT_EQ(s.withdrawal_release_height(3), 2 * E) << "epoch 0's receipts are claimable to epoch 1's last block";
    EXPECT_EQ(s.withdrawal_release_height(E), 2 * E);
    EXPECT_EQ(s.withdrawal_release_height(E + 1), 3 * E);
    p.withdraw_delay_blocks = 5 * E;
    EXPECT_EQ(State(UsageNet::chain, p).withdrawal_release_height(3), 3 + 5 * E) << "a longer delay is kept";
    p.incentives.usage_price_per_mib = 0;
    p.withdraw_delay_blocks = 1;
    EXPECT_EQ(State(UsageNet::chain, p).withdrawal_release_height(3), 4u) << "without paid usage, only the delay";
    // In a block: the claim in the next epoch's last block still takes from it.
    UsageNet n;
    ASSERT_FALSE(n.apply(n.user, TxKind::withdraw, AmountPayload{100'000}).reverted);
    const Pending& w = n.state.pending().back();
    EXPECT_TRUE(w.withdrawal);
    EXPECT_EQ(w.release_height, std::max(n.height + UsageNet::params().withdraw_delay_blocks, 2 * E));
}

TEST(LedgerUsage, AReceiptThatAddsNothingToPayIsRefused) {
    UsageNet n;
    // 100 bytes cost less than one base unit: such records would grow the state for free.
    Applied a = n.claim({n.receipt(n.user, 100, n.epoch())});
    EXPECT_EQ(a.reverted, TxError::zero_amount);
    EXPECT_EQ(a.receipt, std::optional<std::size_t>(0));
    EXPECT_EQ(n.state.usage().size(), 0u);
}

TEST(LedgerUsage, ClaimsAreRefusedOnAChainWithoutAPrice) {
    Params p = UsageNet::params();
    p.incentives.usage_price_per_mib = 0;
    UsageNet n;
    n.state = State(UsageNet::chain, p);
    ASSERT_TRUE(n.state.credit(n.exit_op.address(), 10));
    n.register_node(n.exit_op, n.exit.public_key);
    EXPECT_EQ(n.claim({n.receipt(n.user, MiB, n.epoch())}).reverted, TxError::usage_off);
}

TEST(LedgerUsage, SplitSumsToTheFeeAndCostRoundsDown) {
    IncentiveParams p;
    std::mt19937_64 rng(9);
    for (int i = 0; i < 1000; ++i) {
        p.usage_protocol_bps = static_cast<std::uint32_t>(rng() % (bps_one + 1));
        p.usage_entry_bps = static_cast<std::uint32_t>(rng() % (bps_one + 1));
        const std::uint64_t fee = rng() >> (rng() % 64);
        const UsageSplit s = split_usage_fee(fee, p);
        ASSERT_EQ(static_cast<Amount128>(s.entry) + s.exit + s.protocol, fee);
    }
    EXPECT_EQ(usage_cost(MiB - 1, 1), 0u);
    EXPECT_EQ(usage_cost(MiB, 1), 1u);
    EXPECT_EQ(usage_cost(~std::uint64_t{0}, ~std::uint64_t{0}), std::nullopt);
}

TEST(LedgerUsage, ReceiptAndClaimEncodingsRoundTripAndRefuseJunk) {
    UsageNet n;
    const ClaimedReceipt c = n.receipt(n.user, 1234, 3);
    const UsageClaimPayload claim{n.exit.public_key, 3, {c, n.receipt(n.user2, 99, 3)}};
    auto back = codec::decode<UsageClaimPayload>(codec::encode(claim));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->receipts, claim.receipts);
    EXPECT_FALSE(codec::decode<UsageClaimPayload>(codec::encode(UsageClaimPayload{n.exit.public_key, 3, {}})));
    const ReceiptMessage m{3, n.entry.public_key, 1234, c.signature};
    const util::Bytes wire = codec::encode(m);
    EXPECT_EQ(wire.size(), ReceiptMessage::wire_bytes);
    auto mb = codec::decode<ReceiptMessage>(wire);
    ASSERT_TRUE(mb);
    EXPECT_EQ(mb->bytes, 1234u);
    util::Bytes bad = wire;
    bad.back() = 7;  // recovery id out of range
    EXPECT_FALSE(codec::decode<ReceiptMessage>(bad));
    // A claim may be longer than other transactions' payloads, up to its own limit.
    EXPECT_GT(UsageClaimPayload::max_receipts * ClaimedReceipt::wire_bytes, max_tx_payload_bytes);
    EXPECT_LE(codec::encode(UsageClaimPayload{n.exit.public_key, 3,
                                              std::vector<ClaimedReceipt>(UsageClaimPayload::max_receipts, c)})
                  .size(),
              max_claim_payload_bytes);
}

}  // namespace
}  // namespace conet::ledger
