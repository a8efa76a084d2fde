#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"

namespace conet::ledger {
namespace {

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/conet-store-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        m_dir = tmpl;
        for (int i = 0; i < 3; ++i) users.push_back(crypto::PrivateKey::generate(rng));
        genesis.chain_id = 5;
        genesis.validators = {validator.address()};
        for (auto& u : users) genesis.balances.emplace_back(u.address(), 1'000'000);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }

    /// Builds and commits `count` blocks of transfers on the store.
    void grow(BlockStore& store, int count) {
        for (int i = 0; i < count; ++i) {
            Mempool pool;
            for (std::size_t u = 0; u < users.size(); ++u) {
                const Account* a = store.state().account(users[u].address());
                auto tx = make_transaction(users[u], genesis.chain_id, a ? a->nonce : 0, 1, TxKind::transfer,
                                           TransferPayload{users[(u + 1) % users.size()].address(), 7});
                ASSERT_TRUE(pool.admit(tx, store.state()));
            }
            auto [block, next] = build_block(store.state(), store.head(), pool, store.head().time_unix + 1, validator);
            ASSERT_TRUE(store.commit(block, next));
        }
    }

    crypto::SeededRng rng{31};
    crypto::PrivateKey validator = crypto::PrivateKey::generate(rng);
    std::vector<crypto::PrivateKey> users;
    Genesis genesis;
    std::filesystem::path m_dir;
};

TEST_F(StoreTest, ReopeningRecoversTheHeadTheStateAndTheIndexes) {
    crypto::Hash256 root, head_hash, some_tx;
    {
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        EXPECT_EQ((*store)->head().height, 0u);
        grow(**store, 4);
        root = (*store)->state().state_root();
        head_hash = (*store)->head().hash();
        some_tx = (*store)->block_at(2)->transactions[1].hash();
    }
    auto store = BlockStore::open(m_dir, genesis);
    ASSERT_TRUE(store) << store.error();
    EXPECT_EQ((*store)->head().height, 4u);
    EXPECT_EQ((*store)->state().state_root(), root);
    EXPECT_EQ((*store)->height_of(head_hash), 4u);
    auto loc = (*store)->find_transaction(some_tx);
    ASSERT_TRUE(loc);
    EXPECT_EQ(loc->height, 2u);
    EXPECT_EQ(loc->index, 1u);
    EXPECT_FALSE((*store)->block_at(5));
    grow(**store, 1);  // and the chain continues
    EXPECT_EQ((*store)->head().height, 5u);
}

/// A store with many accounts reopened after transfers to random (old and new)
/// accounts holds, without rebuilding anything, the same state and tree as
/// one rebuilt from scratch from its entries: same root, same proofs.
TEST_F(StoreTest, TheStoredTreeReopensToTheStateRebuiltFromScratch) {
    std::vector<crypto::Address> others(3000);
    for (auto& a : others) {
        rng.fill(a.bytes);
        genesis.balances.emplace_back(a, 5);
    }
    std::mt19937_64 pick(9);
    crypto::Hash256 root;
    {
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        for (int b = 0; b < 6; ++b) {
            Mempool pool;
            for (std::size_t u = 0; u < users.size(); ++u)
                for (std::uint64_t k = 0; k < 20; ++k) {
                    crypto::Address to = others[pick() % others.size()];
                    if (pick() % 4 == 0) rng.fill(to.bytes);  // a new account
                    const Account* a = (*store)->state().account(users[u].address());
                    auto tx = make_transaction(users[u], genesis.chain_id, a->nonce + k, 1, TxKind::transfer,
                                               TransferPayload{to, 1 + pick() % 100});
                    ASSERT_TRUE(pool.admit(tx, (*store)->state()));
                }
            auto [block, next] =
                build_block((*store)->state(), (*store)->head(), pool, (*store)->head().time_unix + 1, validator);
            ASSERT_EQ(block.transactions.size(), 60u);
            ASSERT_TRUE((*store)->commit(block, next));
        }
        root = (*store)->state().state_root();
    }
    auto store = BlockStore::open(m_dir, genesis);
    ASSERT_TRUE(store) << store.error();
    const State& loaded = (*store)->state();
    EXPECT_EQ(loaded.state_root(), root);
    // From scratch: every entry hashed into a new tree.
    const auto scratch = codec::decode<State>(codec::encode(loaded));
    ASSERT_TRUE(scratch);
    EXPECT_EQ(scratch->state_root(), root);
    EXPECT_EQ(codec::encode(*scratch), codec::encode(loaded));
    loaded.accounts().for_each([&](const auto& address, const Account&) {
        const auto key = State::account_key(crypto::Address{address});
        const auto a = loaded.tree().prove(key), b = scratch->tree().prove(key);
        EXPECT_EQ(a.siblings, b.siblings);
        EXPECT_EQ(a.leaf, b.leaf);
    });
    grow(**store, 2);  // and the chain continues from the loaded tree
    const auto again = codec::decode<State>(codec::encode((*store)->state()));
    EXPECT_EQ(again->state_root(), (*store)->state().state_root());
}

