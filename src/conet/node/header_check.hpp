#pragma once
/// Fetching a block header over JSON-RPC without trusting the endpoint: the
/// header must carry a quorum certificate of its epoch's validator set (block
/// 0 must be the genesis block itself). A set other than the genesis set is
/// proven by a chain from genesis: the set of epoch e is in the state of
/// block e·E, whose header the set of epoch e-1 certified (cached per
/// process, so each epoch is checked once). Shared by relay discovery and the
/// `conet query` commands, which check Merkle proofs against its state root.

#include <optional>
#include <string>

#include "conet/ledger/chain.hpp"
#include "conet/rpc/client.hpp"

namespace conet::node {

/// Headers a finality proof may chain through (a block finalized by a descendant).
inline constexpr std::size_t max_finality_chain = 1024;

/// Blocking (never on an io thread). Fetches the header at `height` (or the
/// head when absent) from `rpc_url` and checks its certificate against its
/// epoch's validator set; the error says what was refused and why. `call`
/// sets the RPC call's deadline and cancellation.
util::Result<ledger::Header, std::string> verified_header(const std::string& rpc_url, const ledger::Genesis& genesis,
                                                          std::optional<std::uint64_t> height,
                                                          const rpc::CallOptions& call = {});

/// The validator set of `epoch`, proven from genesis as described above.
util::Result<std::vector<crypto::Address>, std::string> verified_validator_set(const std::string& rpc_url,
                                                                               const ledger::Genesis& genesis,
                                                                               std::uint64_t epoch,
                                                                               const rpc::CallOptions& call = {});

}  // namespace conet::node
