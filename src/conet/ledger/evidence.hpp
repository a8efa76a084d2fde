#pragma once
/// Double-sign evidence (docs/incentives.md, "Penalties"): two consensus
/// votes by one key that Simplex forbids a correct validator to sign together
/// in one view of one epoch:
///   - notarize(p) and notarize(q) with p ≠ q (two proposals in one view),
///   - finalize(p) and finalize(q) with p ≠ q,
///   - nullify(v) and finalize(p) with p.view = v (Simplex: a validator that
///     nullified a view never finalizes in it).
/// The ledger checks the votes' signatures against the consensus signing
/// digests, restated here (the ledger sits below consensus; a unit test
/// checks that both compute the same digests):
///   notarize = keccak256("CONET/Simplex/Notarize/v1" || u64 chain_id || u64 epoch || proposal)
///   finalize = keccak256("CONET/Simplex/Finalize/v1" || u64 chain_id || u64 epoch || proposal)
///   nullify  = keccak256("CONET/Simplex/Nullify/v1"  || u64 chain_id || u64 epoch || u64 view)
///   proposal = u64 view || u64 parent_view || parent (32) || digest (32)

#include "conet/codec/codec.hpp"
#include "conet/crypto/keccak.hpp"
#include "conet/crypto/keys.hpp"

namespace conet::ledger {

enum class VoteType : std::uint8_t { notarize = 1, nullify = 2, finalize = 3 };

/// One signed consensus vote as evidence carries it: u8 type | u64 view |
/// u64 parent_view | parent | digest | 65-byte signature (a nullify's
/// parent_view, parent and digest are zero).
struct SignedVote {
    VoteType type = VoteType::nullify;
    std::uint64_t view = 0;
    std::uint64_t parent_view = 0;
    crypto::Hash256 parent{};
    crypto::Hash256 digest{};
    crypto::Signature signature;

    /// The digest the vote signs in `epoch` of chain `chain_id`.
    crypto::Hash256 signing_digest(std::uint64_t chain_id, std::uint64_t epoch) const;
    void sign(const crypto::PrivateKey& key, std::uint64_t chain_id, std::uint64_t epoch) {
        signature = crypto::sign_hash(key, signing_digest(chain_id, epoch));
    }
    void encode(codec::Writer& w) const;
    static codec::Result<SignedVote> decode(codec::Reader& r);
};

/// Transaction kind 12's payload: u64 epoch | vote a | vote b.
struct EvidencePayload {
    std::uint64_t epoch = 0;
    SignedVote a;
    SignedVote b;
    void encode(codec::Writer& w) const;
    static codec::Result<EvidencePayload> decode(codec::Reader& r);
};

enum class EvidenceError {
    not_conflicting,  ///< the two votes are not a pair Simplex forbids (or are the same vote)
    bad_signature,    ///< a signature does not recover
    two_signers,      ///< the votes recover to different keys
};
std::string_view describe(EvidenceError e);

/// The key that signed both votes, when they are double-sign evidence.
util::Result<crypto::Address, EvidenceError> double_signer(std::uint64_t chain_id, const EvidencePayload& e);

}  // namespace conet::ledger
