#pragma once
/// Blocks (DESIGN §7): a header, the transactions and a certificate of
/// validator signatures: the Simplex finalization (docs/consensus.md) of
/// the block, so a light client holding the header and the validator set
/// checks finality without anything else.
///
///   header hash   = keccak256(canonical header)
///   finalize vote = recoverable signature over
///                   keccak256("CONET/Simplex/Finalize/v1" || u64 chain_id || u64 epoch ||
///                             u64 view || u64 parent_view || parent || header hash)
///                   (the consensus finalize digest of the proposal this block is;
///                   epoch = epoch_of(height, epoch_blocks), 0 without epochs)
///   re-proposal   = the last block of an epoch may instead be certified by
///                   the finalization of a re-proposal of it (docs/consensus.md,
///                   "Epochs"): view and parent view of that proposal, and
///                   parent = digest = header hash
///   certificate   = votes of distinct validators (by index in the set, ascending),
///                   at least quorum(n) = n - floor((n - 1) / 3)
///
/// A block finalized only because a descendant was (its own view saw no
/// finalize quorum) is stored with an empty certificate; the first
/// certified descendant proves it (verify_segment).
///
/// A block also carries its **parent's certificate** (the notarization or
/// finalization its leader held for the parent), committed by the header's
/// `parent_certificate` hash: the votes in it are what the validator pool
/// pays for (docs/incentives.md, "Validator pool").

#include <optional>
#include <vector>

#include "conet/ledger/evidence.hpp"
#include "conet/ledger/transaction.hpp"

namespace conet::ledger {

inline constexpr std::string_view finalize_domain = "CONET/Simplex/Finalize/v1";
inline constexpr std::size_t max_block_txs = 4096;
/// The transactions' payloads in one block, together (usage claims are up to
/// 32 KiB each): keeps a block well inside consensus' max_block_bytes.
inline constexpr std::size_t max_block_payload_bytes = 4u << 20;
inline constexpr std::size_t max_validators = 256;

/// Epochs (genesis `epoch_blocks` E): epoch e is heights e·E+1 … (e+1)·E;
/// E = 0 is one epoch for ever. Genesis (height 0) is in epoch 0.
constexpr std::uint64_t epoch_of(std::uint64_t height, std::uint64_t epoch_blocks) {
    return epoch_blocks == 0 || height == 0 ? 0 : (height - 1) / epoch_blocks;
}
constexpr bool ends_epoch(std::uint64_t height, std::uint64_t epoch_blocks) {
    return epoch_blocks > 0 && height > 0 && height % epoch_blocks == 0;
}
static_assert(epoch_of(3, 3) == 0 && epoch_of(4, 3) == 1 && ends_epoch(3, 3) && !ends_epoch(4, 3));

struct Header {
    std::uint64_t chain_id = 0;
    std::uint64_t height = 0;
    std::uint64_t view = 0;         ///< the consensus view that proposed it (0 = genesis)
    std::uint64_t parent_view = 0;  ///< the view of the parent block
    crypto::Hash256 parent{};
    std::uint64_t time_unix = 0;
    crypto::Address proposer;
    crypto::Hash256 tx_root{};
    crypto::Hash256 parent_certificate{};  ///< ParentCertificate::hash() of what the block carries
    crypto::Hash256 state_root{};

