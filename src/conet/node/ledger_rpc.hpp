#pragma once
/// The ledger's JSON-RPC methods (docs/rpc.md), served alike by a validator
/// and by a follower (which has no mempool: it refuses transactions and
/// names where to send them).

#include <functional>

#include "conet/ledger/mempool.hpp"
#include "conet/ledger/store.hpp"
#include "conet/rpc/jsonrpc.hpp"

namespace conet::node {

/// conet_getRawBlocks answers at most this many blocks, and stops adding
/// blocks once this many bytes are in the answer.
inline constexpr std::uint64_t max_raw_blocks = 64;
inline constexpr std::size_t max_raw_bytes = 8u << 20;

/// Runs for each transaction the mempool admitted from a client (a validator
/// passes it on to the other validators).
using AdmittedHook = std::function<void(const ledger::Transaction&)>;

/// Registers the conet_* methods over `store` (read on the dispatcher's
/// thread); `mempool` may be null.
void register_ledger_methods(rpc::Dispatcher& d, const ledger::BlockStore& store, const ledger::Genesis& genesis,
                             ledger::Mempool* mempool, AdmittedHook on_admitted = {});

/// A block as conet_getHeader answers it (and newHeads publishes it).
boost::json::value header_answer(const ledger::Block& b, const ledger::BlockStore& store,
                                 const ledger::Genesis& genesis);
/// The same for the block at `height` (at most the head), with the
/// `finalized_by` chain when it has no certificate of its own.
boost::json::value header_answer_at(const ledger::BlockStore& store, const ledger::Genesis& genesis,
                                    std::uint64_t height);

}  // namespace conet::node