/// A store written before tree nodes were stored (no smt/ entries) rebuilds
/// the tree once at open, stores it, and opens from it the next time.
TEST_F(StoreTest, AStoreWithoutStoredTreeNodesRebuildsThemOnce) {
    crypto::Hash256 root;
    {
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        grow(**store, 3);
        root = (*store)->state().state_root();
    }
    auto count_nodes = [&] {
        rocksdb::DB* raw = nullptr;
        EXPECT_TRUE(rocksdb::DB::Open(rocksdb::Options(), m_dir.string(), &raw).ok());
        std::unique_ptr<rocksdb::DB> db(raw);
        std::vector<std::string> keys;
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
        for (it->Seek("smt/"); it->Valid() && it->key().starts_with("smt/"); it->Next())
            keys.push_back(it->key().ToString());
        return std::make_pair(std::move(db), keys);
    };
    {
        auto [db, keys] = count_nodes();
        EXPECT_EQ(keys.size(), users.size() + 4);  // users, validator, pending, validator set, epoch: their leaves
        rocksdb::WriteBatch batch;                 // make it an old store
        for (const auto& k : keys) batch.Delete(k);
        batch.Delete("meta/smt");
        ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    }
    for (int i = 0; i < 2; ++i) {
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        EXPECT_EQ((*store)->state().state_root(), root);
    }
    EXPECT_EQ(count_nodes().second.size(), users.size() + 4);
}

/// A store from when every tree node was stored (meta/smt "1", branches under
/// smt/<prefix><depth>) opens to the same state and keeps only its leaves; a
/// format this build does not know is refused with a message.
TEST_F(StoreTest, AStoreWithStoredBranchesDropsThemOnceAndAnUnknownFormatIsRefused) {
    crypto::Hash256 root;
    {
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        grow(**store, 3);
        root = (*store)->state().state_root();
    }
    auto with_db = [&](auto f) {
        rocksdb::DB* raw = nullptr;
        ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), m_dir.string(), &raw).ok());
        std::unique_ptr<rocksdb::DB> db(raw);
        f(*db);
    };
    auto smt_keys = [&] {
        std::vector<std::string> keys;
        with_db([&](rocksdb::DB& db) {
            std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
            for (it->Seek("smt/"); it->Valid() && it->key().starts_with("smt/"); it->Next())
                keys.push_back(it->key().ToString());
        });
        return keys;
    };
    const auto leaves = smt_keys();
    ASSERT_EQ(leaves.size(), users.size() + 4);
    with_db([&](rocksdb::DB& db) {  // the root branch as format 1 stored it, and one below it
        rocksdb::WriteBatch batch;
        batch.Put("smt/" + std::string(32, '\0') + std::string(2, '\0'), std::string(util::as_chars(root)));
        batch.Put("smt/" + std::string(1, '\x80') + std::string(31, '\0') + std::string("\0\x05", 2),
                  std::string(32, 'x'));
        batch.Put("meta/smt", "1");
        ASSERT_TRUE(db.Write(rocksdb::WriteOptions(), &batch).ok());
    });
    for (int i = 0; i < 2; ++i) {
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        EXPECT_EQ((*store)->state().state_root(), root);
    }
    EXPECT_EQ(smt_keys(), leaves);
    with_db([](rocksdb::DB& db) {
        std::string marker;
        ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), "meta/smt", &marker).ok());
        EXPECT_EQ(marker, "2");
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), "meta/smt", "3").ok());
    });
    auto refused = BlockStore::open(m_dir, genesis);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("state tree format"), std::string::npos);
}

