#include "conet/node/validator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "conet/node/ledger_rpc.hpp"
#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

util::Result<std::unique_ptr<Validator>, std::string> Validator::create(boost::asio::io_context& io,
                                                                        ledger::BlockStore& store,
                                                                        const ledger::Genesis& genesis,
                                                                        crypto::PrivateKey key,
                                                                        ValidatorOptions options) {
    // Transport peers start as the genesis set, in genesis order (reached at
    // validator_peers), and, for a validator outside it, this node; the
    // validators that bond in later are added as they enter a set.
    const auto& set = genesis.validators;
    const auto it = std::find(set.begin(), set.end(), key.address());
    std::vector<crypto::Address> peers = set;
    std::vector<net::PeerAddress> endpoints;
    if (it == set.end()) {
        const std::string who = key.address().to_string() + " is not a validator in the genesis";
        if (genesis.params.validator_slots == 0)
            return util::unexpected(who + ", and the genesis has no validator slots to bond into");
        if (options.listen.empty())
            return util::unexpected(who +
                                    ": to join by bonding, set validator_listen in node.toml to the "
                                    "consensus host:port your bond names (conet tx validator-bond --endpoint)");
        if (options.peers.size() != set.size())
            return util::unexpected("validator_peers must list the " + std::to_string(set.size()) +
                                    " genesis validators' consensus addresses, in genesis order");
        for (const auto& p : options.peers) {
            auto ep = ledger::Endpoint::parse(p);
            if (!ep) return util::unexpected("validator_peers: " + p + ": " + ep.error());
            endpoints.push_back({ep->host, ep->port});
        }
        auto own = ledger::Endpoint::parse(options.listen, /*allow_zero_port=*/true);
        if (!own) return util::unexpected("validator_listen: " + options.listen + ": " + own.error());
        endpoints.push_back({own->host, own->port});
        peers.push_back(key.address());
    } else if (options.peers.empty()) {
        if (set.size() > 1)
            return util::unexpected("the genesis has " + std::to_string(set.size()) +
                                    " validators: set validator_peers in node.toml (one host:port per validator, in "
                                    "genesis order)");
        endpoints.push_back({"127.0.0.1", 0});  // nobody to talk to; the listener is never dialed
    } else {
        if (options.peers.size() != set.size())
            return util::unexpected("validator_peers lists " + std::to_string(options.peers.size()) +
                                    " addresses but the genesis has " + std::to_string(set.size()) + " validators");
        for (const auto& p : options.peers) {
            auto ep = ledger::Endpoint::parse(p, /*allow_zero_port=*/true);
            if (!ep) return util::unexpected("validator_peers: " + p + ": " + ep.error());
            endpoints.push_back({ep->host, ep->port});
        }
    }
    const auto index = static_cast<std::uint32_t>(it - set.begin());  // == set.size() outside the genesis
    net::PeerTransportConfig tc{genesis.chain_id, index, endpoints, peers, {}};
    if (auto ok = net::PeerTransport::check(tc, key); !ok)
        return util::unexpected("validator transport: " + std::string(net::describe(ok.error())));
    return std::unique_ptr<Validator>(new Validator(io, store, genesis, std::move(key), index, std::move(options),
                                                    std::move(endpoints), std::move(peers)));
}

GossipMux::GossipMux(runtime::Transport& inner, GossipHandler on_gossip)
    : m_inner(inner), m_on_gossip(std::move(on_gossip)) {
    m_inner.set_handler([this](runtime::PeerId from, util::ByteView message) {
        if (!message.empty() && message[0] == tx_gossip_tag) {
            m_on_gossip(from, message);
        } else if (m_consensus) {
            m_consensus(from, message);
        }
    });
}

