#pragma once
/// The validator role: runs the Simplex consensus engine (docs/consensus.md)
/// with the genesis validators over the validator transport, with the
/// ledger as its application (node/ledger_app.hpp): blocks come from the
/// mempool, are finalized by a quorum and committed durably; serves the
/// ledger over JSON-RPC. One validator is the degenerate case: it finalizes
/// each of its blocks alone, one per block interval.

#include <functional>
#include <memory>

#include "conet/consensus/engine.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"
#include "conet/net/asio.hpp"
#include "conet/net/peer_transport.hpp"
#include "conet/node/ledger_app.hpp"
#include "conet/rpc/jsonrpc.hpp"
#include "conet/runtime/asio_runtime.hpp"
#include "conet/runtime/file_storage.hpp"

namespace conet::node {

struct ValidatorOptions {
    std::uint32_t block_interval_ms = 1000;
    /// Every validator's consensus address (genesis order); empty for one validator.
    std::vector<std::string> peers;
    /// Where the consensus journal lives (created if missing).
    std::filesystem::path journal_dir;
};

class Validator {
public:
    /// Checks the wallet against the genesis and the options; the error says what to fix.
    static util::Result<std::unique_ptr<Validator>, std::string> create(boost::asio::io_context& io,
                                                                        ledger::BlockStore& store,
                                                                        const ledger::Genesis& genesis,
                                                                        crypto::PrivateKey key,
                                                                        ValidatorOptions options);
    ~Validator();
    /// Replays the consensus journal and starts; an error (a corrupt journal,
    /// a port in use) says why and the node must not run.
    [[nodiscard]] util::Result<void, std::string> start();
    void stop();
    /// Registers the conet_* JSON-RPC methods (docs/rpc.md).
    void register_methods(rpc::Dispatcher& d);
    /// Called after each committed block with its header and certificate, as
    /// conet_getHeader answers them (for the "newHeads" subscription).
    void on_commit(std::function<void(const boost::json::value&)> f) { m_on_commit = std::move(f); }
    /// Prometheus lines about consensus (views, finality, transport).
    std::string metrics() const;

private:
    Validator(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
              crypto::PrivateKey key, std::uint32_t index, ValidatorOptions options,
              std::vector<net::PeerAddress> endpoints);

    boost::asio::io_context& m_io;
    ledger::BlockStore& m_store;
    const ledger::Genesis& m_genesis;
    crypto::PrivateKey m_key;
    std::uint32_t m_index;
    ValidatorOptions m_options;
    ledger::Mempool m_mempool;
    crypto::SystemRng m_rng;
    runtime::AsioClock m_clock;
    runtime::AsioTimers m_timers;
    net::PeerTransport m_transport;
    runtime::FileStorage m_storage;
    LedgerApplication m_app;
    consensus::WalletVerifier m_verifier;
    consensus::WalletSigner m_signer;
    std::unique_ptr<consensus::Engine> m_engine;
    std::function<void(const boost::json::value&)> m_on_commit;
};

}  // namespace conet::node
