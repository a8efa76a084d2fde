#pragma once
/// The ledger as the consensus engine's application in a node: proposals are
/// ledger blocks built from the mempool, verified by executing them on their
/// parent's state (ledger::Candidates), and committed to the block store
/// when finalized — the certified block with its finalization certificate,
/// the ancestors it finalizes with an empty one (docs/consensus.md).

#include <array>
#include <functional>
#include <map>
#include <string>

#include "conet/consensus/application.hpp"
#include "conet/consensus/ledger_form.hpp"
#include "conet/ledger/candidates.hpp"
#include "conet/ledger/store.hpp"
#include "conet/runtime/runtime.hpp"

namespace conet::node {

/// A proposal whose time is further ahead of our clock than this is refused
/// (a leader must not push the chain's clock into the future).
inline constexpr std::uint64_t max_block_time_ahead_s = 15;

/// Proposal-to-finalization latency at this node: from when a block was built
/// here (the leader) or first received, to when it was committed final. A
/// Prometheus histogram (cumulative buckets in milliseconds).
struct FinalityLatency {
    static constexpr std::array<std::uint64_t, 15> bounds_ms{5,   10,  20,  30,  40,   50,   75,  100,
                                                             150, 200, 300, 500, 1000, 2000, 5000};
    std::array<std::uint64_t, bounds_ms.size() + 1> counts{};  ///< per bucket, not cumulative; last = above all
    std::uint64_t sum_ms = 0;
    std::uint64_t total = 0;
    void add(std::uint64_t ms);
    /// The histogram's Prometheus lines, named `name`.
    std::string prometheus(std::string_view name) const;
};

class LedgerApplication final : public consensus::Application {
public:
    /// `epoch_blocks`: the genesis' epoch length (0: one epoch).
    LedgerApplication(ledger::BlockStore& store, ledger::Mempool& mempool, const runtime::Clock& clock,
                      crypto::Address proposer, std::uint64_t epoch_blocks = 0);

    /// Runs after each block committed (oldest first).
    std::function<void(const ledger::Block&)> on_commit;
    /// A finalization that cannot be committed (a quorum certified a block
    /// that fails the ledger's checks or leaves the final chain, or the disk
    /// failed): the node must stop.
    std::function<void(const std::string&)> on_fatal;

    std::optional<consensus::BlockInfo> receive(util::ByteView block) override;
    std::optional<util::Bytes> block(const crypto::Hash256& digest) const override;
    std::optional<crypto::Hash256> build(std::uint64_t epoch, const consensus::Proposal& p, std::uint64_t unix_ms,
                                         const consensus::Certificate* parent_certificate) override;
    consensus::VerifyResult verify(std::uint64_t epoch, const consensus::Proposal& p) override;
    std::optional<crypto::Hash256> finalize(std::uint64_t epoch, const consensus::Certificate& cert) override;
    std::pair<consensus::View, crypto::Hash256> finalized() const override;
    std::uint64_t epoch() const override;
    std::optional<consensus::Certificate> epoch_end(std::uint64_t epoch) const override;

    const ledger::Candidates& candidates() const { return m_candidates; }
    const FinalityLatency& finality_latency() const { return m_latency; }

private:
    ledger::FinalTip tip() const { return {m_store.head(), m_store.state()}; }
    bool is_final(const crypto::Hash256& digest) const { return m_store.height_of(digest).has_value(); }
    void fatal(const std::string& why);
    void note_seen(const crypto::Hash256& digest);

    ledger::BlockStore& m_store;
    ledger::Mempool& m_mempool;
    const runtime::Clock& m_clock;
    crypto::Address m_proposer;
    std::uint64_t m_epoch_blocks;
    ledger::Candidates m_candidates;
    /// When each candidate was built or first received (pruned at finality).
    std::map<crypto::Hash256, runtime::TimeMs> m_first_seen;
    FinalityLatency m_latency;
};

}  // namespace conet::node
