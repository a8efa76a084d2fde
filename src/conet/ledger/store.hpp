#pragma once
/// The block store (RocksDB). A finalized block, its transaction index and
/// the state after it commit in one synchronous write batch, so after a crash
/// (even kill -9) the store holds exactly the blocks it reported committed.
/// Opening an empty directory writes genesis; opening an existing one checks
/// that it belongs to the same genesis.

#include <filesystem>
#include <memory>
#include <optional>

#include "conet/ledger/chain.hpp"

namespace rocksdb {
class DB;
}

namespace conet::ledger {

struct TxLocation {
    std::uint64_t height = 0;
    std::uint32_t index = 0;
};

/// A node's score as its epoch's payout left it (NodeService's scored fields).
struct ScoreHistoryEntry {
    std::uint64_t epoch = 0;
    std::uint32_t reports = 0;
    std::uint32_t score_bps = 0;
    std::uint64_t reward = 0;
    std::uint32_t failed_epochs = 0;
    bool jailed = false;
    bool operator==(const ScoreHistoryEntry&) const = default;
};

class BlockStore {
public:
    static util::Result<std::unique_ptr<BlockStore>, std::string> open(const std::filesystem::path& dir,
                                                                       const Genesis& genesis);
    ~BlockStore();
    BlockStore(const BlockStore&) = delete;
    BlockStore& operator=(const BlockStore&) = delete;

    const Header& head() const { return m_head; }
    const State& state() const { return m_state; }
    /// The head state's Merkle tree (RPC proofs use it).
    const SparseMerkleTree& tree() const { return m_state.tree(); }

    /// Durably commits `block` (already validated) with the state after it.
    /// A failure means the disk cannot be trusted: callers stop.
    [[nodiscard]] util::Result<void, std::string> commit(const Block& block, const State& next);

    std::optional<Block> block_at(std::uint64_t height) const;
    /// The validator set of `epoch`, for every epoch up to the next block's.
    std::optional<ValidatorSet> validator_set(std::uint64_t epoch) const;
    /// Its proof under the state root of the block that stored it (epoch·E;
    /// genesis for epoch 0): what a light client checks it against.
    std::optional<SmtProof> validator_set_proof(std::uint64_t epoch) const;
    /// A paid epoch's summary (kept for every epoch).
    std::optional<EpochSummary> epoch_summary(std::uint64_t epoch) const;
    /// What `a` received in `epoch` (none: nothing).
    std::optional<RewardRecord> reward_at(std::uint64_t epoch, const crypto::Address& a) const;
    /// Everyone paid in `epoch`, by address, at most `limit`.
    std::vector<std::pair<crypto::Address, RewardRecord>> rewards_of_epoch(std::uint64_t epoch,
                                                                           std::size_t limit) const;
    /// The usage fees `a` earned (as entry or exit operator) from usage of
    /// `epoch`, over every claim committed so far (kept for every epoch).
    std::uint64_t usage_fees(std::uint64_t epoch, const crypto::Address& a) const;
    /// `node`'s score in each epoch it was scored, newest first, at most
    /// `limit` (kept for every epoch, as the rewards are).
    std::vector<ScoreHistoryEntry> score_history(const crypto::X25519Public& node, std::size_t limit) const;
    std::optional<std::uint64_t> height_of(const crypto::Hash256& block_hash) const;
    std::optional<TxLocation> find_transaction(const crypto::Hash256& tx_id) const;

private:
    BlockStore(std::unique_ptr<rocksdb::DB> db, Header head, State state);
    std::unique_ptr<rocksdb::DB> m_db;
    Header m_head;
    State m_state;
};

}  // namespace conet::ledger
