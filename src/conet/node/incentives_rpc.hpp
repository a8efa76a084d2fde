#pragma once
/// The incentive protocol's JSON-RPC methods (docs/rpc.md, docs/incentives.md):
/// conet_getEpoch, conet_getScores and conet_getRewards, read from the store.

#include "conet/ledger/store.hpp"
#include "conet/rpc/jsonrpc.hpp"

namespace conet::node {

/// conet_getScores and conet_getRewards list at most this many entries per answer.
inline constexpr std::uint64_t max_listed_scores = 500;

void register_incentive_methods(rpc::Dispatcher& d, const ledger::BlockStore& store);

/// JSON of the ledger's incentive records (also used by the CLI's text output).
boost::json::object epoch_summary_json(const ledger::EpochSummary& s);
boost::json::object reward_record_json(const ledger::RewardRecord& r);

}  // namespace conet::node
