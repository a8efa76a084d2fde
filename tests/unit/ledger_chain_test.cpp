#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/ledger/candidates.hpp"
#include "conet/ledger/chain.hpp"

namespace conet::ledger {
namespace {

struct Net {
    crypto::SeededRng rng{21};
    crypto::PrivateKey validator = crypto::PrivateKey::generate(rng);
    std::vector<crypto::PrivateKey> users;
    Genesis genesis;
    State state{0, {}};
    Header head;

    Net() {
        for (int i = 0; i < 5; ++i) users.push_back(crypto::PrivateKey::generate(rng));
        genesis.chain_id = 9;
        genesis.time_unix = 1000;
        genesis.validators = {validator.address()};
        for (auto& u : users) genesis.balances.emplace_back(u.address(), 1'000'000);
        state = *genesis.state();
        head = genesis.header(state);
    }
    Transaction transfer(std::size_t from, std::size_t to, std::uint64_t amount, std::uint64_t nonce,
                         std::uint64_t fee = 1) {
        return make_transaction(users[from], genesis.chain_id, nonce, fee, TxKind::transfer,
                                TransferPayload{users[to].address(), amount});
    }
};

TEST(Genesis, AnAddressListedTwiceIsRefused) {
    Net n;
    // Balances: the same account in lower and upper case (found by fuzz_genesis).
    const std::string lower = n.users[0].address().to_string();
    std::string upper = lower;
    for (std::size_t i = 2; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
    std::string json = n.genesis.to_json();
    const std::string key = "\"" + lower + "\":1000000";
    ASSERT_NE(json.find(key), std::string::npos) << json;
    json.replace(json.find(key), key.size(), key + ",\"" + upper + "\":7");
    auto dup_balance = Genesis::from_json(json);
    ASSERT_FALSE(dup_balance);
    EXPECT_NE(dup_balance.error().find("twice"), std::string::npos);
    // Validators: one key twice would count twice towards the quorum size.
    Genesis twice = n.genesis;
    twice.validators.push_back(n.validator.address());
    auto dup_validator = Genesis::from_json(twice.to_json());
    ASSERT_FALSE(dup_validator);
    EXPECT_NE(dup_validator.error().find("validator listed twice"), std::string::npos);
}

TEST(Genesis, JsonRoundTripAndSupplyLimit) {
    Net n;
    auto back = Genesis::from_json(n.genesis.to_json());
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->to_json(), n.genesis.to_json());
    EXPECT_EQ(back->state()->state_root(), n.state.state_root());
    Genesis huge = n.genesis;
    huge.balances = {{n.users[0].address(), ~0ull}, {n.users[1].address(), 1}};
    EXPECT_FALSE(huge.state());
    EXPECT_FALSE(Genesis::from_json("{}"));
    EXPECT_FALSE(Genesis::from_json(R"({"chain_id": 1, "validators": []})"));
    EXPECT_FALSE(
        Genesis::from_json(R"({"chain_id": -1, "validators": ["0x0000000000000000000000000000000000000000"]})"));
}

TEST(Chain, BuiltBlocksReplayToTheSameStateOnAReplica) {
    Net n;
    Mempool pool;
    State replica = n.state;
    Header replica_head = n.head;
    std::uint64_t nonce[5] = {};
    for (int height = 1; height <= 5; ++height) {
        for (int k = 0; k < 8; ++k) {
            const std::size_t from = (height + k) % 5;
            ASSERT_TRUE(pool.admit(n.transfer(from, (from + 1) % 5, 100 + k, nonce[from]++), n.state));
        }
        auto [block, next] = build_block(n.state, n.head, pool, 1000 + height, n.validator);
        EXPECT_EQ(block.transactions.size(), 8u);
        n.state = std::move(next);
        n.head = block.header;
        pool.prune(n.state);
        EXPECT_EQ(pool.size(), 0u);
        auto bytes = codec::encode(block);
        auto decoded = codec::decode<Block>(bytes);
        ASSERT_TRUE(decoded);
        ASSERT_TRUE(apply_block(replica, replica_head, *decoded));
        replica_head = decoded->header;
        EXPECT_EQ(replica.state_root(), n.state.state_root());
    }
    EXPECT_EQ(replica.total_supply(), n.state.total_supply());
}

TEST(Chain, TamperedBlocksAreRejectedAndLeaveTheStateAlone) {
    Net n;
    Mempool pool;
    ASSERT_TRUE(pool.admit(n.transfer(0, 1, 5, 0), n.state));
    auto [block, next] = build_block(n.state, n.head, pool, 1001, n.validator);
    const auto root = n.state.state_root();
    auto expect = [&](Block b, BlockError e) {
        State s = n.state;
        auto r = apply_block(s, n.head, b);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), e);
        EXPECT_EQ(s.state_root(), root);
    };
    Block b = block;
    b.header.state_root[0] ^= 1;
    expect(b, BlockError::bad_certificate);  // the signature covers the header
    b = block;
    b.transactions.clear();
    expect(b, BlockError::bad_tx_root);
    b = block;
    b.header.height = 5;
    expect(b, BlockError::wrong_height);
    b = block;
    crypto::SeededRng rng(3);
    b.certificate.votes = {finalize_vote(block.header, 0, crypto::PrivateKey::generate(rng))};
    expect(b, BlockError::bad_certificate);
    b = block;
    b.certificate.votes.clear();
    expect(b, BlockError::bad_certificate);
    // The view must follow the parent's, and the header must name the parent's view.
    b = block;
    b.header.parent_view = 7;
    b.certificate.votes = {finalize_vote(b.header, 0, n.validator)};
    expect(b, BlockError::wrong_view);
    // A block whose header commits to a wrong state root, correctly signed.
    b = block;
    b.header.state_root[0] ^= 1;
    b.certificate.votes = {finalize_vote(b.header, 0, n.validator)};
    expect(b, BlockError::bad_state_root);
}