Validator::Validator(boost::asio::io_context& io, ledger::BlockStore& store, const ledger::Genesis& genesis,
                     crypto::PrivateKey key, std::uint32_t index, ValidatorOptions options,
                     std::vector<net::PeerAddress> endpoints, std::vector<crypto::Address> peers)
    : m_io(io),
      m_store(store),
      m_genesis(genesis),
      m_key(std::move(key)),
      m_index(index),
      m_options(std::move(options)),
      m_timers(io),
      m_transport(io.get_executor(),
                  net::PeerTransportConfig{genesis.chain_id, index, std::move(endpoints), std::move(peers), {}},
                  m_key.clone(), m_rng),
      m_mux(m_transport, [this](runtime::PeerId from, util::ByteView m) { on_gossip(from, m); }),
      m_gossip_in(m_options.limits, m_transport.peers()),
      m_storage(m_options.journal_dir),
      m_app(store, m_mempool, m_clock, m_key.address(), genesis.params.epoch_blocks),
      m_signer(m_key.clone()) {
    m_app.on_commit = [this](const ledger::Block& b) {
        if (m_on_commit) m_on_commit(header_answer(b, m_store, m_genesis));
        if (!b.transactions.empty())
            spdlog::info("[validator] block {} (view {}) with {} transactions", b.header.height, b.header.view,
                         b.transactions.size());
    };
    m_app.on_fatal = [](const std::string& why) {
        // A failed durable write or a broken quorum leaves state we cannot trust: stop (STYLE.md).
        spdlog::critical("[validator] {}", why);
        std::abort();
    };
}

Validator::~Validator() {
    stop();
}

util::Result<void, std::string> Validator::start() {
    std::error_code ec;
    std::filesystem::create_directories(m_options.journal_dir, ec);
    if (ec) return util::unexpected(m_options.journal_dir.string() + ": " + ec.message());
    if (auto ok = m_transport.start(); !ok)
        return util::unexpected("validator transport: " + std::string(net::describe(ok.error())) + " (" +
                                (!m_options.listen.empty() ? m_options.listen
                                 : m_options.peers.empty() ? std::string("-")
                                                           : m_options.peers[m_index]) +
                                ")");
    consensus::CoreConfig cfg;
    cfg.chain_id = m_genesis.chain_id;
    cfg.min_block_interval_ms = m_options.block_interval_ms;
    // Followers wait for the leader's interval on top of the usual timeouts.
    cfg.leader_timeout_ms += m_options.block_interval_ms;
    cfg.notarize_timeout_ms += m_options.block_interval_ms;
    m_engine = std::make_unique<consensus::Epochs>(
        runtime::Context{m_clock, m_timers, m_mux, m_rng}, m_storage, m_app,
        [this](std::uint64_t e) { return epoch_set(e); }, cfg);
    m_engine->on_fatal = m_app.on_fatal;
    m_engine->on_evidence = [this](std::uint64_t epoch, const consensus::Vote& a, const consensus::Vote& b) {
        report_double_sign(epoch, a, b);
    };
    if (auto ok = m_engine->start(); !ok) {
        m_engine.reset();
        return util::unexpected(ok.error());
    }
    spdlog::info("[validator] {} at height {} (view {}), journal {}", m_key.address().to_string(),
                 m_store.head().height, m_store.head().view,
                 (m_options.journal_dir / consensus::journal_name(m_engine->epoch())).string());
    return {};
}

runtime::PeerId Validator::peer_of(const crypto::Address& a) {
    net::PeerAddress at;
    if (const ledger::ValidatorBond* b = m_store.state().bond(a); b && !b->endpoint.empty()) {
        // Checked when the bond was applied; a name is resolved when dialed.
        if (auto ep = ledger::Endpoint::parse(b->endpoint)) at = {ep->host, ep->port};
    }
    return m_transport.add_peer(a, std::move(at));
}

