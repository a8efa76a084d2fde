#pragma once
/// Sparse-Merkle proofs as JSON-RPC carries them (docs/rpc.md):
/// {"siblings": ["0x…"], "leaf": {"key": "0x…", "value_hash": "0x…"} | null}.
/// The server writes them; light clients (discovery, `conet query`) parse
/// them and must refuse anything malformed.

#include <optional>

#include <boost/json/value.hpp>

#include "conet/ledger/smt.hpp"

namespace conet::rpc {

boost::json::value proof_to_json(const ledger::SmtProof& p);
std::optional<ledger::SmtProof> proof_from_json(const boost::json::value& v);

}  // namespace conet::rpc
