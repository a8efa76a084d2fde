#include "conet/consensus/ledger_form.hpp"

#include "conet/util/assert.hpp"

namespace conet::consensus {

namespace {

std::vector<ledger::CertificateVote> ledger_votes(const Certificate& cert) {
    std::vector<ledger::CertificateVote> out;
    out.reserve(cert.votes.size());
    for (const auto& [index, sig] : cert.votes) {
        auto s = crypto::Signature::from_bytes(sig);
        CONET_ASSERT(s.has_value());  // the certificate was verified
        out.push_back(ledger::CertificateVote{index, *s});
    }
    return out;
}

}  // namespace

ledger::Certificate to_ledger_certificate(const Certificate& cert) {
    CONET_ASSERT(cert.subject.kind == VoteKind::finalize);
    ledger::Certificate out;
    const Proposal& p = cert.subject.proposal;
    if (p.digest == p.parent) out.reproposal = ledger::Reproposal{p.view, p.parent_view};
    out.votes = ledger_votes(cert);
    return out;
}

Certificate to_consensus_certificate(const ledger::Header& header, const ledger::Certificate& cert) {
    const crypto::Hash256 self = header.hash();
    const Proposal p = cert.reproposal ? Proposal{cert.reproposal->view, cert.reproposal->parent_view, self, self}
                                       : Proposal{header.view, header.parent_view, header.parent, self};
    Certificate out{Subject::finalize(p), {}};
    for (const auto& v : cert.votes) out.votes.emplace_back(v.validator, v.signature.to_bytes(0));
    return out;
}

ledger::ParentCertificate to_parent_certificate(const Certificate* cert) {
    ledger::ParentCertificate out;
    if (!cert) return out;
    CONET_ASSERT(cert->subject.kind != VoteKind::nullify);
    out.kind = cert->subject.kind == VoteKind::notarize ? ledger::VoteType::notarize : ledger::VoteType::finalize;
    out.votes = ledger_votes(*cert);
    return out;
}

namespace {

static_assert(static_cast<int>(VoteKind::notarize) == static_cast<int>(ledger::VoteType::notarize) &&
              static_cast<int>(VoteKind::nullify) == static_cast<int>(ledger::VoteType::nullify) &&
              static_cast<int>(VoteKind::finalize) == static_cast<int>(ledger::VoteType::finalize));

ledger::SignedVote to_signed_vote(const Vote& v) {
    ledger::SignedVote out;
    out.type = static_cast<ledger::VoteType>(static_cast<std::uint8_t>(v.subject.kind));
    out.view = v.subject.proposal.view;
    if (v.subject.kind != VoteKind::nullify) {
        out.parent_view = v.subject.proposal.parent_view;
        out.parent = v.subject.proposal.parent;
        out.digest = v.subject.proposal.digest;
    }
    auto s = crypto::Signature::from_bytes(v.signature);
    CONET_ASSERT(s.has_value());  // the vote was verified
    out.signature = *s;
    return out;
}

}  // namespace

ledger::EvidencePayload to_evidence(std::uint64_t epoch, const Vote& a, const Vote& b) {
    return ledger::EvidencePayload{epoch, to_signed_vote(a), to_signed_vote(b)};
}

}  // namespace conet::consensus
