// The validator pool (docs/incentives.md, "Validator pool"): blocks carry
// their parent's certificate, the ledger counts the votes in it and pays the
// pool by them at the epoch's end.
#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"

namespace conet::ledger {
namespace {

constexpr std::uint64_t E = 3;
constexpr std::uint64_t emission = 1'000'000;

/// Four genesis validators (quorum 3), each bonded, epochs of three blocks.
struct Chain {
    crypto::SeededRng rng{33};
    std::vector<crypto::PrivateKey> keys;
    crypto::PrivateKey user = crypto::PrivateKey::generate(rng);
    Genesis genesis;
    State state{0, {}};
    std::vector<Header> headers;  ///< [0] genesis
    std::uint64_t view = 0;

    Chain() {
        for (int i = 0; i < 4; ++i) keys.push_back(crypto::PrivateKey::generate(rng));
        genesis.chain_id = 12;
        genesis.time_unix = 1000;
        for (const auto& k : keys) genesis.validators.push_back(k.address());
        genesis.validator_stake = 10'000;
        genesis.balances.emplace_back(user.address(), 1'000'000);
        genesis.params.epoch_blocks = E;
        genesis.params.incentives.emission_per_epoch = emission;
        genesis.params.incentives.emission_halving_epochs = 100;
        state = *genesis.state();
        headers.push_back(genesis.header(state));
    }
    const Header& head() const { return headers.back(); }
    /// The votes of `signers` (ascending) of `kind` on the head's own proposal.
    ParentCertificate certificate(std::vector<std::uint32_t> signers, VoteType kind = VoteType::notarize) const {
        ParentCertificate c;
        c.kind = kind;
        for (auto i : signers) c.votes.push_back(parent_vote(head(), kind, i, keys[i], E));
        return c;
    }
    /// A block on the head carrying `parent_cert` (with `txs` in the mempool), certified by validators 0..2.
    Block next(ParentCertificate parent_cert, const Mempool& pool = Mempool{}) {
        auto [b, after] = build_unsigned_block(state, head(), pool, 1000 + head().height + 1, keys[0].address(), ++view,
                                               max_block_txs, std::move(parent_cert));
        for (std::uint32_t i = 0; i < 3; ++i) b.certificate.votes.push_back(finalize_vote(b.header, i, keys[i], E));
        return b;
    }
    /// Applies `b` as a follower does (every check, the certificate too).
    util::Result<void, BlockError> apply(const Block& b) {
        auto r = apply_block(state, head(), b);
        if (r) headers.push_back(b.header);
        return r;
    }
    std::uint64_t votes_of(std::uint32_t i) const {
        for (const auto& [a, n] : state.epoch_info().votes)
            if (a == keys[i].address()) return n;
        return 0;
    }
};

TEST(ValidatorPool, TheHeaderCommitsToTheParentCertificateAndItRoundTrips) {
    Chain c;
    ASSERT_TRUE(c.apply(c.next({})));
    Block b = c.next(c.certificate({0, 1, 3}));
    EXPECT_NE(b.header.parent_certificate, crypto::Hash256{});
    const auto decoded = codec::decode<Block>(codec::encode(b));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->parent_certificate, b.parent_certificate);
    EXPECT_EQ(decoded->header.hash(), b.header.hash());
    // Another quorum's votes under the same header: the header no longer matches.
    Block swapped = b;
    swapped.parent_certificate = c.certificate({0, 1, 2});
    State before = c.state;
    EXPECT_EQ(apply_block(before, c.head(), swapped).error(), BlockError::bad_parent_certificate);
    EXPECT_EQ(before.state_root(), c.state.state_root()) << "a refused block changes nothing";
    // Dropping the certificate is a change too.
    Block dropped = b;
    dropped.parent_certificate = {};
    EXPECT_EQ(execute_block(before, c.head(), dropped).error(), BlockError::bad_parent_certificate);
    // A nullification names no block: its kind does not decode.
    auto bytes = codec::encode(b.parent_certificate);
    bytes[4] = static_cast<std::uint8_t>(VoteType::nullify);
    EXPECT_FALSE(codec::decode<ParentCertificate>(bytes).has_value());
    // A count beyond any validator set is refused before anything is read.
    util::Bytes huge(4 + 1, 0);
    huge[0] = 0x01;  // 2^24 votes
    EXPECT_FALSE(codec::decode<ParentCertificate>(huge).has_value());
    EXPECT_TRUE(c.apply(b));
}

TEST(ValidatorPool, TheLedgerCountsTheVotesBlocksCarryAndPaysThePoolByThem) {
    Chain c;
    ASSERT_TRUE(c.apply(c.next({})));  // height 1: genesis was not voted on
    EXPECT_TRUE(c.state.epoch_info().votes.empty());
    ASSERT_TRUE(c.apply(c.next(c.certificate({0, 1, 2}))));  // block 1 notarized by 0, 1, 2
    ASSERT_TRUE(c.apply(c.next(c.certificate({1, 2, 3}, VoteType::finalize)))) << "finalizations count too";
    // Height 3 ended epoch 0 and paid it: votes 1, 2, 2, 1 of 6.
    const EpochSummary& paid = *c.state.epoch_info().last;
    EXPECT_EQ(paid.epoch, 0u);
    const std::uint64_t pool = emission * 2'000 / 10'000;
    EXPECT_EQ(paid.validator_pool, pool);
    const std::uint64_t want[4] = {pool * 1 / 6, pool * 2 / 6, pool * 2 / 6, pool * 1 / 6};
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < 4; ++i) {
        const RewardRecord* r = c.state.reward(c.keys[i].address());
        ASSERT_NE(r, nullptr) << "validator " << i;
        EXPECT_EQ(r->epoch, 0u);
        EXPECT_EQ(r->validator_reward, want[i]) << "validator " << i;
        EXPECT_EQ(c.state.account(c.keys[i].address())->balance, want[i]) << "paid to its balance";
        total += r->validator_reward;
    }
    EXPECT_LE(total, pool);
    // No node earned: what was minted is the validators' and the fund's.
    EXPECT_EQ(paid.minted, total + paid.fund);
    EXPECT_TRUE(c.state.epoch_info().votes.empty()) << "the next epoch counts afresh";

