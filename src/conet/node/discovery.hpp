#pragma once
/// Learning relays from any validator's JSON-RPC without trusting it: the
/// header must carry a quorum certificate of the genesis validators, and each
/// node record must come with a Merkle proof against that header's state root
/// and verify under its operator's signature. Anything else is refused.

#include <string>
#include <vector>

#include "conet/ledger/chain.hpp"

namespace conet::node {

/// A head older than this is refused: a dead chain or an RPC replaying an old,
/// validly certified block (whose records may be stale).
inline constexpr std::uint64_t default_max_header_age_s = 600;

/// Blocking (never on an io thread). `refused` gets one line per refused
/// answer. Proofs must come from the verified head or a later block.
util::Result<ledger::Directory, std::string> discover_relays(const std::string& rpc_url, const ledger::Genesis& genesis,
                                                             std::uint64_t now_unix, std::vector<std::string>& refused,
                                                             std::uint64_t max_header_age_s = default_max_header_age_s);

/// Asks every endpoint and keeps the union of what verifies, so one endpoint
/// that withholds records cannot hide them (for a node answered by several,
/// the record that expires last). Fails only when none gives a verified head.
util::Result<ledger::Directory, std::string> discover_relays(const std::vector<std::string>& rpc_urls,
                                                             const ledger::Genesis& genesis, std::uint64_t now_unix,
                                                             std::vector<std::string>& refused,
                                                             std::uint64_t max_header_age_s = default_max_header_age_s);

}  // namespace conet::node
