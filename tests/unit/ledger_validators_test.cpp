// Validator bonds and the validator set on the ledger (docs/consensus.md,
// "Validator set changes"): bonds choose the next epoch's set at an epoch's
// last block; blocks must be certified by their epoch's set; the store keeps
// every epoch's set.
#include <gtest/gtest.h>

#include <filesystem>

#include "conet/consensus/types.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"

namespace conet::ledger {
namespace {

constexpr std::uint64_t E = 2;  // blocks per epoch
constexpr std::uint64_t min_stake = 100;

/// A chain of 3 genesis validators (bonded with min_stake each, 3 slots) and
/// 2 funded outsiders; blocks are built and certified by the set the state holds.
struct Chain {
    crypto::SeededRng rng{41};
    std::vector<crypto::PrivateKey> keys;  // 0..2 genesis validators, 3..4 outsiders
    Genesis genesis;
    State state{0, {}};
    Header head;

    Chain() {
        for (int i = 0; i < 5; ++i) keys.push_back(crypto::PrivateKey::generate(rng));
        genesis.chain_id = 12;
        genesis.time_unix = 1000;
        for (int i = 0; i < 3; ++i) genesis.validators.push_back(keys[i].address());
        for (auto& k : keys) genesis.balances.emplace_back(k.address(), 10'000);
        genesis.validator_stake = min_stake;
        genesis.params.epoch_blocks = E;
        genesis.params.validator_slots = 3;
        genesis.params.min_validator_stake = min_stake;
        genesis.params.unbonding_blocks = 3;
        state = *genesis.state();
        head = genesis.header(state);
    }
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
    Transaction bond(std::size_t i, std::uint64_t amount, std::string endpoint = "127.0.0.1:7001") {
        return make_transaction(keys[i], genesis.chain_id, nonce(i), 1, TxKind::validator_bond,
                                BondPayload{amount, std::move(endpoint)});
    }
    Transaction unbond(std::size_t i, std::uint64_t amount) {
        return make_transaction(keys[i], genesis.chain_id, nonce(i), 1, TxKind::validator_unbond,
                                AmountPayload{amount});
    }
    /// A block with `txs` certified by every member of `signers` (default: the state's set).
    Block make_block(std::vector<Transaction> txs, const std::vector<crypto::Address>* signers = nullptr) {
        Mempool pool;
        for (auto& tx : txs) EXPECT_TRUE(pool.admit(tx, state));
        auto [block, next] =
            build_unsigned_block(state, head, pool, head.time_unix + 1, keys[0].address(), head.view + 1);
        const auto& set = signers ? *signers : state.validator_set().members;
        for (std::uint32_t i = 0; i < set.size(); ++i)
            block.certificate.votes.push_back(finalize_vote(block.header, i, key_of(set[i]), E));
        return block;
    }
    /// Builds, certifies with the current set and applies a block.
    void advance(std::vector<Transaction> txs = {}) {
        Block b = make_block(std::move(txs));
        ASSERT_TRUE(apply_block(state, head, b));
        head = b.header;
    }
};

TEST(ValidatorBonds, BondsChooseTheNextEpochsSetAtTheEpochsLastBlockOnly) {
    Chain c;
    ASSERT_EQ(c.state.validator_set(), (ValidatorSet{0, c.genesis.validators}));
    const Amount128 supply = c.state.total_supply();
    // Outsider 3 bonds more than anyone: it takes the seat of the genesis
    // validator with the smallest address (equal stakes tie by address).
    c.advance({c.bond(3, 500)});  // height 1: inside epoch 0, nothing changes yet
    EXPECT_EQ(c.state.total_supply(), supply);
    ASSERT_NE(c.state.bond(c.keys[3].address()), nullptr);
    EXPECT_EQ(c.state.bond(c.keys[3].address())->stake, 500u);
    EXPECT_EQ(c.state.bond(c.keys[3].address())->endpoint, "127.0.0.1:7001");
    EXPECT_EQ(c.state.account(c.keys[3].address())->balance, 10'000u - 500 - 1);
    EXPECT_EQ(c.state.validator_set(), (ValidatorSet{0, c.genesis.validators}));
    c.advance();  // height 2 ends epoch 0
    std::vector<crypto::Address> expected = c.genesis.validators;
    std::sort(expected.begin(), expected.end());
    expected.erase(expected.begin() + 2);  // the genesis validators keep the two smallest addresses
    expected.push_back(c.keys[3].address());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(c.state.validator_set(), (ValidatorSet{1, expected}));
    // Epoch 1's blocks are certified by epoch 1's set (advance signs with it).
    c.advance();
    c.advance();  // height 4 ends epoch 1: the same members, a new epoch
    EXPECT_EQ(c.state.validator_set(), (ValidatorSet{2, expected}));
    EXPECT_EQ(c.state.total_supply(), supply);
}

TEST(ValidatorBonds, UnbondingReturnsFundsAfterTheDelayAndLeavesTheSetAtTheNextEpoch) {
    Chain c;
    const Amount128 supply = c.state.total_supply();
    c.advance({c.bond(3, 500)});
    c.advance();  // epoch 1: 3 is in
    ASSERT_EQ(c.state.validator_set().members.size(), 3u);
    const std::uint64_t balance = c.state.account(c.keys[3].address())->balance;
    c.advance({c.unbond(3, 500)});  // height 3: the whole bond
    EXPECT_EQ(c.state.bond(c.keys[3].address()), nullptr);
    EXPECT_EQ(c.state.account(c.keys[3].address())->balance, balance - 1) << "returned before the delay";
    EXPECT_EQ(c.state.total_supply(), supply);
    EXPECT_NE(
        std::find(c.state.validator_set().members.begin(), c.state.validator_set().members.end(), c.keys[3].address()),
        c.state.validator_set().members.end())
        << "left its set inside the epoch";
    c.advance();  // height 4 ends epoch 1: back to the genesis validators
    std::vector<crypto::Address> genesis_set = c.genesis.validators;
    std::sort(genesis_set.begin(), genesis_set.end());
    EXPECT_EQ(c.state.validator_set(), (ValidatorSet{2, genesis_set}));
    c.advance();
    c.advance();  // height 6 = 3 + unbonding_blocks: released
    EXPECT_EQ(c.state.account(c.keys[3].address())->balance, balance - 1 + 500);
    EXPECT_EQ(c.state.total_supply(), supply);
}

TEST(ValidatorBonds, BadBondsAreRevertedAndPayTheirFee) {
    Chain c;
    const BlockContext ctx{1, 1001, c.keys[0].address()};
    const auto reverted = [&](const Transaction& tx) {
        State s = c.state;
        auto r = s.apply(tx, ctx);
        EXPECT_TRUE(r);
        EXPECT_EQ(s.account(*tx.sender())->nonce, 1u);
        return r && r->reverted ? *r->reverted : TxError::overflow;
    };
    EXPECT_EQ(reverted(c.bond(3, 0)), TxError::zero_amount);
    EXPECT_EQ(reverted(c.bond(3, 50'000)), TxError::insufficient_funds);
    EXPECT_EQ(reverted(c.bond(3, 10, "not an endpoint")), TxError::bad_endpoint);
    EXPECT_EQ(reverted(c.bond(3, 10, "127.0.0.1:0")), TxError::bad_endpoint);
    EXPECT_EQ(reverted(c.unbond(3, 1)), TxError::insufficient_stake) << "no bond at all";
    EXPECT_EQ(reverted(c.unbond(0, min_stake + 1)), TxError::insufficient_stake);
    // A chain without slots keeps its genesis set and refuses bonds.
    Chain fixed;
    fixed.genesis.params.validator_slots = 0;
    fixed.genesis.validator_stake = 0;
    fixed.state = *fixed.genesis.state();
    State s = fixed.state;
    auto r = s.apply(fixed.bond(3, 10), ctx);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->reverted, TxError::validator_set_fixed);
}

TEST(ValidatorBonds, WhenNobodyQualifiesTheSetStaysAndSlotsCapIt) {
    Chain c;
    // Every genesis validator unbonds below the minimum: nobody qualifies.
    c.advance({c.unbond(0, 1), c.unbond(1, 1), c.unbond(2, 1)});
    c.advance();
    EXPECT_EQ(c.state.validator_set(), (ValidatorSet{1, c.genesis.validators})) << "an empty set stops the chain";
    // Four qualify for three slots: the largest three.
    c.advance({c.bond(3, 300), c.bond(4, 200), c.bond(0, 500)});
    c.advance();
    std::vector<crypto::Address> expected = {c.keys[0].address(), c.keys[3].address(), c.keys[4].address()};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(c.state.validator_set(), (ValidatorSet{2, expected}));
}

TEST(ValidatorBonds, ABlockCertifiedByTheWrongEpochsSetIsRefused) {
    Chain c;
    c.advance({c.bond(3, 500), c.bond(4, 400)});
    c.advance();  // epoch 1: {3, 4, and one genesis validator}
    const std::vector<crypto::Address> old_set = c.genesis.validators;
    Block b = c.make_block({}, &old_set);
    State s = c.state;
    EXPECT_EQ(apply_block(s, c.head, b).error(), BlockError::bad_certificate)
        << "the genesis set signed a block of epoch 1";
    EXPECT_EQ(s.state_root(), c.state.state_root());
    Block good = c.make_block({});
    EXPECT_TRUE(apply_block(s, c.head, good));
}

TEST(ValidatorBonds, StateSnapshotsAndGenesisJsonCarryBondsAndTheSet) {
    Chain c;
    c.advance({c.bond(3, 500, "[::1]:7002")});
    c.advance();
    auto back = codec::decode<State>(codec::encode(c.state));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->state_root(), c.state.state_root());
    EXPECT_EQ(back->validator_set(), c.state.validator_set());
    EXPECT_EQ(back->bond(c.keys[3].address())->endpoint, "[::1]:7002");
    auto g = Genesis::from_json(c.genesis.to_json());
    ASSERT_TRUE(g) << g.error();
    EXPECT_EQ(g->state()->state_root(), c.genesis.state()->state_root());
    EXPECT_EQ(g->validator_stake, min_stake);
    EXPECT_EQ(g->params.validator_slots, 3u);
    std::string no_epochs = c.genesis.to_json();
    no_epochs.replace(no_epochs.find("\"epoch_blocks\":2"), 16, "\"epoch_blocks\":0");
    auto refused = Genesis::from_json(no_epochs);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("epoch_blocks"), std::string::npos) << refused.error();
    // Unbonded (or under-bonded) genesis validators would lose their seats to
    // the first bond of anyone: refused.
    Genesis weak = c.genesis;
    weak.validator_stake = min_stake - 1;
    auto weak_json = Genesis::from_json(weak.to_json());
    ASSERT_FALSE(weak_json);
    EXPECT_NE(weak_json.error().find("validator_stake"), std::string::npos) << weak_json.error();
    EXPECT_FALSE(weak.state());
}

TEST(ValidatorBonds, TheStoreKeepsEverySetAndReopensToTheSameState) {
    char tmpl[] = "/tmp/conet-valset-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::filesystem::path dir = tmpl;
    Chain c;
    {
        auto store = BlockStore::open(dir, c.genesis);
        ASSERT_TRUE(store) << store.error();
        for (int h = 1; h <= 4; ++h) {
            Block b = c.make_block(h == 1 ? std::vector<Transaction>{c.bond(3, 500)} : std::vector<Transaction>{});
            State next = c.state;
            ASSERT_TRUE(apply_block(next, c.head, b));
            ASSERT_TRUE((*store)->commit(b, next));
            c.state = next;
            c.head = b.header;
        }
        EXPECT_EQ((*store)->validator_set(0)->members, c.genesis.validators);
        EXPECT_EQ((*store)->validator_set(1)->members, c.state.validator_set().members);
        EXPECT_EQ((*store)->validator_set(2), c.state.validator_set());
        EXPECT_FALSE((*store)->validator_set(3)) << "a set nobody computed yet";
    }
    auto again = BlockStore::open(dir, c.genesis);
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ((*again)->state().state_root(), c.state.state_root());
    EXPECT_EQ((*again)->state().bond(c.keys[3].address())->stake, 500u);
    EXPECT_EQ((*again)->validator_set(1)->members, c.state.validator_set().members);
    std::filesystem::remove_all(dir);
}

// Double-sign evidence (docs/incentives.md, "Penalties").

SignedVote vote(VoteType type, std::uint64_t view, std::uint8_t digest_byte) {
    SignedVote v;
    v.type = type;
    v.view = view;
    if (type != VoteType::nullify) {
        v.parent_view = view - 1;
        v.parent[0] = 0xAA;
        v.digest[0] = digest_byte;
    }
    return v;
}

EvidencePayload evidence(const crypto::PrivateKey& key, std::uint64_t chain, std::uint64_t epoch, SignedVote a,
                         SignedVote b) {
    a.sign(key, chain, epoch);
    b.sign(key, chain, epoch);
    return EvidencePayload{epoch, a, b};
}

TEST(DoubleSignEvidence, VotesSignTheSameDigestsAsConsensus) {
    const consensus::Proposal p{7, 6, crypto::Hash256{{0xAA}}, crypto::Hash256{{0x01}}};
    EXPECT_EQ(vote(VoteType::notarize, 7, 1).signing_digest(12, 3),
              consensus::Subject::notarize(p).signing_digest(12, 3));
    EXPECT_EQ(vote(VoteType::finalize, 7, 1).signing_digest(12, 3),
              consensus::Subject::finalize(p).signing_digest(12, 3));
    EXPECT_EQ(vote(VoteType::nullify, 7, 0).signing_digest(12, 3),
              consensus::Subject::nullify(7).signing_digest(12, 3));
    EXPECT_NE(vote(VoteType::notarize, 7, 1).signing_digest(12, 3),
              vote(VoteType::notarize, 7, 1).signing_digest(12, 4));
}

TEST(DoubleSignEvidence, OnlyPairsSimplexForbidsProveDoubleSigning) {
    crypto::SeededRng rng(3);
    const auto k = crypto::PrivateKey::generate(rng);
    const auto other = crypto::PrivateKey::generate(rng);
    const auto check = [&](SignedVote a, SignedVote b) { return double_signer(12, evidence(k, 12, 1, a, b)); };
    using V = VoteType;
    EXPECT_EQ(*check(vote(V::notarize, 5, 1), vote(V::notarize, 5, 2)), k.address());
    EXPECT_EQ(*check(vote(V::finalize, 5, 1), vote(V::finalize, 5, 2)), k.address());
    EXPECT_EQ(*check(vote(V::nullify, 5, 0), vote(V::finalize, 5, 1)), k.address());
    EXPECT_EQ(*check(vote(V::finalize, 5, 1), vote(V::nullify, 5, 0)), k.address());
    EXPECT_EQ(check(vote(V::notarize, 5, 1), vote(V::notarize, 5, 1)).error(), EvidenceError::not_conflicting);
    EXPECT_EQ(check(vote(V::notarize, 5, 1), vote(V::notarize, 6, 2)).error(), EvidenceError::not_conflicting);
    EXPECT_EQ(check(vote(V::notarize, 5, 1), vote(V::finalize, 5, 1)).error(), EvidenceError::not_conflicting)
        << "notarize then finalize of one proposal is what a correct validator does";
    EXPECT_EQ(check(vote(V::nullify, 5, 0), vote(V::notarize, 5, 1)).error(), EvidenceError::not_conflicting)
        << "a timeout after notarizing is allowed";
    // Two keys, one vote each: no evidence against either.
    SignedVote a = vote(V::notarize, 5, 1), b = vote(V::notarize, 5, 2);
    a.sign(k, 12, 1);
    b.sign(other, 12, 1);
    EXPECT_EQ(double_signer(12, EvidencePayload{1, a, b}).error(), EvidenceError::two_signers);
    // Votes of another chain or epoch recover another key: not evidence here.
    EXPECT_FALSE(double_signer(13, evidence(k, 12, 1, vote(V::notarize, 5, 1), vote(V::notarize, 5, 2))) &&
                 *double_signer(13, evidence(k, 12, 1, vote(V::notarize, 5, 1), vote(V::notarize, 5, 2))) ==
                     k.address());
    // The payload round-trips; a nullify carrying a digest has no encoding.
    const auto e = evidence(k, 12, 1, vote(V::notarize, 5, 1), vote(V::notarize, 5, 2));
    auto back = codec::decode<EvidencePayload>(codec::encode(e));
    ASSERT_TRUE(back);
    EXPECT_EQ(codec::encode(*back), codec::encode(e));
    SignedVote odd = vote(V::nullify, 5, 0);
    odd.digest[0] = 1;
    EXPECT_FALSE(codec::decode<SignedVote>(codec::encode(odd)));
}

TEST(DoubleSignEvidence, AnyoneCanSubmitItAndTheValidatorIsSlashedTombstonedAndLeavesTheSet) {
    Chain c;
    const crypto::PrivateKey& offender = c.keys[1];
    const Amount128 supply = c.state.total_supply();
    const auto e =
        evidence(offender, c.genesis.chain_id, 0, vote(VoteType::notarize, 2, 1), vote(VoteType::notarize, 2, 2));
    const auto send = [&](std::size_t from, const EvidencePayload& p) {
        return make_transaction(c.keys[from], c.genesis.chain_id, c.nonce(from), 1, TxKind::evidence, p);
    };
    c.advance({send(4, e)});  // an outsider reports it
    const ValidatorBond* b = c.state.bond(offender.address());
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(b->tombstoned);
    EXPECT_EQ(b->stake, min_stake - min_stake / 10) << "10 % slashed";
    EXPECT_EQ(c.state.account(developer_fund_address())->balance, min_stake / 10);
    EXPECT_EQ(c.state.total_supply(), supply) << "the slashed stake moves to the fund";
    // The same offence again, or a new bond, is refused.
    const BlockContext ctx{c.head.height + 1, c.head.time_unix + 1, c.keys[0].address(), c.head.hash()};
    const auto outcome = [&](const Transaction& tx) {
        State s = c.state;
        auto r = s.apply(tx, ctx);
        EXPECT_TRUE(r);
        return r && r->reverted ? std::optional<TxError>(*r->reverted) : std::nullopt;
    };
    EXPECT_EQ(outcome(send(3, e)), TxError::already_slashed);
    EXPECT_EQ(outcome(c.bond(1, 5'000)), TxError::already_slashed);
    // Not evidence, evidence of a future epoch, evidence against an unbonded key.
    EXPECT_EQ(outcome(send(3, evidence(c.keys[2], c.genesis.chain_id, 0, vote(VoteType::notarize, 2, 1),
                                       vote(VoteType::finalize, 2, 1)))),
              TxError::bad_evidence);
    EXPECT_EQ(outcome(send(3, evidence(c.keys[2], c.genesis.chain_id, 5, vote(VoteType::notarize, 2, 1),
                                       vote(VoteType::notarize, 2, 2)))),
              TxError::wrong_epoch);
    EXPECT_EQ(outcome(send(3, evidence(c.keys[4], c.genesis.chain_id, 0, vote(VoteType::notarize, 2, 1),
                                       vote(VoteType::notarize, 2, 2)))),
              TxError::not_a_validator);
    // At the epoch's end the offender leaves the set (it stays in it until then).
    EXPECT_NE(
        std::find(c.state.validator_set().members.begin(), c.state.validator_set().members.end(), offender.address()),
        c.state.validator_set().members.end());
    c.advance();  // height 2 ends epoch 0
    const auto& members = c.state.validator_set().members;
    EXPECT_EQ(std::find(members.begin(), members.end(), offender.address()), members.end());
    EXPECT_EQ(members.size(), 2u);
}

TEST(DoubleSignEvidence, UnbondingBeforeTheEvidenceLandsDoesNotEscapeTheSlash) {
    Chain c;
    const crypto::PrivateKey& offender = c.keys[1];
    const Amount128 supply = c.state.total_supply();
    c.advance({c.unbond(1, min_stake)});  // everything, at once
    ASSERT_EQ(c.state.bond(offender.address()), nullptr);
    const auto e =
        evidence(offender, c.genesis.chain_id, 0, vote(VoteType::finalize, 1, 1), vote(VoteType::finalize, 1, 2));
    c.advance({make_transaction(c.keys[4], c.genesis.chain_id, c.nonce(4), 1, TxKind::evidence, e)});
    const ValidatorBond* b = c.state.bond(offender.address());
    ASSERT_NE(b, nullptr) << "a tombstone is left where the bond was";
    EXPECT_TRUE(b->tombstoned);
    EXPECT_EQ(b->stake, 0u);
    EXPECT_EQ(c.state.account(developer_fund_address())->balance, min_stake / 10) << "slashed from the unbonding stake";
    std::uint64_t unbonding = 0;
    for (const Pending& p : c.state.pending())
        if (p.owner == offender.address()) unbonding += p.amount;
    EXPECT_EQ(unbonding, min_stake - min_stake / 10);
    EXPECT_EQ(c.state.total_supply(), supply);
    const std::uint64_t balance = c.state.account(offender.address())->balance;
    c.advance();
    c.advance();  // released after unbonding_blocks (3)
    EXPECT_EQ(c.state.account(offender.address())->balance, balance + min_stake - min_stake / 10);
}

TEST(DoubleSignEvidence, AWhollySlashedBondStaysTombstonedAcrossTheStore) {
    const auto dir = std::filesystem::temp_directory_path() / ("conet-slash-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Chain c;
    c.genesis.params.incentives.slash_bps = 10'000;
    c.state = *c.genesis.state();
    c.head = c.genesis.header(c.state);
    const auto e =
        evidence(c.keys[2], c.genesis.chain_id, 0, vote(VoteType::finalize, 1, 1), vote(VoteType::nullify, 1, 0));
    const Block b = c.make_block({make_transaction(c.keys[3], c.genesis.chain_id, 0, 1, TxKind::evidence, e)});
    {
        auto store = BlockStore::open(dir, c.genesis);
        ASSERT_TRUE(store) << store.error();
        State next = (*store)->state();
        ASSERT_TRUE(apply_block(next, (*store)->head(), b));
        ASSERT_TRUE((*store)->commit(b, next));
        ASSERT_NE(next.bond(c.keys[2].address()), nullptr);
        EXPECT_EQ(next.bond(c.keys[2].address())->stake, 0u);
    }
    auto store = BlockStore::open(dir, c.genesis);
    ASSERT_TRUE(store) << store.error();
    const ValidatorBond* kept = (*store)->state().bond(c.keys[2].address());
    ASSERT_NE(kept, nullptr) << "a zero bond that is tombstoned is kept, so the key cannot bond afresh";
    EXPECT_TRUE(kept->tombstoned);
    std::filesystem::remove_all(dir);
}

// Developer-fund grants (docs/incentives.md, "Developer fund").

TEST(Grants, AGrantIsPaidFromTheFundOnceMoreThanTwoThirdsOfTheStakeApproveAndTheFundHoldsIt) {
    const auto dir = std::filesystem::temp_directory_path() / ("conet-grants-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Chain c;
    std::vector<Block> blocks;
    const auto advance = [&](std::vector<Transaction> txs = {}) {
        Block b = c.make_block(std::move(txs));
        ASSERT_TRUE(apply_block(c.state, c.head, b));
        c.head = b.header;
        blocks.push_back(std::move(b));
    };
    const auto tx = [&](std::size_t from, TxKind kind, const auto& payload) {
        return make_transaction(c.keys[from], c.genesis.chain_id, c.nonce(from), 1, kind, payload);
    };
    const auto outcome = [&](const Transaction& t) {
        State s = c.state;
        auto r = s.apply(t, BlockContext{c.head.height + 1, c.head.time_unix + 1, c.keys[0].address(), {}});
        EXPECT_TRUE(r);
        return r && r->reverted ? std::optional<TxError>(*r->reverted) : std::nullopt;
    };
    const crypto::Address recipient = c.keys[4].address();
    EXPECT_EQ(outcome(tx(3, TxKind::grant_propose, GrantProposal{recipient, 0, "x", 5})), TxError::bad_grant);
    const Transaction propose = tx(3, TxKind::grant_propose, GrantProposal{recipient, 500, "commit 1a2b3c", 5});
    advance({propose});  // height 1, epoch 0
    const crypto::Hash256 id = propose.hash();
    ASSERT_NE(c.state.grant(id), nullptr);
    EXPECT_EQ(c.state.grant(id)->status, Grant::Status::open);
    EXPECT_EQ(c.state.grant(id)->proposer, c.keys[3].address());
    EXPECT_EQ(outcome(tx(3, TxKind::grant_vote, GrantVotePayload{id, true})), TxError::not_in_set);
    EXPECT_EQ(outcome(tx(0, TxKind::grant_vote, GrantVotePayload{crypto::Hash256{}, true})), TxError::unknown_grant);

    // Two of three validators is exactly 2/3: not more, so not paid; the
    // third approves while the fund is empty: approved, waiting for funds.
    const std::uint64_t before = c.state.account(recipient)->balance;
    advance(
        {tx(0, TxKind::grant_vote, GrantVotePayload{id, true}), tx(1, TxKind::grant_vote, GrantVotePayload{id, true})});
    EXPECT_EQ(c.state.grant_support(*c.state.grant(id)), (std::pair<std::size_t, std::size_t>{2, 3}));
    EXPECT_EQ(c.state.grant(id)->status, Grant::Status::open);
    // A withdrawn approval counts no more.
    advance({tx(1, TxKind::grant_vote, GrantVotePayload{id, false})});  // height 3
    EXPECT_EQ(c.state.grant(id)->approvals.size(), 1u);
    advance(
        {tx(1, TxKind::grant_vote, GrantVotePayload{id, true}), tx(2, TxKind::grant_vote, GrantVotePayload{id, true})});
    EXPECT_EQ(c.state.grant(id)->status, Grant::Status::open) << "the fund is empty";
    EXPECT_EQ(c.state.account(recipient)->balance, before);
    // A donation fills the fund; the epoch's end pays the approved grant.
    advance({tx(3, TxKind::transfer, TransferPayload{developer_fund_address(), 800})});  // height 5
    advance();                                                                           // height 6 ends epoch 2
    EXPECT_EQ(c.state.grant(id)->status, Grant::Status::paid);
    EXPECT_EQ(c.state.grant(id)->closed_epoch, 2u);
    EXPECT_EQ(c.state.account(recipient)->balance, before + 500);
    EXPECT_EQ(c.state.account(developer_fund_address())->balance, 300u);
    EXPECT_EQ(outcome(tx(0, TxKind::grant_vote, GrantVotePayload{id, true})), TxError::grant_closed);

    // A grant nobody approves expires at the end of its expiry epoch.
    const Transaction lonely =
        tx(4, TxKind::grant_propose, GrantProposal{recipient, 10, "https://example.org/pr/7", 3});
    advance({lonely});  // height 7, epoch 3
    EXPECT_EQ(outcome(tx(4, TxKind::grant_propose, GrantProposal{recipient, 10, "late", 2})), TxError::bad_grant);
    advance();  // height 8 ends epoch 3
    EXPECT_EQ(c.state.grant(lonely.hash())->status, Grant::Status::expired);

    // Everything is in the state root and survives the store.
    {
        auto store = BlockStore::open(dir, c.genesis);
        ASSERT_TRUE(store) << store.error();
        for (const Block& b : blocks) {
            State s = (*store)->state();
            ASSERT_TRUE(apply_block(s, (*store)->head(), b));
            ASSERT_TRUE((*store)->commit(b, s));
        }
    }
    auto store = BlockStore::open(dir, c.genesis);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->state().state_root(), c.state.state_root());
    EXPECT_EQ((*store)->state().grants(), c.state.grants());
    auto snapshot = codec::decode<State>(codec::encode(c.state));
    ASSERT_TRUE(snapshot);
    EXPECT_EQ(snapshot->state_root(), c.state.state_root());
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace conet::ledger
