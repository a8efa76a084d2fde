#pragma once
/// Fetching a block header over JSON-RPC without trusting the endpoint: the
/// header must carry a quorum certificate of the genesis validators (block 0
/// must be the genesis block itself). Shared by relay discovery and the
/// `conet query` commands, which check Merkle proofs against its state root.

#include <optional>
#include <string>

#include "conet/ledger/chain.hpp"
#include "conet/rpc/client.hpp"

namespace conet::node {

/// Headers a finality proof may chain through (a block finalized by a descendant).
inline constexpr std::size_t max_finality_chain = 1024;

/// Blocking (never on an io thread). Fetches the header at `height` (or the
/// head when absent) from `rpc_url` and checks its certificate against
/// `genesis.validators`; the error says what was refused and why. `call`
/// sets the RPC call's deadline and cancellation.
util::Result<ledger::Header, std::string> verified_header(const std::string& rpc_url, const ledger::Genesis& genesis,
                                                          std::optional<std::uint64_t> height,
                                                          const rpc::CallOptions& call = {});

}  // namespace conet::node
