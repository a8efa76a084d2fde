#pragma once
/// The simulator's application: a model chain whose blocks carry client
/// transaction ids, checked as strictly as a ledger checks its blocks
/// (height, parent, the proposer's validity flag, no transaction twice on a
/// chain). Finalized blocks are written to a journal on the node's simulated
/// storage, so finality survives crashes exactly as the node made it durable.

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
    bool valid = true;  ///< a Byzantine proposer may build invalid blocks
    std::vector<std::uint64_t> txs;

    util::Bytes encode() const;
    static std::optional<SimBlock> decode(util::ByteView bytes);
};

inline constexpr std::string_view chain_file_name = "chain.journal";
inline constexpr std::size_t max_txs_per_block = 16;

/// What the simulator needs of an application beyond consensus::Application.
class SimApplication : public consensus::Application {
public:
    /// A block this node made final, for the invariant checks.
    struct Final {
        std::uint64_t height = 0;
        Hash256 digest{};
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
    SimApp(std::uint32_t node, Hash256 genesis, FinalizedHook on_finalized, ForkHook on_fork);
    [[nodiscard]] util::Result<void, std::string> open(runtime::Storage& storage) override;
    void submit(std::uint64_t tx) override { m_mempool.insert(tx); }

    std::optional<consensus::BlockInfo> receive(util::ByteView block) override;
    std::optional<util::Bytes> block(const Hash256& digest) const override;
    std::optional<Hash256> build(const consensus::Proposal& p, std::uint64_t unix_ms) override;
    consensus::VerifyResult verify(const consensus::Proposal& p) override;
    std::optional<Hash256> finalize(const consensus::Certificate& cert) override;
    std::pair<View, Hash256> finalized() const override { return {m_tip_view, m_tip}; }

    std::uint64_t height() const override { return m_chain.size(); }
    std::optional<Hash256> build_conflicting(const consensus::Proposal& p) override;

private:
    struct Known {
        SimBlock block;
        util::Bytes bytes;
    };
    bool on_chain_from(const Hash256& from, std::uint64_t tx) const;
    std::optional<std::string> check(const SimBlock& b) const;
    void prune();

    std::uint32_t m_node;
    Hash256 m_genesis;
    FinalizedHook m_on_finalized;
    ForkHook m_on_fork;
    std::optional<runtime::Journal> m_journal;
    std::map<Hash256, Known> m_blocks;  ///< candidates and recent final blocks
    std::vector<Hash256> m_chain;       ///< final blocks by height - 1
    std::set<Hash256> m_final;          ///< the same, for lookups
    std::set<std::uint64_t> m_final_txs;
    std::set<std::uint64_t> m_mempool;
    Hash256 m_tip;
    View m_tip_view = 0;
    std::uint64_t m_salt = 0;
};

}  // namespace conet::sim
