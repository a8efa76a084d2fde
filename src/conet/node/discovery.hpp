#pragma once
/// Learning relays from any validator's JSON-RPC without trusting it: the
/// header must carry a quorum certificate of the genesis validators, and each
/// node record must come with a Merkle proof against that header's state root
/// and verify under its operator's signature. Anything else is refused.

#include <string>
#include <vector>

#include "conet/ledger/chain.hpp"

namespace conet::node {

/// Blocking; for start-up. `refused` gets one line per refused answer.
util::Result<ledger::Directory, std::string> discover_relays(const std::string& rpc_url, const ledger::Genesis& genesis,
                                                             std::uint64_t now_unix, std::vector<std::string>& refused);

}  // namespace conet::node
