#pragma once
/// The validator role: runs the Simplex consensus engine (docs/consensus.md;
/// consensus::Epochs, one engine per epoch, each with the set the ledger
/// stored for it) over the validator transport, with the
/// ledger as its application (node/ledger_app.hpp): blocks come from the
/// mempool, are finalized by a quorum and committed durably; serves the
/// ledger over JSON-RPC. One validator is the degenerate case: it finalizes
/// each of its blocks alone, one per block interval.

#include <functional>
#include <memory>
#include <set>

#include "conet/consensus/epochs.hpp"
#include "conet/crypto/random.hpp"
#include "conet/ledger/store.hpp"
#include "conet/net/asio.hpp"
#include "conet/net/peer_transport.hpp"
#include "conet/node/ledger_app.hpp"
#include "conet/node/tx_gossip.hpp"
#include "conet/rpc/jsonrpc.hpp"
#include "conet/runtime/asio_runtime.hpp"
#include "conet/runtime/file_storage.hpp"

namespace conet::node {

/// Splits the validator transport between the consensus engine (which sees
/// a plain runtime::Transport) and transaction gossip.
class GossipMux final : public runtime::Transport {
public:
    using GossipHandler = std::function<void(runtime::PeerId from, util::ByteView message)>;
    GossipMux(runtime::Transport& inner, GossipHandler on_gossip);
    runtime::PeerId self() const override { return m_inner.self(); }
    std::uint32_t peers() const override { return m_inner.peers(); }
    void send(runtime::PeerId to, util::ByteView message) override { m_inner.send(to, message); }
    void set_handler(Handler handler) override { m_consensus = std::move(handler); }

private:
    runtime::Transport& m_inner;
    GossipHandler m_on_gossip;
    Handler m_consensus;
};

struct ValidatorOptions {
    std::uint32_t block_interval_ms = 1000;
    /// Every genesis validator's consensus address (genesis order); empty for one validator.
    std::vector<std::string> peers;
    /// A validator outside the genesis: where it listens (its bond's endpoint).
    std::string listen;
    /// Where the consensus journal lives (created if missing).
    std::filesystem::path journal_dir;
    /// The gossip budget per validator (gossip_txs_*, bad_gossip_penalty_ms).
    util::Limits limits;
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
    /// Signs a transaction of this validator's own (a probe report) with its
    /// key and the next free nonce, admits it to the mempool and gossips it.
    [[nodiscard]] util::Result<void, std::string> submit_own(ledger::TxKind kind, const util::Bytes& payload);
    /// Sends the ledger double-sign evidence the consensus core found (kind 12, from this validator's wallet).
    void report_double_sign(std::uint64_t epoch, const consensus::Vote& a, const consensus::Vote& b);

private:
    /// The transport peer of validator `a`, dialed at its bond's endpoint when it names one.
    runtime::PeerId peer_of(const crypto::Address& a);
    consensus::EpochSet epoch_set(std::uint64_t epoch);
    void gossip(const ledger::Transaction& tx);
    void flush_gossip();
    void on_gossip(runtime::PeerId from, util::ByteView message);

    Validator(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
              crypto::PrivateKey key, std::uint32_t index, ValidatorOptions options,
              std::vector<net::PeerAddress> endpoints, std::vector<crypto::Address> peers);

    boost::asio::io_context& m_io;
    ledger::BlockStore& m_store;
    const ledger::Genesis& m_genesis;
    crypto::PrivateKey m_key;
    std::uint32_t m_index;       ///< our transport peer number
    std::size_t m_set_size = 0;  ///< validators in the current epoch's set
    bool m_in_set = false;       ///< whether we are one of them (else we follow)
    ValidatorOptions m_options;
    ledger::Mempool m_mempool;
    crypto::SystemRng m_rng;
    runtime::AsioClock m_clock;
    runtime::AsioTimers m_timers;
    net::PeerTransport m_transport;
    GossipMux m_mux;
    std::vector<ledger::Transaction> m_gossip_out;  ///< admitted from clients, not yet sent on
    std::optional<runtime::TimerId> m_gossip_timer;
    GossipIntake m_gossip_in;
    runtime::FileStorage m_storage;
    LedgerApplication m_app;
    consensus::WalletSigner m_signer;
    std::unique_ptr<consensus::Epochs> m_engine;
    std::function<void(const boost::json::value&)> m_on_commit;
    std::uint64_t m_evidence_found = 0;            ///< double-sign evidence the consensus core found
    std::uint64_t m_evidence_sent = 0;             ///< of which this node sent to the ledger
    std::set<crypto::Address> m_reported_signers;  ///< double-signers this node reported (one evidence each)
};

}  // namespace conet::node