TEST(Certificate, QuorumOfDistinctValidators) {
    crypto::SeededRng rng(4);
    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::Address> set;
    for (int i = 0; i < 4; ++i) {
        keys.push_back(crypto::PrivateKey::generate(rng));
        set.push_back(keys.back().address());
    }
    EXPECT_EQ(quorum(1), 1u);
    EXPECT_EQ(quorum(4), 3u);
    EXPECT_EQ(quorum(7), 5u);
    Header h;
    h.height = 3;
    h.view = 5;
    h.parent_view = 2;
    Certificate c;
    for (std::uint32_t i = 0; i < 2; ++i) c.votes.push_back(finalize_vote(h, i, keys[i]));
    EXPECT_EQ(verify_certificate(h, c, set).error(), CertificateError::too_few_votes);
    c.votes.push_back(c.votes[0]);
    EXPECT_EQ(verify_certificate(h, c, set).error(), CertificateError::unsorted_or_duplicate_signer);
    c.votes.back() = finalize_vote(h, 2, keys[2]);
    EXPECT_TRUE(verify_certificate(h, c, set));
    // Votes signed for another view (the same block hash) do not count.
    Header other = h;
    other.view = 6;
    Certificate replayed = c;
    replayed.votes[1] = finalize_vote(other, 1, keys[1]);
    EXPECT_EQ(verify_certificate(h, replayed, set).error(), CertificateError::bad_signature);
    // A valid signature claimed for another validator's index.
    Certificate misattributed = c;
    misattributed.votes[2] = CertificateVote{3, c.votes[2].signature};
    EXPECT_EQ(verify_certificate(h, misattributed, set).error(), CertificateError::bad_signature);
    c.votes.push_back(CertificateVote{4, finalize_vote(h, 4, crypto::PrivateKey::generate(rng)).signature});
    EXPECT_EQ(verify_certificate(h, c, set).error(), CertificateError::unknown_signer);
}

