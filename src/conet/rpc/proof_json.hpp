#pragma once
/// Proofs as JSON-RPC carries them (docs/rpc.md):
///   - sparse-Merkle proofs:
///     {"siblings": ["0x…"], "leaf": {"key": "0x…", "value_hash": "0x…"} | null};
///   - block certificates: [{"validator": index, "signature": "0x…65 bytes"}].
/// The server writes them; light clients (discovery, `conet query`) parse
/// them and must refuse anything malformed.

#include <optional>

#include <boost/json/value.hpp>

#include "conet/ledger/block.hpp"
#include "conet/ledger/smt.hpp"

namespace conet::rpc {

boost::json::value proof_to_json(const ledger::SmtProof& p);
std::optional<ledger::SmtProof> proof_from_json(const boost::json::value& v);

boost::json::value certificate_to_json(const ledger::Certificate& c);
/// Parses the shape only (the caller verifies it against the validator set).
std::optional<ledger::Certificate> certificate_from_json(const boost::json::value& v);
/// A re-proposal certificate's proposal as {"view": v, "parent_view": p}
/// (the "certificate_reproposal" field next to a "certificate"), and back:
/// an absent or null field is no re-proposal; nullopt for a malformed one.
boost::json::value reproposal_to_json(const ledger::Reproposal& r);
std::optional<std::optional<ledger::Reproposal>> reproposal_from_json(const boost::json::value* v);

}  // namespace conet::rpc
