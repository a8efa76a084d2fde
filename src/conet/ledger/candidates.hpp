#pragma once
/// Blocks proposed but not yet final (I/O-free): what a node running
/// consensus keeps between a proposal and its finalization. Each candidate
/// is executed at most once, lazily, on top of its parent's post-state (the
/// final tip or another candidate), so verifying a proposal, building on a
/// notarized block and finalizing a chain of blocks share one cache.
/// Candidates at or below the final view are dropped by prune(); the cache
/// is bounded in count and bytes, and when full the block of the furthest
/// view gives way to a nearer one, so blocks a leader sends for views far
/// ahead never keep out the ones finality needs next.

#include <map>
#include <optional>

#include "conet/ledger/chain.hpp"

namespace conet::ledger {

/// The last final block and the state after it.
struct FinalTip {
    const Header& header;
    const State& state;
};

struct CandidateLimits {
    std::size_t max_blocks = 1024;
    std::size_t max_bytes = 512u << 20;
};

class Candidates {
public:
    /// `known`: a mempool whose admitted transactions need no second
    /// signature recovery when a candidate carrying them is executed.
    /// `epoch_blocks`: the genesis' epoch length (0: one epoch).
    explicit Candidates(CandidateLimits limits = {}, const Mempool* known = nullptr, std::uint64_t epoch_blocks = 0)
        : m_limits(limits), m_known(known), m_epoch_blocks(epoch_blocks) {}

    struct Entry {
        Block block;
        util::Bytes bytes;           ///< the canonical encoding (what peers are sent)
        std::optional<State> after;  ///< once executed and found valid
        bool invalid = false;
    };
    enum class Verdict { valid, invalid, missing };

    /// Decodes a block from a peer and keeps it when it is for this chain and
    /// above the final view. Returns its header (also for a block not kept:
    /// the caller learns what it names), or nullopt when it is not a block.
    std::optional<Header> receive(util::ByteView bytes, const FinalTip& tip);
    /// Keeps a block built here (already executed: `after` is its post-state,
    /// or nullopt to have it executed when needed). Returns its hash.
    crypto::Hash256 keep(Block block, std::optional<State> after);

    /// Checks candidate `digest` as the block of `epoch` and `view` on
    /// `parent`, notarized in `parent_view`. `digest == parent` is a
    /// re-proposal: valid only of a valid block that ends `epoch`.
    /// `missing` receives the block to fetch for `missing`.
    Verdict verify(std::uint64_t epoch, std::uint64_t view, std::uint64_t parent_view, const crypto::Hash256& parent,
                   const crypto::Hash256& digest, const FinalTip& tip, crypto::Hash256& missing);

    /// Builds the block of `epoch` and `view` on `parent` (notarized in
    /// `parent_view`) from the mempool, carrying `parent_certificate` (see
    /// build_unsigned_block), and keeps it; on a parent that ends
    /// `epoch`, returns the parent itself (a re-proposal: nothing extends an
    /// epoch's last block within the epoch). nullopt when the parent is
    /// unknown, invalid or not of `parent_view`, or its child is of another epoch.
    std::optional<crypto::Hash256> build(std::uint64_t epoch, std::uint64_t view, std::uint64_t parent_view,
                                         const crypto::Hash256& parent, const FinalTip& tip, const Mempool& mempool,
                                         std::uint64_t time_unix, const crypto::Address& proposer,
                                         ParentCertificate parent_certificate = {},
                                         std::size_t max_txs = max_block_txs);

    /// The chain from just above the tip up to `digest`, oldest first, every
    /// block executed and valid. `missing` when a block on the way is not
    /// here; `invalid` when the way leaves the tip's chain or a block fails.
    struct Path {
        Verdict verdict = Verdict::invalid;
        std::vector<const Entry*> blocks;
        crypto::Hash256 missing{};
    };
    Path path_to(const crypto::Hash256& digest, const FinalTip& tip);

    const Entry* find(const crypto::Hash256& digest) const;
    /// Drops every candidate at or below `final_view`.
    void prune(std::uint64_t final_view);
    std::size_t size() const { return m_entries.size(); }
    std::size_t bytes() const { return m_bytes; }
    /// Blocks refused because the cache was full of nearer views.
    std::uint64_t refused() const { return m_refused; }
    /// Blocks dropped to make room for a nearer view.
    std::uint64_t evicted() const { return m_evicted; }

private:
    struct Parent {
        const Header* header = nullptr;
        const State* state = nullptr;
    };
    /// `digest` with its post-state, executing candidates on the way.
    Verdict resolve(const crypto::Hash256& digest, const FinalTip& tip, Parent& out, crypto::Hash256& missing);
    bool admit(std::uint64_t view, std::size_t bytes);

    CandidateLimits m_limits;
    const Mempool* m_known;
    std::uint64_t m_epoch_blocks;
    std::map<crypto::Hash256, Entry> m_entries;
    std::size_t m_bytes = 0;
    std::uint64_t m_refused = 0;
    std::uint64_t m_evicted = 0;
};

}  // namespace conet::ledger
