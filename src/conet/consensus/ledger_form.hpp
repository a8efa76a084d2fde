#pragma once
/// Consensus certificates in the ledger's form and back (the ledger sits
/// below consensus and restates its signing digests; docs/consensus.md). The
/// node and the simulator both run the ledger as consensus' application.

#include "conet/consensus/types.hpp"
#include "conet/ledger/block.hpp"

namespace conet::consensus {

/// The ledger form of a finalization certificate (a re-proposal's keeps its
/// view and parent view).
ledger::Certificate to_ledger_certificate(const Certificate& cert);
/// The consensus form of a block's certificate.
Certificate to_consensus_certificate(const ledger::Header& header, const ledger::Certificate& cert);
/// What a block carries of a notarization or finalization of its parent's
/// proposal (the validator pool's votes); empty for null.
ledger::ParentCertificate to_parent_certificate(const Certificate* cert);
/// Two conflicting votes of one signer in `epoch` (Actions::evidence) as the
/// ledger's double-sign evidence (transaction kind 12).
ledger::EvidencePayload to_evidence(std::uint64_t epoch, const Vote& a, const Vote& b);

}  // namespace conet::consensus