TEST(Candidates, ExecuteLazilyOnTheirParentAndFindWhatIsMissing) {
    Net n;
    Mempool pool;
    ASSERT_TRUE(pool.admit(n.transfer(0, 1, 5, 0), n.state));
    const FinalTip tip{n.head, n.state};
    // A chain of two proposals above the tip, built elsewhere and received in reverse order.
    auto [b1, s1] = build_unsigned_block(n.state, n.head, pool, 1001, n.validator.address(), 3);
    Mempool empty;
    auto [b2, s2] = build_unsigned_block(s1, b1.header, empty, 1002, n.validator.address(), 5);
    Candidates c;
    ASSERT_TRUE(c.receive(codec::encode(b2), tip));
    crypto::Hash256 missing{};
    EXPECT_EQ(c.verify(0, 5, 3, b1.header.hash(), b2.header.hash(), tip, missing), Candidates::Verdict::missing);
    EXPECT_EQ(missing, b1.header.hash());
    ASSERT_TRUE(c.receive(codec::encode(b1), tip));
    EXPECT_EQ(c.verify(0, 5, 3, b1.header.hash(), b2.header.hash(), tip, missing), Candidates::Verdict::valid);
    // The wrong parent view, or a proposal that names another view, is invalid.
    EXPECT_EQ(c.verify(0, 5, 2, b1.header.hash(), b2.header.hash(), tip, missing), Candidates::Verdict::invalid);
    EXPECT_EQ(c.verify(0, 6, 3, b1.header.hash(), b2.header.hash(), tip, missing), Candidates::Verdict::invalid);
    auto path = c.path_to(b2.header.hash(), tip);
    ASSERT_EQ(path.verdict, Candidates::Verdict::valid);
    ASSERT_EQ(path.blocks.size(), 2u);
    EXPECT_EQ(path.blocks[0]->block.header.height, 1u);
    EXPECT_EQ(path.blocks[1]->after->state_root(), s2.state_root());
    // A block that lies about its state is invalid, and so is its child.
    Block liar = b1;
    liar.header.view = 4;
    liar.header.state_root[0] ^= 1;
    Block child = b2;
    child.header.parent = liar.header.hash();
    child.header.parent_view = 4;
    child.header.view = 6;
    c.receive(codec::encode(liar), tip);
    c.receive(codec::encode(child), tip);
    EXPECT_EQ(c.verify(0, 6, 4, liar.header.hash(), child.header.hash(), tip, missing), Candidates::Verdict::invalid);
    EXPECT_EQ(c.path_to(child.header.hash(), tip).verdict, Candidates::Verdict::invalid);
    c.prune(3);
    EXPECT_EQ(c.find(b1.header.hash()), nullptr);
    EXPECT_NE(c.find(b2.header.hash()), nullptr);
}

TEST(LedgerEpochs, CertificatesBindTheEpochAndAReproposalCertifiesOnlyAnEpochsLastBlock) {
    crypto::SeededRng rng(21);
    std::vector<crypto::PrivateKey> keys;
    std::vector<crypto::Address> set;
    for (int i = 0; i < 4; ++i) {
        keys.push_back(crypto::PrivateKey::generate(rng));
        set.push_back(keys.back().address());
    }
    const std::uint64_t E = 3;
    Header h;
    h.chain_id = 9;
    h.height = 6;  // the last block of epoch 1
    h.view = 5;
    h.parent_view = 4;
    const auto sign_all = [&](const Header& header, const Certificate& shape) {
        Certificate c = shape;
        c.votes.clear();
        for (std::uint32_t i = 0; i < 3; ++i)
            c.votes.push_back(CertificateVote{i, crypto::sign_hash(keys[i], certified_digest(header, shape, E))});
        return c;
    };
    const Certificate own = sign_all(h, Certificate{});
    EXPECT_TRUE(verify_certificate(h, own, set, E));
    EXPECT_EQ(verify_certificate(h, own, set, 0).error(), CertificateError::bad_signature)
        << "epoch 1's votes counted as epoch 0's";
    // The finalization of a re-proposal of the block in view 7, on itself notarized in view 5.
    const Certificate again = sign_all(h, Certificate{{}, Reproposal{7, 5}});
    EXPECT_TRUE(verify_certificate(h, again, set, E));
    Certificate round_trip = *codec::decode<Certificate>(codec::encode(again));
    EXPECT_EQ(round_trip.reproposal, again.reproposal);
    EXPECT_EQ(round_trip.votes, again.votes);
    EXPECT_FALSE(codec::decode<Certificate>(codec::encode(own))->reproposal.has_value());
    // Other views than the ones signed, or a block that does not end its epoch, are refused.
    Certificate moved = again;
    moved.reproposal->view = 8;
    EXPECT_EQ(verify_certificate(h, moved, set, E).error(), CertificateError::bad_signature);
    Header middle = h;
    middle.height = 5;
    EXPECT_EQ(verify_certificate(middle, sign_all(middle, Certificate{{}, Reproposal{7, 5}}), set, E).error(),
              CertificateError::misplaced_reproposal);
    EXPECT_EQ(verify_certificate(h, sign_all(h, Certificate{{}, Reproposal{5, 5}}), set, E).error(),
              CertificateError::misplaced_reproposal);
    EXPECT_EQ(verify_certificate(h, sign_all(h, Certificate{{}, Reproposal{7, 4}}), set, E).error(),
              CertificateError::misplaced_reproposal);
    // A truncated re-proposal header is an error, not a crash.
    auto bytes = codec::encode(again);
    bytes.resize(10);
    EXPECT_FALSE(codec::decode<Certificate>(bytes).has_value());
}

