#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/ledger/state.hpp"

namespace conet::ledger {
namespace {

constexpr std::uint64_t chain = 77;

struct World {
    crypto::SeededRng rng{5};
    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::X25519KeyPair> noise;
    State state{chain, Params{1, 3, 2, 64}};
    BlockContext block{1, 1000, {}};

    explicit World(std::size_t n = 4) {
        for (std::size_t i = 0; i < n; ++i) {
            keys.push_back(crypto::PrivateKey::generate(rng));
            noise.push_back(crypto::X25519KeyPair::generate(rng));
            EXPECT_TRUE(state.credit(keys.back().address(), 1'000'000));
        }
        block.proposer = keys[0].address();
    }
    std::uint64_t nonce(std::size_t i) const {
        const Account* a = state.account(keys[i].address());
        return a ? a->nonce : 0;
    }
    NodeRecord record(std::size_t operator_index, std::size_t node_index) const {
        NodeRecord r;
        r.noise_key = noise[node_index].public_key;
        r.endpoints = {{"127.0.0.1", static_cast<std::uint16_t>(9000 + node_index)}};
        r.region = "DE";
        r.expires_at = 1'000'000;
        r.sign(keys[operator_index], chain);
        return r;
    }
    /// The transaction's outcome: success only when its effect applied (an
    /// error when it was rejected or reverted).
    template <class P>
    util::Result<void, TxError> send(std::size_t i, TxKind kind, const P& payload, std::uint64_t fee = 1) {
        auto r = state.apply(make_transaction(keys[i], chain, nonce(i), fee, kind, payload), block);
        if (!r) return util::unexpected(r.error());
        if (r->reverted) return util::unexpected(*r->reverted);
        return {};
    }
};

TEST(LedgerState, TransferMovesFundsPaysTheFeeAndAdvancesTheNonce) {
    World w;
    const auto a = w.keys[1].address(), b = w.keys[2].address(), proposer = w.keys[0].address();
    ASSERT_TRUE(w.send(1, TxKind::transfer, TransferPayload{b, 500}, 3));
    EXPECT_EQ(w.state.account(a)->balance, 1'000'000u - 503);
    EXPECT_EQ(w.state.account(b)->balance, 1'000'500u);
    EXPECT_EQ(w.state.account(proposer)->balance, 1'000'003u);
    EXPECT_EQ(w.state.account(a)->nonce, 1u);
}

TEST(LedgerState, ReplaysWrongChainsAndBadSignaturesAreRejectedWithoutEffect) {
    World w;
    const auto tx = make_transaction(w.keys[1], chain, 0, 1, TxKind::transfer, TransferPayload{w.keys[2].address(), 5});
    ASSERT_TRUE(w.state.apply(tx, w.block));
    const auto root = w.state.state_root();
    EXPECT_EQ(w.state.apply(tx, w.block).error(), TxError::bad_nonce);
    auto other =
        make_transaction(w.keys[1], chain + 1, 1, 1, TxKind::transfer, TransferPayload{w.keys[2].address(), 5});
    EXPECT_EQ(w.state.apply(other, w.block).error(), TxError::wrong_chain);
    auto tampered = make_transaction(w.keys[1], chain, 1, 1, TxKind::transfer, TransferPayload{w.keys[2].address(), 5});
    tampered.payload.back() ^= 1;  // the amount changed after signing: another "sender" recovers
    auto r = w.state.apply(tampered, w.block);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error() == TxError::bad_nonce || r.error() == TxError::insufficient_funds ||
                r.error() == TxError::bad_signature);
    EXPECT_EQ(w.state.state_root(), root);
}

TEST(LedgerState, NodeRegistryStakesAndUnbonding) {
    World w;
    EXPECT_EQ(w.send(1, TxKind::register_node, NodePayload{w.record(2, 0)}).error(), TxError::bad_record);
    ASSERT_TRUE(w.send(1, TxKind::register_node, NodePayload{w.record(1, 0)}));
    EXPECT_EQ(w.send(2, TxKind::stake, StakePayload{w.noise[0].public_key, 10}).error(), TxError::not_operator);
    ASSERT_TRUE(w.send(1, TxKind::stake, StakePayload{w.noise[0].public_key, 1000}));
    EXPECT_EQ(w.state.node(w.noise[0].public_key)->stake, 1000u);
    EXPECT_EQ(w.send(1, TxKind::unstake, StakePayload{w.noise[0].public_key, 1001}).error(),
              TxError::insufficient_stake);
    ASSERT_TRUE(w.send(1, TxKind::unstake, StakePayload{w.noise[0].public_key, 400}));
    const auto balance = w.state.account(w.keys[1].address())->balance;
    w.block.height += 2;
    w.state.end_block(w.block);
    EXPECT_EQ(w.state.account(w.keys[1].address())->balance, balance);  // still unbonding
    w.block.height += 1;
    w.state.end_block(w.block);
    EXPECT_EQ(w.state.account(w.keys[1].address())->balance, balance + 400);
    ASSERT_TRUE(w.send(1, TxKind::deregister_node, NodeKeyPayload{w.noise[0].public_key}));
    EXPECT_EQ(w.state.node(w.noise[0].public_key), nullptr);
    EXPECT_EQ(w.state.pending().back().amount, 600u);
}

TEST(LedgerState, PrepaidBalancesWithdrawAfterTheDelay) {
    World w;
    ASSERT_TRUE(w.send(2, TxKind::deposit, AmountPayload{5000}));
    EXPECT_EQ(w.state.account(w.keys[2].address())->prepaid, 5000u);
    EXPECT_EQ(w.send(2, TxKind::withdraw, AmountPayload{5001}).error(), TxError::insufficient_funds);
    ASSERT_TRUE(w.send(2, TxKind::withdraw, AmountPayload{2000}));
    const auto balance = w.state.account(w.keys[2].address())->balance;
    w.block.height += 2;
    w.state.end_block(w.block);
    EXPECT_EQ(w.state.account(w.keys[2].address())->balance, balance + 2000);
}

TEST(LedgerTransaction, CodecRoundTripsAndRejectsTrailingAndOversizedInput) {
    World w;
    const auto tx = make_transaction(w.keys[1], chain, 3, 2, TxKind::deposit, AmountPayload{9});
    const auto bytes = codec::encode(tx);
    auto back = codec::decode<Transaction>(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(codec::encode(*back), bytes);
    EXPECT_EQ(*back->sender(), w.keys[1].address());
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(codec::decode<Transaction>(longer));
    Transaction big = tx;
    big.payload.assign(max_tx_payload_bytes + 1, 0);
    EXPECT_EQ(codec::decode<Transaction>(codec::encode(big)).error(), codec::CodecError::too_long);
}

/// Random transaction sequences, valid and invalid: supply is conserved, and a
/// rejected transaction leaves the state root unchanged.
RC_GTEST_PROP(LedgerState, SupplyIsConservedAndRejectionsChangeNothing, ()) {
    World w;
    const auto supply = w.state.total_supply();
    const auto steps = *rc::gen::inRange(1, 60);
    for (int i = 0; i < steps; ++i) {
        const std::size_t from = *rc::gen::inRange<std::size_t>(0, w.keys.size());
        const std::size_t other = *rc::gen::inRange<std::size_t>(0, w.keys.size());
        const std::uint64_t amount =
            *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, 3000), rc::gen::just<std::uint64_t>(~0ull));
        const std::uint64_t fee = *rc::gen::inRange<std::uint64_t>(0, 4);
        std::uint64_t nonce = w.nonce(from);
        if (*rc::gen::inRange(0, 10) == 0) nonce += 1;  // sometimes stale or future
        const auto kind = static_cast<TxKind>(*rc::gen::inRange(1, 8));
        Transaction tx;
        switch (kind) {
            case TxKind::transfer:
                tx = make_transaction(w.keys[from], chain, nonce, fee, kind,
                                      TransferPayload{w.keys[other].address(), amount});
                break;
            case TxKind::register_node:
                tx = make_transaction(w.keys[from], chain, nonce, fee, kind, NodePayload{w.record(other, other)});
                break;
            case TxKind::deregister_node:
                tx = make_transaction(w.keys[from], chain, nonce, fee, kind, NodeKeyPayload{w.noise[other].public_key});
                break;
            case TxKind::stake:
            case TxKind::unstake:
                tx = make_transaction(w.keys[from], chain, nonce, fee, kind,
                                      StakePayload{w.noise[other].public_key, amount});
                break;
            default: tx = make_transaction(w.keys[from], chain, nonce, fee, kind, AmountPayload{amount}); break;
        }
        if (*rc::gen::inRange(0, 20) == 0) tx.signature.s[5] ^= 1;
        if (*rc::gen::inRange(0, 20) == 0) tx.payload.push_back(0);  // trailing bytes
        const State before = w.state;
        auto result = w.state.apply(tx, w.block);
        if (!result) RC_ASSERT(w.state.state_root() == before.state_root());
        if (result && result->reverted) {
            // Only the fee moved and the nonce advanced.
            RC_ASSERT(w.state.nodes().size() == before.nodes().size());
            RC_ASSERT(w.state.pending() == before.pending());
            for (const auto& k : w.keys) {
                Account expected = *before.account(k.address());
                if (k.address() == w.keys[from].address()) {
                    expected.balance -= tx.fee;
                    expected.nonce += 1;
                }
                if (k.address() == w.block.proposer) expected.balance += tx.fee;
                RC_ASSERT(*w.state.account(k.address()) == expected);
            }
        }
        RC_ASSERT(w.state.total_supply() == supply);
        if (*rc::gen::inRange(0, 4) == 0) {
            ++w.block.height;
            w.state.end_block(w.block);
            RC_ASSERT(w.state.total_supply() == supply);
        }
    }
    // The tree kept up to date change by change equals one built from scratch.
    RC_ASSERT(codec::decode<State>(codec::encode(w.state))->state_root() == w.state.state_root());
}

