#pragma once
/// The validator role (single validator: the degenerate case of the BFT
/// consensus a later issue adds): produces a block every interval from the
/// mempool, commits it durably, and serves the ledger over JSON-RPC.

#include <functional>
#include <memory>

#include "conet/ledger/store.hpp"
#include "conet/net/asio.hpp"
#include "conet/rpc/jsonrpc.hpp"

namespace conet::node {

class Validator {
public:
    Validator(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
              crypto::PrivateKey key, std::uint32_t block_interval_ms);
    void start();
    void stop();
    /// Registers the conet_* JSON-RPC methods (docs/rpc.md).
    void register_methods(rpc::Dispatcher& d);
    /// Called after each committed block with its header and certificate, as
    /// conet_getHeader answers them (for the "newHeads" subscription).
    void on_commit(std::function<void(const boost::json::value&)> f) { m_on_commit = std::move(f); }

private:
    net::awaitable<void> produce_loop();
    void produce_one();
    boost::json::value header_answer(const ledger::Block& b) const;

    boost::asio::io_context& m_io;
    ledger::BlockStore& m_store;
    const ledger::Genesis& m_genesis;
    crypto::PrivateKey m_key;
    std::uint32_t m_interval_ms;
    ledger::Mempool m_mempool;
    boost::asio::steady_timer m_timer;
    bool m_stopped = false;
    std::function<void(const boost::json::value&)> m_on_commit;
};

}  // namespace conet::node