TEST(LedgerEpochs, CandidatesReproposeAnEpochsLastBlockAndKeepEachBlockInItsEpoch) {
    Net n;
    Mempool pool;
    const FinalTip tip{n.head, n.state};
    Candidates c({}, nullptr, 2);  // epoch 0 is heights 1-2
    const auto d1 = c.build(0, 1, 0, n.head.hash(), tip, pool, 1001, n.validator.address());
    ASSERT_TRUE(d1.has_value());
    EXPECT_FALSE(c.build(1, 2, 1, *d1, tip, pool, 1001, n.validator.address()).has_value())
        << "a block of epoch 0 built for epoch 1's engine";
    const auto d2 = c.build(0, 2, 1, *d1, tip, pool, 1002, n.validator.address());
    ASSERT_TRUE(d2.has_value());
    EXPECT_EQ(c.find(*d2)->block.header.height, 2u);
    crypto::Hash256 missing{};
    EXPECT_EQ(c.verify(0, 2, 1, *d1, *d2, tip, missing), Candidates::Verdict::valid);
    EXPECT_EQ(c.verify(1, 2, 1, *d1, *d2, tip, missing), Candidates::Verdict::invalid) << "epoch 0's block in epoch 1";
    // On the last block of epoch 0 its engine proposes it again; only that block may be re-proposed.
    EXPECT_EQ(c.build(0, 3, 2, *d2, tip, pool, 1003, n.validator.address()), d2);
    EXPECT_EQ(c.verify(0, 4, 3, *d2, *d2, tip, missing), Candidates::Verdict::valid);
    EXPECT_EQ(c.verify(0, 3, 1, *d1, *d1, tip, missing), Candidates::Verdict::invalid);
    EXPECT_EQ(c.verify(1, 4, 3, *d2, *d2, tip, missing), Candidates::Verdict::invalid);
    // Epoch 1's engine builds its first block on it; epoch 0's refuses that block.
    const auto d3 = c.build(1, 3, 2, *d2, tip, pool, 1003, n.validator.address());
    ASSERT_TRUE(d3.has_value());
    EXPECT_NE(*d3, *d2);
    EXPECT_EQ(c.verify(1, 3, 2, *d2, *d3, tip, missing), Candidates::Verdict::valid);
    EXPECT_EQ(c.verify(0, 3, 2, *d2, *d3, tip, missing), Candidates::Verdict::invalid);
    // A re-proposal of a block this node lacks asks for it.
    Candidates empty({}, nullptr, 2);
    EXPECT_EQ(empty.verify(0, 4, 3, *d2, *d2, tip, missing), Candidates::Verdict::missing);
    EXPECT_EQ(missing, *d2);
}