consensus::EpochSet Validator::epoch_set(std::uint64_t epoch) {
    // The ledger stored this epoch's set when it committed the previous
    // epoch's last block, which is what ended that epoch here.
    auto stored = m_store.validator_set(epoch);
    CONET_ASSERT_MSG(stored.has_value(), "consensus entered an epoch whose validator set the ledger does not hold");
    consensus::EpochSet set;
    set.verifier = std::make_unique<consensus::WalletVerifier>(stored->members);
    for (std::size_t i = 0; i < stored->members.size(); ++i) {
        const crypto::Address& a = stored->members[i];
        set.members.push_back(peer_of(a));
        if (a == m_key.address()) {
            set.self = static_cast<consensus::ValidatorIndex>(i);
            set.signer = &m_signer;
        }
    }
    // Only this epoch's validators are dialed and sent to: one that left
    // every set costs nothing more (it may still connect to us).
    std::vector<bool> member(m_transport.peers(), false);
    for (runtime::PeerId p : set.members) member[p] = true;
    for (runtime::PeerId p = 0; p < m_transport.peers(); ++p)
        if (p != m_index) m_transport.set_active(p, member[p]);
    m_gossip_in.grow(m_transport.peers());
    if (m_set_size != 0 && (m_in_set != set.self.has_value() || m_set_size != stored->members.size()))
        spdlog::info("[validator] epoch {}: {} validators; this node {}", epoch, stored->members.size(),
                     set.self ? "votes" : "follows (not in the set)");
    else if (m_set_size == 0 && !set.self)
        spdlog::info("[validator] epoch {}: not in the set of {} validators; following until a bond brings it in",
                     epoch, stored->members.size());
    m_set_size = stored->members.size();
    m_in_set = set.self.has_value();
    return set;
}

void Validator::stop() {
    if (m_gossip_timer) m_timers.cancel_timer(*m_gossip_timer);
    m_gossip_timer.reset();
    m_engine.reset();
    m_transport.stop();
}

std::string Validator::metrics() const {
    std::string out;
    auto line = [&out](const char* name, std::uint64_t v) {
        out += std::string(name) + " " + std::to_string(v) + "\n";
    };
    line("conet_consensus_height", m_store.head().height);
    line("conet_consensus_finalized_view", m_store.head().view);
    if (m_engine) {
        const consensus::Engine& e = m_engine->engine();
        line("conet_consensus_epoch", m_engine->epoch());
        line("conet_consensus_validators", m_set_size);
        line("conet_consensus_in_set", m_in_set ? 1 : 0);
        line("conet_consensus_view", e.core().view());
        line("conet_consensus_messages_in_total", e.stats().messages_in);
        line("conet_consensus_messages_malformed_total", e.stats().messages_malformed);
        line("conet_consensus_blocks_fetched_total", m_engine->blocks_fetched());
        line("conet_consensus_journal_bytes", e.journal_bytes());
        line("conet_consensus_journal_compactions_total", m_engine->journal_compactions());
        line("conet_consensus_epoch_ends_sent_total", m_engine->epoch_ends_sent());
        line("conet_consensus_certificates_rejected_total", m_engine->certificates_rejected());
    }
    line("conet_consensus_candidates", m_app.candidates().size());
    out += m_app.finality_latency().prometheus("conet_consensus_finality_latency_ms");
    line("conet_mempool_transactions", m_mempool.size());
    line("conet_evidence_found_total", m_evidence_found);
    line("conet_evidence_sent_total", m_evidence_sent);
    const auto& g = m_gossip_in.stats();
    line("conet_mempool_gossip_admitted_total", g.admitted);
    line("conet_mempool_gossip_rejected_total", g.rejected);
    line("conet_mempool_gossip_over_budget_total", g.over_budget);
    line("conet_mempool_gossip_muted_total", g.muted);
    line("conet_mempool_gossip_bad_signature_total", g.bad_signatures);
    const auto& t = m_transport.stats();
    line("conet_validator_link_messages_sent_total", t.messages_sent);
    line("conet_validator_link_messages_received_total", t.messages_received);
    line("conet_validator_link_dropped_total",
         t.dropped_queue_full + t.dropped_too_large + t.dropped_write_failed + t.dropped_no_handler);
    line("conet_validator_link_handshake_failures_total", t.handshake_failures);
    std::uint64_t connected = 0;
    for (std::uint32_t p = 0; p < m_transport.peers(); ++p) connected += p != m_index && m_transport.connected(p);
    line("conet_validator_links_connected", connected);
    return out;
}