TEST(LedgerState, AnEffectThatFailsIsRevertedButPaysTheFeeAndUsesTheNonce) {
    World w;
    const auto a = w.keys[1].address(), b = w.keys[2].address(), proposer = w.keys[0].address();
    auto tx = make_transaction(w.keys[1], chain, 0, 7, TxKind::transfer, TransferPayload{b, 2'000'000});
    auto r = w.state.apply(tx, w.block);
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->reverted.has_value());
    EXPECT_EQ(*r->reverted, TxError::insufficient_funds);
    EXPECT_EQ(w.state.account(a)->balance, 1'000'000u - 7);
    EXPECT_EQ(w.state.account(a)->nonce, 1u);
    EXPECT_EQ(w.state.account(b)->balance, 1'000'000u);
    EXPECT_EQ(w.state.account(proposer)->balance, 1'000'007u);
    // The same transaction again is a replay now: rejected, nothing changes.
    const auto root = w.state.state_root();
    EXPECT_EQ(w.state.apply(tx, w.block).error(), TxError::bad_nonce);
    // A fee the balance cannot cover is no transaction at all: rejected.
    auto broke = make_transaction(w.keys[1], chain, 1, 2'000'000, TxKind::transfer, TransferPayload{b, 1});
    EXPECT_EQ(w.state.apply(broke, w.block).error(), TxError::insufficient_funds);
    EXPECT_EQ(w.state.state_root(), root);
}