TEST_F(StoreTest, StateEntriesSurviveReopeningThroughAddsUpdatesAndDeletes) {
    // The store writes only changed state entries per block: nodes added,
    // updated and removed, and pending funds, must all read back exactly.
    NodeRecord record;
    record.noise_key = crypto::X25519KeyPair::generate(rng).public_key;
    record.endpoints = {{"127.0.0.1", 9000}};
    record.region = "DE";
    record.expires_at = 4'000'000'000;
    record.sign(users[0], genesis.chain_id);
    NodeRecord moved = record;
    moved.endpoints = {{"127.0.0.1", 9001}};
    moved.sign(users[0], genesis.chain_id);
    const std::vector<std::pair<TxKind, util::Bytes>> steps = {
        {TxKind::register_node, codec::encode(NodePayload{record})},
        {TxKind::stake, codec::encode(StakePayload{record.noise_key, 500})},
        {TxKind::register_node, codec::encode(NodePayload{moved})},
        {TxKind::deposit, codec::encode(AmountPayload{300})},
        {TxKind::withdraw, codec::encode(AmountPayload{100})},
        {TxKind::deregister_node, codec::encode(NodeKeyPayload{record.noise_key})},
    };
    for (std::size_t i = 0; i < steps.size(); ++i) {
        crypto::Hash256 root;
        std::size_t nodes = 0, pending = 0;
        {
            auto store = BlockStore::open(m_dir, genesis);
            ASSERT_TRUE(store) << store.error();
            Mempool pool;
            Transaction tx{genesis.chain_id, i, 1, steps[i].first, steps[i].second, {}};
            tx.sign(users[0]);
            ASSERT_TRUE(pool.admit(tx, (*store)->state())) << i;
            auto [block, next] =
                build_block((*store)->state(), (*store)->head(), pool, (*store)->head().time_unix + 1, validator);
            ASSERT_EQ(block.transactions.size(), 1u) << i;
            ASSERT_TRUE((*store)->commit(block, next));
            root = next.state_root();
            nodes = next.nodes().size();
            pending = next.pending().size();
        }
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        EXPECT_EQ((*store)->state().state_root(), root) << i;
        EXPECT_EQ((*store)->state().nodes().size(), nodes) << i;
        EXPECT_EQ((*store)->state().pending().size(), pending) << i;
    }
    auto store = BlockStore::open(m_dir, genesis);
    EXPECT_EQ((*store)->state().nodes().size(), 0u);    // deregistered: its entry was deleted
    EXPECT_EQ((*store)->state().pending().size(), 2u);  // the withdrawal and the unbonding stake
    EXPECT_EQ((*store)->state().account(users[0].address())->prepaid, 200u);
}

TEST_F(StoreTest, AStoreFromAnotherGenesisIsRefused) {
    { ASSERT_TRUE(BlockStore::open(m_dir, genesis)); }
    Genesis other = genesis;
    other.chain_id = 6;
    auto store = BlockStore::open(m_dir, other);
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().find("another genesis"), std::string::npos);
}

TEST_F(StoreTest, SigkillDuringContinuousCommitsLosesNoReportedCommit) {
    // A child commits blocks without pause and reports each height after commit() returns;
    // it is killed with SIGKILL after 3, 5, 7 and 9 reports (four points, not every moment). The store
    // must reopen at or past the last reported height, consistent with itself.
    for (int round = 0; round < 4; ++round) {
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            auto store = BlockStore::open(m_dir, genesis);
            if (!store) ::_exit(2);
            for (;;) {
                grow(**store, 1);
                const std::uint64_t h = (*store)->head().height;
                if (::write(fds[1], &h, sizeof h) != sizeof h) ::_exit(3);
            }
        }
        ::close(fds[1]);
        std::uint64_t last = 0, h = 0;
        for (int n = 0; n < 3 + round * 2 && ::read(fds[0], &h, sizeof h) == sizeof h; ++n) last = h;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        ::close(fds[0]);
        auto store = BlockStore::open(m_dir, genesis);
        ASSERT_TRUE(store) << store.error();
        EXPECT_GE((*store)->head().height, last) << "round " << round;
        EXPECT_EQ((*store)->state().state_root(), (*store)->head().state_root);
    }
}

}  // namespace
}  // namespace conet::ledger