    // The first block of epoch 1 may not carry its parent's (epoch 0's) votes;
    // without them it is valid, and the next block counts again.
    Block cross = c.next(c.certificate({0, 1, 2}));
    EXPECT_TRUE(cross.parent_certificate.empty()) << "the builder drops a certificate across epochs";
    cross.parent_certificate = c.certificate({0, 1, 2});
    cross.header.parent_certificate = cross.parent_certificate.hash();
    State copy = c.state;
    EXPECT_EQ(execute_block(copy, c.head(), cross).error(), BlockError::bad_parent_certificate);
    ASSERT_TRUE(c.apply(c.next({})));
    ASSERT_TRUE(c.apply(c.next(c.certificate({0, 2, 3}))));
    EXPECT_EQ(c.votes_of(0), 1u);
    EXPECT_EQ(c.votes_of(1), 0u);
    EXPECT_EQ(c.votes_of(3), 1u);
}

TEST(ValidatorPool, ForgedOrShortParentCertificatesAreRejected) {
    Chain c;
    // At height 1 there is no parent to certify.
    {
        Block b = c.next({});
        ParentCertificate pc;
        for (std::uint32_t i = 0; i < 3; ++i)
            pc.votes.push_back(parent_vote(c.head(), VoteType::notarize, i, c.keys[i], E));
        b.parent_certificate = pc;
        b.header.parent_certificate = pc.hash();
        State s = c.state;
        EXPECT_EQ(execute_block(s, c.head(), b).error(), BlockError::bad_parent_certificate);
    }
    ASSERT_TRUE(c.apply(c.next({})));
    const auto refused = [&](ParentCertificate pc) {
        Block b = c.next({});
        b.parent_certificate = std::move(pc);
        b.header.parent_certificate = b.parent_certificate.hash();
        State s = c.state;
        auto r = execute_block(s, c.head(), b);
        return !r && r.error() == BlockError::bad_parent_certificate;
    };
    EXPECT_TRUE(refused(c.certificate({0, 1}))) << "two of four is not a quorum";
    ParentCertificate dup = c.certificate({0, 1, 2});
    dup.votes[2] = dup.votes[1];
    EXPECT_TRUE(refused(dup)) << "one validator counted twice";
    ParentCertificate stranger = c.certificate({0, 1, 2});
    const auto outsider = crypto::PrivateKey::generate(c.rng);
    stranger.votes[2] = parent_vote(c.head(), VoteType::notarize, 2, outsider, E);
    EXPECT_TRUE(refused(stranger)) << "a vote by a key outside the set";
    ParentCertificate beyond = c.certificate({0, 1, 2});
    beyond.votes.push_back(parent_vote(c.head(), VoteType::notarize, 4, outsider, E));
    EXPECT_TRUE(refused(beyond)) << "an index beyond the set";
    ParentCertificate other_block = c.certificate({0, 1, 2});
    Header sibling = c.head();
    sibling.time_unix += 1;
    other_block.votes[0] = parent_vote(sibling, VoteType::notarize, 0, c.keys[0], E);
    EXPECT_TRUE(refused(other_block)) << "a vote on another block of the same view";
    ParentCertificate relabelled = c.certificate({0, 1, 2}, VoteType::finalize);
    relabelled.kind = VoteType::notarize;
    EXPECT_TRUE(refused(relabelled)) << "finalize votes passed off as notarize votes";
    // The proposer of a valid block: everything above was refused, nothing counted.
    EXPECT_TRUE(c.state.epoch_info().votes.empty());
    ASSERT_TRUE(c.apply(c.next(c.certificate({0, 1, 2}))));
    EXPECT_EQ(c.votes_of(0), 1u);
}