TEST(LedgerState, CopiesAreIndependentAndCheapToTake) {
    World w;
    const State before = w.state;
    const auto root = before.state_root();
    ASSERT_TRUE(w.send(1, TxKind::transfer, TransferPayload{w.keys[2].address(), 5}));
    ASSERT_TRUE(w.send(1, TxKind::register_node, NodePayload{w.record(1, 0)}));
    EXPECT_EQ(before.state_root(), root);
    EXPECT_EQ(before.account(w.keys[1].address())->balance, 1'000'000u);
    EXPECT_EQ(before.node(w.noise[0].public_key), nullptr);
    EXPECT_NE(w.state.state_root(), root);
}

/// A mempool holding transactions that can never apply, and a builder that must not let them stay.
struct Pool {
    World w{3};
    Header head;
    crypto::PrivateKey validator = w.keys[0].clone();
    Mempool pool;
    Pool() {
        head.chain_id = chain;
        w.state.set_genesis_validators({validator.address()}, 0);
    }
    Transaction transfer(std::size_t from, std::uint64_t nonce, std::uint64_t amount, std::uint64_t fee = 1) {
        return make_transaction(w.keys[from], chain, nonce, fee, TxKind::transfer,
                                TransferPayload{w.keys[2].address(), amount});
    }
    Block produce() {
        auto [block, next] = build_block(w.state, head, pool, head.time_unix + 1, validator);
        // What a replica checks: every transaction in the block applies.
        State replica = w.state;
        EXPECT_TRUE(apply_block(replica, head, block));
        EXPECT_EQ(replica.state_root(), next.state_root());
        w.state = next;
        head = block.header;
        pool.prune(w.state);
        return block;
    }
};

TEST(Mempool, ATransactionWhoseEffectFailsIsIncludedChargedAndLeavesThePool) {
    Pool p;
    // Both fit the balance at admission; after the first, the second's amount does not.
    ASSERT_TRUE(p.pool.admit(p.transfer(1, 0, 900'000), p.w.state));
    ASSERT_TRUE(p.pool.admit(p.transfer(1, 1, 900'000, 5), p.w.state));
    const Block block = p.produce();
    EXPECT_EQ(block.transactions.size(), 2u);
    EXPECT_EQ(p.pool.size(), 0u);
    const Account* a = p.w.state.account(p.w.keys[1].address());
    EXPECT_EQ(a->nonce, 2u);
    EXPECT_EQ(a->balance, 1'000'000u - 900'000 - 1 - 5);  // the second paid its fee, moved nothing
}

TEST(Mempool, ATransactionThatCannotPayItsFeeIsEvictedNotKeptForever) {
    Pool p;
    // The first leaves less than the second's fee: the second can never be in a block
    // until the account is refilled, so it must not hold a place in the pool.
    ASSERT_TRUE(p.pool.admit(p.transfer(1, 0, 999'000), p.w.state));
    ASSERT_TRUE(p.pool.admit(p.transfer(1, 1, 1, 5'000), p.w.state));
    ASSERT_TRUE(p.pool.admit(p.transfer(1, 2, 1, 1), p.w.state));
    const Block block = p.produce();
    EXPECT_EQ(block.transactions.size(), 1u);
    EXPECT_EQ(p.pool.size(), 0u);  // the unpayable one and the one queued behind it
    EXPECT_EQ(p.w.state.account(p.w.keys[1].address())->nonce, 1u);
    // A payable transaction at the same nonce is admitted and applies.
    ASSERT_TRUE(p.pool.admit(p.transfer(1, 1, 1, 1), p.w.state));
    EXPECT_EQ(p.produce().transactions.size(), 1u);
    EXPECT_EQ(p.pool.size(), 0u);
}

}  // namespace
}  // namespace conet::ledger