    crypto::Hash256 hash() const;
    /// The finalize digest of this block's own proposal in `epoch`.
    crypto::Hash256 vote_digest(std::uint64_t epoch = 0) const;
    void encode(codec::Writer& w) const;
    static codec::Result<Header> decode(codec::Reader& r);
};

struct CertificateVote {
    std::uint32_t validator = 0;  ///< index in the validator set
    crypto::Signature signature;
    bool operator==(const CertificateVote&) const = default;
};

/// The proposal a re-proposal certificate finalized (its parent and digest are the block).
struct Reproposal {
    std::uint64_t view = 0;
    std::uint64_t parent_view = 0;
    bool operator==(const Reproposal&) const = default;
};

/// Encoded as u32 count | (u32 index | 65-byte signature)*, or for a
/// re-proposal u32 0xFFFFFFFF | u64 view | u64 parent_view | the same.
struct Certificate {
    std::vector<CertificateVote> votes;  ///< ascending validator index, distinct
    std::optional<Reproposal> reproposal;
    bool empty() const { return votes.empty(); }
    void encode(codec::Writer& w) const;
    static codec::Result<Certificate> decode(codec::Reader& r);
};

/// The votes of the certificate a block's leader held for the parent when it
/// built the block: a notarization or finalization of the parent's own
/// proposal, signed by the parent's epoch's set. Empty when the leader held
/// none (genesis is not voted on; the first block of an epoch does not carry
/// the previous set's votes; a leader just restarted may hold none).
/// Encoded as u32 count, then when count > 0: u8 kind (1 notarize, 3
/// finalize) | (u32 index | 65-byte signature)*.
struct ParentCertificate {
    VoteType kind = VoteType::notarize;
    std::vector<CertificateVote> votes;  ///< ascending validator index, distinct
    bool empty() const { return votes.empty(); }
    /// What the header commits: zero when empty, else keccak256(encoding).
    crypto::Hash256 hash() const;
    void encode(codec::Writer& w) const;
    static codec::Result<ParentCertificate> decode(codec::Reader& r);
    bool operator==(const ParentCertificate&) const = default;
};

/// Encoded as header | parent certificate | u32 count | transaction* | certificate.
struct Block {
    Header header;
    ParentCertificate parent_certificate;
    std::vector<Transaction> transactions;
    Certificate certificate;
    void encode(codec::Writer& w) const;
    static codec::Result<Block> decode(codec::Reader& r);
};

/// Binary Merkle root of transaction ids (leaf = id; node = keccak256(0x01 || l || r);
/// an odd node is carried up; no transactions = zero hash).
crypto::Hash256 transactions_root(const std::vector<Transaction>& txs);

/// The number of distinct validator votes that finalizes a block.
std::size_t quorum(std::size_t validators);

enum class CertificateError {
    too_few_votes,
    unknown_signer,
    unsorted_or_duplicate_signer,
    bad_signature,
    misplaced_reproposal,  ///< a re-proposal certificate on a block that does not end its epoch, or views out of order
};
std::string_view describe(CertificateError e);

/// The digest the votes of `cert` sign for `header` (its own proposal, or the re-proposal).
crypto::Hash256 certified_digest(const Header& header, const Certificate& cert, std::uint64_t epoch_blocks);

/// Checks `cert` against the validator set (a light client needs only this,
/// the header and the genesis' epoch length).
util::Result<void, CertificateError> verify_certificate(const Header& header, const Certificate& cert,
                                                        const std::vector<crypto::Address>& validators,
                                                        std::uint64_t epoch_blocks = 0);

/// Checks the certificate a child of `parent` carries against the set of the
/// parent's epoch: every vote signs the notarize (or finalize) digest of the
/// parent's own proposal, from distinct members, at least a quorum. The
/// caller checks that the child is in the parent's epoch.
util::Result<void, CertificateError> verify_parent_certificate(const Header& parent, const ParentCertificate& cert,
                                                               const std::vector<crypto::Address>& validators,
                                                               std::uint64_t epoch_blocks = 0);

/// The vote of validator `index` (signed by `key`) of `kind` (notarize or
/// finalize) on `parent`'s own proposal, as a child's parent certificate carries it.
CertificateVote parent_vote(const Header& parent, VoteType kind, std::uint32_t index, const crypto::PrivateKey& key,
                            std::uint64_t epoch_blocks = 0);

/// The vote of validator `index` (signed by `key`) on `header`'s own proposal.
CertificateVote finalize_vote(const Header& header, std::uint32_t index, const crypto::PrivateKey& key,
                              std::uint64_t epoch_blocks = 0);

}  // namespace conet::ledger