TEST(ValidatorPool, ASlashedValidatorEarnsNothingForItsVotes) {
    Chain c;
    ASSERT_TRUE(c.apply(c.next({})));
    // Validator 3 signed two proposals in one view of epoch 0; the user reports it.
    SignedVote a, b;
    a.type = b.type = VoteType::notarize;
    a.view = b.view = 9;
    a.parent_view = b.parent_view = 8;
    a.digest[0] = 1;
    b.digest[0] = 2;
    a.sign(c.keys[3], c.genesis.chain_id, 0);
    b.sign(c.keys[3], c.genesis.chain_id, 0);
    Mempool pool;
    ASSERT_TRUE(pool.admit(make_transaction(c.user, c.genesis.chain_id, 0, c.genesis.params.min_fee, TxKind::evidence,
                                            EvidencePayload{0, a, b}),
                           c.state));
    Block b2 = c.next(c.certificate({1, 2, 3}), pool);
    ASSERT_EQ(b2.transactions.size(), 1u);
    ASSERT_TRUE(c.apply(b2));
    ASSERT_TRUE(c.state.bond(c.keys[3].address())->tombstoned);
    ASSERT_TRUE(c.apply(c.next(c.certificate({1, 2, 3}))));
    // Votes 0, 2, 2, 2 of which validator 3's are not paid: 1 and 2 share by 2 of 4... of the 4 paid votes.
    const std::uint64_t pool_amount = c.state.epoch_info().last->validator_pool;
    EXPECT_EQ(c.state.reward(c.keys[1].address())->validator_reward, pool_amount / 2);
    EXPECT_EQ(c.state.reward(c.keys[2].address())->validator_reward, pool_amount / 2);
    const RewardRecord* slashed = c.state.reward(c.keys[3].address());
    EXPECT_TRUE(slashed == nullptr || slashed->validator_reward == 0);
}

}  // namespace
}  // namespace conet::ledger
