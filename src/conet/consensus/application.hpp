#pragma once
/// What the consensus engine needs from the application that owns the
/// blocks (the ledger in a node, a model chain in the simulator). Blocks are
/// opaque bytes named by a digest the application computes; the engine only
/// moves them between peers and asks the questions below.

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
    /// Builds a block for `p.view` on `p.parent` and keeps it as a candidate;
    /// returns its digest, or nullopt when it cannot (e.g. the parent block is missing).
    virtual std::optional<Hash256> build(const Proposal& p, std::uint64_t unix_ms) = 0;
    /// Checks the candidate `p.digest` as a child of `p.parent`.
    virtual VerifyResult verify(const Proposal& p) = 0;
    /// Makes the block of `cert` and all its ancestors final, durably.
    /// Returns the digest of a block it still lacks (the engine fetches it and
    /// calls again), or nullopt when the chain now ends at the certified block.
    virtual std::optional<Hash256> finalize(const Certificate& cert) = 0;
    /// The last final block as (view, digest); genesis is (0, genesis digest).
    virtual std::pair<View, Hash256> finalized() const = 0;
};

}  // namespace conet::consensus
