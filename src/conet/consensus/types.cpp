#include "conet/consensus/types.hpp"

namespace conet::consensus {

namespace {

template <class T>
codec::Result<T> fail(codec::CodecError e) {
    return util::unexpected(e);
}

#define CONET_TRY_ASSIGN(var, expr)                         \
    auto var##_r = (expr);                                  \
    if (!var##_r) return util::unexpected(var##_r.error()); \
    auto var = std::move(*var##_r)

}  // namespace

void Proposal::encode(codec::Writer& w) const {
    w.u64(view);
    w.u64(parent_view);
    w.fixed(parent);
    w.fixed(digest);
}

codec::Result<Proposal> Proposal::decode(codec::Reader& r) {
    CONET_TRY_ASSIGN(view, r.u64());
    CONET_TRY_ASSIGN(parent_view, r.u64());
    CONET_TRY_ASSIGN(parent, r.fixed<32>());
    CONET_TRY_ASSIGN(digest, r.fixed<32>());
    // A block extends an earlier view; view 0 is genesis and is never proposed.
    if (view == 0 || parent_view >= view) return fail<Proposal>(codec::CodecError::bad_value);
    return Proposal{view, parent_view, parent, digest};
}

std::string_view to_string(VoteKind k) {
    switch (k) {
        case VoteKind::notarize: return "notarize";
        case VoteKind::nullify: return "nullify";
        case VoteKind::finalize: return "finalize";
    }
    return "unknown";
}

Hash256 Subject::signing_digest(std::uint64_t chain_id, std::uint64_t epoch) const {
    codec::Writer w;
    w.u64(chain_id);
    w.u64(epoch);
    std::string_view domain;
    switch (kind) {
        case VoteKind::notarize: domain = notarize_domain; break;
        case VoteKind::finalize: domain = finalize_domain; break;
        case VoteKind::nullify: domain = nullify_domain; break;
    }
    if (kind == VoteKind::nullify)
        w.u64(proposal.view);
    else
        proposal.encode(w);
    crypto::Keccak256 h;
    h.update(util::as_bytes(domain)).update(w.data());
    return h.finish();
}

void Subject::encode(codec::Writer& w) const {
    w.u8(static_cast<std::uint8_t>(kind));
    if (kind == VoteKind::nullify)
        w.u64(proposal.view);
    else
        proposal.encode(w);
}

codec::Result<Subject> Subject::decode(codec::Reader& r) {
    CONET_TRY_ASSIGN(kind, r.u8());
    if (kind == static_cast<std::uint8_t>(VoteKind::nullify)) {
        CONET_TRY_ASSIGN(view, r.u64());
        if (view == 0) return fail<Subject>(codec::CodecError::bad_value);
        return Subject::nullify(view);
    }
    if (kind != static_cast<std::uint8_t>(VoteKind::notarize) && kind != static_cast<std::uint8_t>(VoteKind::finalize))
        return fail<Subject>(codec::CodecError::bad_value);
    CONET_TRY_ASSIGN(p, Proposal::decode(r));
    return Subject{static_cast<VoteKind>(kind), p};
}

void Vote::encode(codec::Writer& w) const {
    subject.encode(w);
    w.u32(signer);
    w.fixed(signature);
}

codec::Result<Vote> Vote::decode(codec::Reader& r) {
    CONET_TRY_ASSIGN(subject, Subject::decode(r));
    CONET_TRY_ASSIGN(signer, r.u32());
    if (signer >= max_validators) return fail<Vote>(codec::CodecError::bad_value);
    CONET_TRY_ASSIGN(sig, r.fixed<65>());
    return Vote{subject, signer, sig};
}

SignatureBytes WalletSigner::sign(const Hash256& digest) const {
    return crypto::sign_hash(m_key, digest).to_bytes(0);
}

bool WalletVerifier::verify(ValidatorIndex signer, const Hash256& digest, const SignatureBytes& sig) const {
    if (signer >= m_validators.size()) return false;
    // v must be 0 or 1: one encoding per signature, so a vote cannot be re-signed into a second form.
    if (sig[64] > 1) return false;
    auto parsed = crypto::Signature::from_bytes(sig);
    if (!parsed) return false;
    auto key = crypto::recover(digest, *parsed);
    return key && key->address() == m_validators[signer];
}

void Certificate::encode(codec::Writer& w) const {
    subject.encode(w);
    w.count(votes.size());
    for (const auto& [signer, sig] : votes) {
        w.u32(signer);
        w.fixed(sig);
    }
}

codec::Result<Certificate> Certificate::decode(codec::Reader& r) {
    CONET_TRY_ASSIGN(subject, Subject::decode(r));
    CONET_TRY_ASSIGN(n, r.count(max_validators));
    Certificate c{subject, {}};
    c.votes.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        CONET_TRY_ASSIGN(signer, r.u32());
        CONET_TRY_ASSIGN(sig, r.fixed<65>());
        c.votes.emplace_back(signer, sig);
    }
    return c;
}

std::string_view describe(CertificateError e) {
    switch (e) {
        case CertificateError::too_few_votes: return "fewer votes than the quorum";
        case CertificateError::unsorted_or_duplicate_signer:
            return "signers not strictly increasing (duplicate or unsorted)";
        case CertificateError::unknown_signer: return "a signer outside the validator set";
        case CertificateError::bad_signature: return "a signature that does not verify";
    }
    return "unknown certificate error";
}

util::Result<void, CertificateError> verify_certificate(const Certificate& cert, std::uint64_t chain_id,
                                                        std::uint64_t epoch, const Verifier& verifier) {
    const std::size_t n = verifier.validators();
    if (cert.votes.size() < quorum(n)) return util::unexpected(CertificateError::too_few_votes);
    for (std::size_t i = 0; i < cert.votes.size(); ++i) {
        if (cert.votes[i].first >= n) return util::unexpected(CertificateError::unknown_signer);
        if (i > 0 && cert.votes[i].first <= cert.votes[i - 1].first)
            return util::unexpected(CertificateError::unsorted_or_duplicate_signer);
    }
    const Hash256 digest = cert.subject.signing_digest(chain_id, epoch);
    for (const auto& [signer, sig] : cert.votes)
        if (!verifier.verify(signer, digest, sig)) return util::unexpected(CertificateError::bad_signature);
    return {};
}

Message Message::of(ProposalMessage m) {
    Message out;
    out.type = MessageType::proposal;
    out.proposal = std::move(m);
    return out;
}
Message Message::of(Vote v) {
    Message out;
    out.type = MessageType::vote;
    out.vote = std::move(v);
    return out;
}
Message Message::of(Certificate c) {
    Message out;
    out.type = MessageType::certificate;
    out.certificate = std::move(c);
    return out;
}
Message Message::of(SyncRequest s) {
    Message out;
    out.type = MessageType::sync_request;
    out.sync = s;
    return out;
}
Message Message::request_block(const Hash256& digest) {
    Message out;
    out.type = MessageType::block_request;
    out.block_request = digest;
    return out;
}
Message Message::of(BlockResponse b) {
    Message out;
    out.type = MessageType::block_response;
    out.block_response = std::move(b);
    return out;
}

util::Bytes Message::encode() const {
    codec::Writer w;
    w.u8(static_cast<std::uint8_t>(type));
    w.u64(epoch);
    switch (type) {
        case MessageType::proposal:
            proposal->vote.encode(w);
            w.bytes(proposal->block);
            break;
        case MessageType::vote: vote->encode(w); break;
        case MessageType::certificate: certificate->encode(w); break;
        case MessageType::sync_request:
            w.u64(sync->finalized_view);
            w.u64(sync->view);
            break;
        case MessageType::block_request: w.fixed(*block_request); break;
        case MessageType::block_response:
            w.fixed(block_response->digest);
            w.bytes(block_response->block);
            break;
    }
    return std::move(w).take();
}

codec::Result<Message> Message::decode(util::ByteView bytes) {
    codec::Reader r(bytes);
    CONET_TRY_ASSIGN(type, r.u8());
    CONET_TRY_ASSIGN(epoch, r.u64());
    Message m;
    switch (type) {
        case static_cast<std::uint8_t>(MessageType::proposal): {
            CONET_TRY_ASSIGN(vote, Vote::decode(r));
            if (vote.subject.kind != VoteKind::notarize) return fail<Message>(codec::CodecError::bad_value);
            CONET_TRY_ASSIGN(block, r.bytes(max_block_bytes));
            m = Message::of(ProposalMessage{vote, std::move(block)});
            break;
        }
        case static_cast<std::uint8_t>(MessageType::vote): {
            CONET_TRY_ASSIGN(vote, Vote::decode(r));
            m = Message::of(vote);
            break;
        }
        case static_cast<std::uint8_t>(MessageType::certificate): {
            CONET_TRY_ASSIGN(cert, Certificate::decode(r));
            m = Message::of(std::move(cert));
            break;
        }
        case static_cast<std::uint8_t>(MessageType::sync_request): {
            CONET_TRY_ASSIGN(fv, r.u64());
            CONET_TRY_ASSIGN(v, r.u64());
            m = Message::of(SyncRequest{fv, v});
            break;
        }
        case static_cast<std::uint8_t>(MessageType::block_request): {
            CONET_TRY_ASSIGN(d, r.fixed<32>());
            m = Message::request_block(d);
            break;
        }
        case static_cast<std::uint8_t>(MessageType::block_response): {
            CONET_TRY_ASSIGN(d, r.fixed<32>());
            CONET_TRY_ASSIGN(block, r.bytes(max_block_bytes));
            m = Message::of(BlockResponse{d, std::move(block)});
            break;
        }
        default: return fail<Message>(codec::CodecError::bad_value);
    }
    if (auto done = r.finish(); !done) return util::unexpected(done.error());
    m.epoch = epoch;
    return m;
}

}  // namespace conet::consensus
