#pragma once
/// What the consensus engine needs from the application that owns the
/// blocks (the ledger in a node, a model chain in the simulator). Blocks are
/// opaque bytes named by a digest the application computes; the engine only
/// moves them between peers and asks the questions below.
///
/// Epochs (docs/consensus.md): the application decides which block ends an
/// epoch — the last block of an epoch is fixed by the chain's content (its
/// height), never by which certificate happened to finalize it. An epoch's
/// engine never accepts a block beyond it: a leader whose parent is that
/// last block proposes the same block again (a re-proposal: digest ==
/// parent), so a last block that was only notarized still gets finalized in
/// a later view, and the next epoch starts from it: its views go on above the
/// last block's own view, so views increase along the chain across epochs.

#include <optional>

#include "conet/consensus/types.hpp"

namespace conet::consensus {

/// What a block says about its place in the chain.
struct BlockInfo {
    Hash256 digest{};
    View view = 0;
    /// When the block names its parent's view; otherwise verify() checks it against the parent block.
    std::optional<View> parent_view;
    Hash256 parent{};
    /// The epoch the block belongs to.
    std::uint64_t epoch = 0;
};

enum class Verdict { valid, invalid, missing_parent };
struct VerifyResult {
    Verdict verdict = Verdict::invalid;
    Hash256 missing{};  ///< for missing_parent: the block to fetch (the parent or an older ancestor)
};

class Application {
public:
    virtual ~Application() = default;
    /// Decodes a block received from a peer (nullopt when it is not one) and
    /// keeps it as a candidate: a bounded cache, not yet part of the chain.
    virtual std::optional<BlockInfo> receive(util::ByteView block) = 0;
    /// A block known (candidate or finalized) by digest.
    virtual std::optional<util::Bytes> block(const Hash256& digest) const = 0;
    /// Builds a block of `epoch` for `p.view` on `p.parent` and keeps it as a
    /// candidate; returns its digest — `p.parent` itself when the parent is
    /// the epoch's last block (a re-proposal) — or nullopt when it cannot
    /// (e.g. the parent block is missing). `parent_certificate`: the
    /// notarization or finalization of the parent's proposal this node holds
    /// (verified; of `epoch`), which the block may carry — the votes the
    /// ledger pays validators for; null when none is held.
    virtual std::optional<Hash256> build(std::uint64_t epoch, const Proposal& p, std::uint64_t unix_ms,
                                         const Certificate* parent_certificate) = 0;
    /// Checks the candidate `p.digest` as a block of `epoch` and a child of
    /// `p.parent`; a re-proposal is valid only of the epoch's last block.
    virtual VerifyResult verify(std::uint64_t epoch, const Proposal& p) = 0;
    /// Makes the block of `cert` (a certificate of `epoch`) and all its
    /// ancestors final, durably. Returns the digest of a block it still lacks
    /// (the engine fetches it and calls again), or nullopt when the chain now
    /// ends at the certified block.
    virtual std::optional<Hash256> finalize(std::uint64_t epoch, const Certificate& cert) = 0;
    /// The epoch of the next block to finalize: the last final block's, or
    /// the one after when that block ends its epoch.
    virtual std::uint64_t epoch() const { return 0; }
    /// The last final block as (its own view, digest); genesis is (0, genesis
    /// digest). The engine of epoch() starts above it.
    virtual std::pair<View, Hash256> finalized() const = 0;
    /// The certificate (of `epoch`) that finalized the last block of an
    /// ended epoch, for a peer still in it; nullopt when not held.
    virtual std::optional<Certificate> epoch_end(std::uint64_t epoch) const {
        (void)epoch;
        return std::nullopt;
    }
};

}  // namespace conet::consensus
