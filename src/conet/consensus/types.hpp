#pragma once
/// Simplex consensus values (DESIGN §8): proposals, signed votes,
/// certificates and the messages validators exchange, with their canonical
/// encodings (codec/). Everything here is pure: no I/O, no clock.
///
/// Signed digests, one domain per vote kind (a signature for one kind can
/// never be replayed as another, nor on another chain):
///   notarize = keccak256("CONET/Simplex/Notarize/v1" || u64 chain_id || u64 epoch || proposal)
///   finalize = keccak256("CONET/Simplex/Finalize/v1" || u64 chain_id || u64 epoch || proposal)
///   nullify  = keccak256("CONET/Simplex/Nullify/v1"  || u64 chain_id || u64 epoch || u64 view)
///   proposal = u64 view || u64 parent_view || parent digest || digest
/// Each epoch (a validator set's term) runs its own engine over view numbers
/// an earlier epoch may also have used, so the epoch is part of every
/// domain: a vote of one epoch never counts in another.

#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include "conet/codec/codec.hpp"
#include "conet/crypto/keccak.hpp"
#include "conet/crypto/keys.hpp"

namespace conet::consensus {

using crypto::Hash256;
using View = std::uint64_t;
using ValidatorIndex = std::uint32_t;
using SignatureBytes = util::ByteArray<65>;

inline constexpr std::string_view notarize_domain = "CONET/Simplex/Notarize/v1";
inline constexpr std::string_view finalize_domain = "CONET/Simplex/Finalize/v1";
inline constexpr std::string_view nullify_domain = "CONET/Simplex/Nullify/v1";
inline constexpr std::size_t max_validators = 256;
inline constexpr std::size_t max_block_bytes = 8u << 20;
inline constexpr std::size_t max_sync_certificates = 64;

/// The largest f with n >= 3f + 1, and the quorum n - f (2f + 1 when n = 3f + 1).
constexpr std::size_t max_faulty(std::size_t n) {
    return n == 0 ? 0 : (n - 1) / 3;
}
constexpr std::size_t quorum(std::size_t n) {
    return n - max_faulty(n);
}
static_assert(quorum(1) == 1 && quorum(4) == 3 && quorum(7) == 5 && quorum(10) == 7);

/// A block put forward in a view: it extends the block `parent` notarized in
/// `parent_view` (view 0 is genesis), and every view in between was nullified.
struct Proposal {
    View view = 0;
    View parent_view = 0;
    Hash256 parent{};
    Hash256 digest{};

    void encode(codec::Writer& w) const;
    static codec::Result<Proposal> decode(codec::Reader& r);
    bool operator==(const Proposal&) const = default;
    /// Any strict order (the digest first): proposals as map keys.
    bool operator<(const Proposal& o) const {
        return std::tie(digest, view, parent_view, parent) < std::tie(o.digest, o.view, o.parent_view, o.parent);
    }
};

enum class VoteKind : std::uint8_t { notarize = 1, nullify = 2, finalize = 3 };
std::string_view to_string(VoteKind k);

/// What a vote or a certificate is about: a proposal (notarize, finalize) or a view (nullify).
struct Subject {
    VoteKind kind = VoteKind::nullify;
    Proposal proposal;  ///< for nullify only proposal.view is meaningful (the rest is zero)

    View view() const { return proposal.view; }
    static Subject nullify(View v) { return Subject{VoteKind::nullify, Proposal{v, 0, {}, {}}}; }
    static Subject notarize(const Proposal& p) { return Subject{VoteKind::notarize, p}; }
    static Subject finalize(const Proposal& p) { return Subject{VoteKind::finalize, p}; }
    /// The digest a validator signs (see the header comment).
    Hash256 signing_digest(std::uint64_t chain_id, std::uint64_t epoch) const;
    void encode(codec::Writer& w) const;
    static codec::Result<Subject> decode(codec::Reader& r);
    bool operator==(const Subject&) const = default;
};

struct Vote {
    Subject subject;
    ValidatorIndex signer = 0;
    SignatureBytes signature{};

    void encode(codec::Writer& w) const;
    static codec::Result<Vote> decode(codec::Reader& r);
    bool operator==(const Vote&) const = default;
};

/// Signs digests with one validator's key.
class Signer {
public:
    virtual ~Signer() = default;
    virtual SignatureBytes sign(const Hash256& digest) const = 0;
};

/// Checks a signature against a validator of the set.
class Verifier {
public:
    virtual ~Verifier() = default;
    virtual std::uint32_t validators() const = 0;
    virtual bool verify(ValidatorIndex signer, const Hash256& digest, const SignatureBytes& sig) const = 0;
};

/// The production scheme: the validators' wallet keys (secp256k1, recoverable, low-s).
class WalletSigner final : public Signer {
public:
    explicit WalletSigner(crypto::PrivateKey key) : m_key(std::move(key)) {}
    SignatureBytes sign(const Hash256& digest) const override;

private:
    crypto::PrivateKey m_key;
};

class WalletVerifier final : public Verifier {
public:
    explicit WalletVerifier(std::vector<crypto::Address> validators) : m_validators(std::move(validators)) {}
    std::uint32_t validators() const override { return static_cast<std::uint32_t>(m_validators.size()); }
    bool verify(ValidatorIndex signer, const Hash256& digest, const SignatureBytes& sig) const override;

private:
    std::vector<crypto::Address> m_validators;
};

/// Votes of distinct validators on one subject, at least quorum(n) of them.
struct Certificate {
    Subject subject;
    std::vector<std::pair<ValidatorIndex, SignatureBytes>> votes;  ///< sorted by signer, distinct

    void encode(codec::Writer& w) const;
    static codec::Result<Certificate> decode(codec::Reader& r);
    bool operator==(const Certificate&) const = default;
};

enum class CertificateError { too_few_votes, unsorted_or_duplicate_signer, unknown_signer, bad_signature };
std::string_view describe(CertificateError e);

[[nodiscard]] util::Result<void, CertificateError> verify_certificate(const Certificate& cert, std::uint64_t chain_id,
                                                                      std::uint64_t epoch, const Verifier& verifier);

/// Messages between validators (and to followers).
enum class MessageType : std::uint8_t {
    proposal = 1,  ///< the leader's notarize vote and the block it names
    vote = 2,
    certificate = 3,
    sync_request = 4,   ///< "I have finalized `finalized_view` and am in `view`"
    block_request = 5,  ///< a block by digest
    block_response = 6,
};

struct ProposalMessage {
    Vote vote;  ///< the leader's notarize vote on the proposal
    util::Bytes block;
};

struct SyncRequest {
    View finalized_view = 0;
    View view = 0;
};

struct BlockResponse {
    Hash256 digest{};
    util::Bytes block;
};

struct Message {
    MessageType type = MessageType::vote;
    /// The epoch whose engine the message is for (block requests and
    /// responses are answered whatever the epoch).
    std::uint64_t epoch = 0;
    std::optional<ProposalMessage> proposal;
    std::optional<Vote> vote;
    std::optional<Certificate> certificate;
    std::optional<SyncRequest> sync;
    std::optional<Hash256> block_request;
    std::optional<BlockResponse> block_response;

    static Message of(ProposalMessage m);
    static Message of(Vote v);
    static Message of(Certificate c);
    static Message of(SyncRequest s);
    static Message request_block(const Hash256& digest);
    static Message of(BlockResponse b);

    util::Bytes encode() const;
    /// Decodes one whole message (no trailing bytes; every length bounded).
    static codec::Result<Message> decode(util::ByteView bytes);
};

}  // namespace conet::consensus
