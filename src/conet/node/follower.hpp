#pragma once
/// The follower role: a node that is not a validator keeps its own copy of
/// the chain and trusts no single validator. It fetches blocks from any of
/// the validators' JSON-RPC endpoints (conet_getRawBlocks), executes each on
/// its own state (every check of the ledger) and commits a run of blocks only
/// when the last carries a quorum certificate of its epoch's validator set,
/// read from its own state (the blocks before it are final because it is; an
/// epoch's last block, which stores the next set, must carry its own). An endpoint that serves a block
/// that fails is refused for a while and the next one is asked. It serves the
/// ledger's RPC from its own store (read-only: no mempool).
///
/// The RPC calls are blocking, so fetching and checking run on a thread of
/// their own; commits run on the io thread, which owns the store.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "conet/ledger/store.hpp"
#include "conet/rpc/client.hpp"

namespace conet::node {

struct FollowerOptions {
    std::vector<std::string> urls;  ///< validators' JSON-RPC URLs
    std::uint32_t poll_ms = 500;    ///< between polls when caught up
    std::uint32_t rpc_timeout_ms = rpc::default_client_timeout_ms;
    /// Uncertified blocks held while waiting for the certified descendant
    /// that makes them final; past it the run is dropped and another endpoint asked.
    std::size_t max_pending_blocks = 1024;
};

class Follower {
public:
    Follower(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
             FollowerOptions options);
    ~Follower();
    Follower(const Follower&) = delete;
    Follower& operator=(const Follower&) = delete;

    /// Runs on the io thread after each block committed (oldest first).
    std::function<void(const ledger::Block&)> on_commit;

    void start();
    void stop();

private:
    void run();
    /// One round against the current endpoint: true when it made progress.
    bool sync_round();
    bool commit(std::vector<std::pair<ledger::Block, ledger::State>> blocks);
    void refuse(const std::string& why);
    rpc::CallOptions call_options();

    boost::asio::io_context& m_io;
    ledger::BlockStore& m_store;
    const ledger::Genesis& m_genesis;
    const FollowerOptions m_options;
    std::size_t m_url = 0;  ///< the endpoint asked now
    // The follower thread's view of the chain (copies; the store is the io thread's).
    ledger::Header m_head;
    ledger::State m_state;
    std::vector<std::pair<ledger::Block, ledger::State>> m_pending;
    std::string m_last_warning;

    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stopping = false;
    std::thread m_thread;
};

}  // namespace conet::node
