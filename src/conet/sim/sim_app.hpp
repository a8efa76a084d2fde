#pragma once
/// The simulator's application: a model chain whose blocks carry client
/// transaction ids, checked as strictly as a ledger checks its blocks
/// (height, parent, the proposer's validity flag, no transaction twice on a
/// chain). Finalized blocks are written to a journal on the node's simulated
/// storage, so finality survives crashes exactly as the node made it durable.
/// With epochs, every `epoch_blocks`-th height ends an epoch: the next block
/// belongs to the next epoch (whose views go on above it), a leader on that
/// last block proposes it again, and the certificate that finalized it is
/// kept (synced before the block) to answer peers still in that epoch.

#include <functional>
#include <map>
#include <set>

#include "conet/consensus/application.hpp"
#include "conet/runtime/journal.hpp"

namespace conet::sim {

using consensus::Hash256;
using consensus::View;

struct SimBlock {
    View view = 0;
    View parent_view = 0;
    Hash256 parent{};
    std::uint64_t height = 0;
    std::uint32_t proposer = 0;
    std::uint64_t epoch = 0;
    bool valid = true;  ///< a Byzantine proposer may build invalid blocks
    std::vector<std::uint64_t> txs;

    util::Bytes encode() const;
    static std::optional<SimBlock> decode(util::ByteView bytes);
};

inline constexpr std::string_view chain_file_name = "chain.journal";
inline constexpr std::string_view epoch_ends_file_name = "epoch-ends.journal";
inline constexpr std::size_t max_txs_per_block = 16;

/// The certificates that ended epochs, on the node's storage: each is synced
/// before the block it finalizes is journaled, so a node whose final chain
/// holds an epoch's last block can always prove it to a peer left behind.
class EpochEnds {
public:
    [[nodiscard]] util::Result<void, std::string> open(runtime::Storage& storage);
    /// Journals and syncs; an error says why (the node must stop).
    [[nodiscard]] util::Result<void, std::string> record(std::uint64_t epoch, const consensus::Certificate& cert);
    std::optional<consensus::Certificate> get(std::uint64_t epoch) const;

private:
    std::optional<runtime::Journal> m_journal;
    std::map<std::uint64_t, consensus::Certificate> m_certs;
};

/// What the simulator needs of an application beyond consensus::Application.
class SimApplication : public consensus::Application {
public:
    /// A block this node made final, for the invariant checks.
    struct Final {
        std::uint64_t height = 0;
        Hash256 digest{};
        std::uint64_t epoch = 0;
        std::vector<Hash256> txs;  ///< ids of the transactions in it
    };
    /// Called for every block this node makes final.
    using FinalizedHook = std::function<void(std::uint32_t node, const Final& block)>;
    /// Called when a certificate's chain does not extend this node's final
    /// chain, or a block to be made final fails the application's checks.
    using ForkHook = std::function<void(std::uint32_t node, const std::string& what)>;

    /// Replays the final chain from storage; an error names what is wrong.
    [[nodiscard]] virtual util::Result<void, std::string> open(runtime::Storage& storage) = 0;
    /// The client's `seq`-th request reaches this node.
    virtual void submit(std::uint64_t seq) = 0;
    /// The height of the final chain.
    virtual std::uint64_t height() const = 0;
    /// Builds a second, different block for the slot of `p` (an equivocating leader).
    virtual std::optional<Hash256> build_conflicting(const consensus::Proposal& p) = 0;
    /// The Byzantine proposer's knob: the next blocks it builds are invalid.
    bool build_invalid = false;
};

class SimApp final : public SimApplication {
public:
    /// `epoch_blocks` 0: one epoch for ever.
    SimApp(std::uint32_t node, Hash256 genesis, FinalizedHook on_finalized, ForkHook on_fork,
           std::uint64_t epoch_blocks = 0);
    [[nodiscard]] util::Result<void, std::string> open(runtime::Storage& storage) override;
    void submit(std::uint64_t tx) override { m_mempool.insert(tx); }

    std::optional<consensus::BlockInfo> receive(util::ByteView block) override;
    std::optional<util::Bytes> block(const Hash256& digest) const override;
    std::optional<Hash256> build(std::uint64_t epoch, const consensus::Proposal& p, std::uint64_t unix_ms,
                                 const consensus::Certificate* parent_certificate) override;
    consensus::VerifyResult verify(std::uint64_t epoch, const consensus::Proposal& p) override;
    std::optional<Hash256> finalize(std::uint64_t epoch, const consensus::Certificate& cert) override;
    std::pair<View, Hash256> finalized() const override;
    std::uint64_t epoch() const override;
    std::optional<consensus::Certificate> epoch_end(std::uint64_t epoch) const override;

    std::uint64_t height() const override { return m_chain.size(); }
    std::optional<Hash256> build_conflicting(const consensus::Proposal& p) override;
    /// Blocks this node was asked to build with a certificate of their parent.
    std::uint64_t builds_with_parent_certificate() const { return m_builds_with_parent_certificate; }

private:
    struct Known {
        SimBlock block;
        util::Bytes bytes;
    };
    bool on_chain_from(const Hash256& from, std::uint64_t tx) const;
    /// Whether the block ends its epoch (genesis does not).
    bool ends_epoch(const SimBlock& b) const { return m_epoch_blocks > 0 && b.height % m_epoch_blocks == 0; }
    /// The parent's height and view and the epoch a child of it has; nullopt when unknown.
    struct ChildSlot {
        std::uint64_t height = 0;
        std::uint64_t epoch = 0;
        View parent_view = 0;
        bool parent_ends_epoch = false;
    };
    std::optional<ChildSlot> child_of(const Hash256& parent) const;
    /// Whether a candidate is past finality (epoch, then view).
    bool after_tip(const SimBlock& b) const;
    std::optional<std::string> check(const SimBlock& b) const;
    void prune();

    std::uint32_t m_node;
    std::uint64_t m_builds_with_parent_certificate = 0;
    Hash256 m_genesis;
    FinalizedHook m_on_finalized;
    ForkHook m_on_fork;
    std::optional<runtime::Journal> m_journal;
    std::map<Hash256, Known> m_blocks;  ///< candidates and recent final blocks
    std::vector<Hash256> m_chain;       ///< final blocks by height - 1
    std::set<Hash256> m_final;          ///< the same, for lookups
    std::set<std::uint64_t> m_final_txs;
    std::set<std::uint64_t> m_mempool;
    std::uint64_t m_epoch_blocks = 0;
    EpochEnds m_epoch_ends;
    Hash256 m_tip;
    View m_tip_view = 0;
    std::uint64_t m_tip_epoch = 0;
    bool m_tip_ends_epoch = false;
    std::uint64_t m_salt = 0;
};

}  // namespace conet::sim