void Validator::register_methods(rpc::Dispatcher& d) {
    register_ledger_methods(d, m_store, m_genesis, &m_mempool, [this](const ledger::Transaction& tx) { gossip(tx); });
}

util::Result<void, std::string> Validator::submit_own(ledger::TxKind kind, const util::Bytes& payload) {
    const ledger::State& s = m_store.state();
    ledger::Transaction tx{
        s.chain_id(), m_mempool.next_nonce(m_key.address(), s), s.params().min_fee, kind, payload, {}};
    tx.sign(m_key);
    // Tried first, as the RPC tries clients' incentive transactions: one that
    // would be reverted is not sent (it would only cost its fee). (With
    // earlier transactions of ours still pending the nonce is ahead of the
    // state and the trial cannot tell: the mempool decides.)
    ledger::State trial = s;
    const ledger::Header& head = m_store.head();
    auto tried = trial.apply(tx, ledger::BlockContext{head.height + 1, head.time_unix, {}, head.hash()});
    if (tried && tried->reverted) return util::unexpected(std::string(ledger::describe(*tried->reverted)));
    auto id = m_mempool.admit(tx, s);
    if (!id) return util::unexpected(std::string(ledger::describe(id.error())));
    gossip(tx);
    return {};
}

void Validator::report_double_sign(std::uint64_t epoch, const consensus::Vote& a, const consensus::Vote& b) {
    const ledger::EvidencePayload evidence = consensus::to_evidence(epoch, a, b);
    auto signer = ledger::double_signer(m_genesis.chain_id, evidence);
    if (!signer) {
        // The core verified both votes: this would be a bug, and must not cost the node more than a log line.
        spdlog::error("[validator] evidence the consensus core found is not double-sign evidence: {}",
                      ledger::describe(signer.error()));
        return;
    }
    ++m_evidence_found;
    // Once per offender from this node: every validator that saw it reports it too (later ones revert, fee paid).
    if (!m_reported_signers.insert(*signer).second) return;
    if (auto sent = submit_own(ledger::TxKind::evidence, codec::encode(evidence)); !sent) {
        // Another validator's report may already be in (already_slashed), or the key has no bond.
        spdlog::info("[validator] {} double-signed in view {} of epoch {}; evidence not sent: {}", signer->to_string(),
                     a.subject.view(), epoch, sent.error());
        return;
    }
    ++m_evidence_sent;
    spdlog::warn("[validator] {} double-signed in view {} of epoch {}: evidence sent to the ledger",
                 signer->to_string(), a.subject.view(), epoch);
}

void Validator::gossip(const ledger::Transaction& tx) {
    if (m_transport.peers() < 2) return;
    m_gossip_out.push_back(tx);
    if (m_gossip_out.size() >= max_gossip_txs) return flush_gossip();
    if (!m_gossip_timer)
        m_gossip_timer = m_timers.set_timer(m_clock.now_ms() + gossip_interval_ms, [this] {
            m_gossip_timer.reset();
            flush_gossip();
        });
}

void Validator::flush_gossip() {
    if (m_gossip_out.empty()) return;
    const auto message = encode_gossip(m_gossip_out);
    m_gossip_out.clear();
    for (runtime::PeerId p = 0; p < m_transport.peers(); ++p)
        if (p != m_index) m_transport.send(p, message);
}

void Validator::on_gossip(runtime::PeerId from, util::ByteView message) {
    // Each transaction is checked like one from a client (the mempool's
    // admission) within the sender's budget, and not passed on again.
    const auto before = m_gossip_in.stats();
    m_gossip_in.receive(from, message, m_mempool, m_store.state(), m_clock.now_ms());
    const auto& after = m_gossip_in.stats();
    if (after.bad_signatures != before.bad_signatures)
        spdlog::warn("[validator] validator {} passed on a badly signed transaction: its gossip is ignored for {} ms",
                     from, m_options.limits.bad_gossip_penalty_ms);
    if (after.malformed != before.malformed) spdlog::debug("[validator] malformed gossip from validator {}", from);
}

}  // namespace conet::node