TEST(Candidates, WhenFullTheFurthestViewGivesWayToANearerOne) {
    Net n;
    const FinalTip tip{n.head, n.state};
    Mempool empty;
    auto block_for = [&](std::uint64_t view) {
        return codec::encode(build_unsigned_block(n.state, n.head, empty, 1001, n.validator.address(), view).first);
    };
    Candidates c(CandidateLimits{3, 1u << 20});
    for (std::uint64_t v : {100, 101, 102}) ASSERT_TRUE(c.receive(block_for(v), tip));
    EXPECT_EQ(c.size(), 3u);
    // Far-future blocks fill the cache; the next view's block still gets in.
    const auto near = block_for(1);
    c.receive(near, tip);
    EXPECT_NE(c.find(codec::decode<Block>(near)->header.hash()), nullptr);
    EXPECT_EQ(c.find(codec::decode<Block>(block_for(102))->header.hash()), nullptr);
    EXPECT_EQ(c.size(), 3u);
    EXPECT_EQ(c.evicted(), 1u);
    // A block further out than everything held is refused.
    c.receive(block_for(500), tip);
    EXPECT_EQ(c.find(codec::decode<Block>(block_for(500))->header.hash()), nullptr);
    EXPECT_EQ(c.refused(), 1u);
}

TEST(Mempool, AdmissionChecksAndOrdering) {
    Net n;
    Mempool pool(MempoolLimits{100, 1 << 20, 3, 4});
    EXPECT_EQ(pool.admit(n.transfer(0, 1, 5, 0, 0), n.state).error(), AdmitError::fee_too_low);
    EXPECT_EQ(pool.admit(n.transfer(0, 1, 5, 9), n.state).error(), AdmitError::nonce_gap);
    Transaction other_chain = n.transfer(0, 1, 5, 0);
    other_chain.chain_id = 1;
    EXPECT_EQ(pool.admit(other_chain, n.state).error(), AdmitError::wrong_chain);
    crypto::SeededRng rng(8);
    const auto broke = crypto::PrivateKey::generate(rng);
    EXPECT_EQ(pool.admit(make_transaction(broke, 9, 0, 1, TxKind::deposit, AmountPayload{1}), n.state).error(),
              AdmitError::insufficient_funds);
    ASSERT_TRUE(pool.admit(n.transfer(0, 1, 5, 0, 1), n.state));
    EXPECT_EQ(pool.admit(n.transfer(0, 1, 5, 0, 1), n.state).error(), AdmitError::duplicate);
    ASSERT_TRUE(pool.admit(n.transfer(0, 1, 5, 1, 1), n.state));
    ASSERT_TRUE(pool.admit(n.transfer(0, 1, 5, 2, 1), n.state));
    EXPECT_EQ(pool.admit(n.transfer(0, 1, 5, 3, 1), n.state).error(), AdmitError::sender_full);
    ASSERT_TRUE(pool.admit(n.transfer(1, 2, 5, 0, 50), n.state));
    const auto order = pool.select(n.state, 10);
    ASSERT_EQ(order.size(), 4u);
    EXPECT_EQ(order[0].tx.fee, 50u);  // highest fee first, then sender 0 in nonce order
    EXPECT_EQ(order[0].sender, n.users[1].address());
    EXPECT_EQ(order[1].tx.nonce, 0u);
    EXPECT_EQ(order[3].tx.nonce, 2u);
}

TEST(Mempool, EvictsTheCheapestWhenFullAndRefusesCheaperNewcomers) {
    Net n;
    Mempool pool(MempoolLimits{3, 1 << 20, 8, 8});
    ASSERT_TRUE(pool.admit(n.transfer(0, 1, 5, 0, 5), n.state));
    ASSERT_TRUE(pool.admit(n.transfer(1, 2, 5, 0, 2), n.state));
    ASSERT_TRUE(pool.admit(n.transfer(2, 3, 5, 0, 7), n.state));
    EXPECT_EQ(pool.admit(n.transfer(3, 4, 5, 0, 1), n.state).error(), AdmitError::pool_full);
    ASSERT_TRUE(pool.admit(n.transfer(3, 4, 5, 0, 9), n.state));
    EXPECT_EQ(pool.size(), 3u);
    for (const auto& s : pool.select(n.state, 10)) EXPECT_NE(s.tx.fee, 2u);
}

}  // namespace
}  // namespace conet::ledger
