#include "conet/sim/simulation.hpp"

#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "conet/consensus/epochs.hpp"
#include "conet/crypto/keccak.hpp"
#include "conet/crypto/random.hpp"
#include "conet/runtime/sim.hpp"
#include "conet/runtime/sim_storage.hpp"
#include "conet/sim/fast_scheme.hpp"
#include "conet/sim/ledger_app.hpp"
#include "conet/sim/sim_app.hpp"
#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::sim {

namespace {

using consensus::Certificate;
using consensus::Message;
using consensus::MessageType;
using consensus::Proposal;
using consensus::SignatureBytes;
using consensus::Subject;
using consensus::Vote;
using consensus::VoteKind;
using runtime::PeerId;
using runtime::TimeMs;

constexpr std::uint64_t chain_id = 77;
constexpr TimeMs leader_timeout_ms = 300;
constexpr TimeMs notarize_timeout_ms = 600;
constexpr TimeMs retry_ms = 300;
constexpr TimeMs min_block_interval_ms = 20;
constexpr std::uint64_t sim_journal_compact_bytes = 4096;

enum class Role {
    honest,
    equivocate,
    double_vote,
    nullify_and_finalize,
    always_nullify,
    forger,
    far_future,
    invalid_blocks,
    twin
};

const char* role_name(Role r) {
    switch (r) {
        case Role::honest: return "honest";
        case Role::equivocate: return "equivocating-leader";
        case Role::double_vote: return "double-vote";
        case Role::nullify_and_finalize: return "nullify+finalize";
        case Role::always_nullify: return "always-nullify";
        case Role::forger: return "forger";
        case Role::far_future: return "far-future-flood";
        case Role::invalid_blocks: return "invalid-blocks";
        case Role::twin: return "twins";
    }
    return "?";
}

struct Fnv {
    std::uint64_t h = 1469598103934665603ULL;
    void add(util::ByteView b) {
        for (auto c : b) {
            h ^= c;
            h *= 1099511628211ULL;
        }
    }
    void add(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h ^= (v >> (8 * i)) & 0xff;
            h *= 1099511628211ULL;
        }
    }
};

class Simulation;

/// One process: a validator instance on its own endpoint (a twin shares the key of another).
struct Node {
    std::uint32_t index = 0;     ///< the key (its validator index varies by epoch)
    std::uint32_t endpoint = 0;  ///< network endpoint
    Role role = Role::honest;
    std::unique_ptr<runtime::SimNodeTime> time;
    std::unique_ptr<runtime::SimStorage> storage;
    std::unique_ptr<SimApplication> app;
    std::unique_ptr<runtime::Transport> transport;
    std::unique_ptr<consensus::Epochs> engine;
    bool up = false;
    bool kill_scheduled = false;
    std::set<Hash256> durable;  ///< votes found in the synced journal
};

/// A node's view of the network: keys instead of endpoints;
/// a Byzantine node's messages pass through its misbehaviour first.
class NodeTransport final : public runtime::Transport {
public:
    NodeTransport(Simulation& sim, Node& node) : m_sim(sim), m_node(node) {}
    PeerId self() const override { return m_node.index; }
    std::uint32_t peers() const override;
    void send(PeerId to, util::ByteView message) override;
    void set_handler(Handler handler) override;

private:
    Simulation& m_sim;
    Node& m_node;
};

class Simulation {
public:
    explicit Simulation(const SimOptions& o);
    SimResult run();

    // Used by NodeTransport.
    std::uint32_t keys() const { return static_cast<std::uint32_t>(m_signers.size()); }
    void route(Node& from, PeerId to, util::ByteView bytes);
    void misbehave(Node& from, PeerId to, const Message& msg, util::ByteView bytes);
    runtime::SimNetwork& net() { return *m_net; }
    Node& owner(std::uint32_t endpoint) { return *m_nodes[endpoint]; }

private:
    void fail(const std::string& what);
    void start_node(Node& n);
    void kill_node(Node& n, bool torn);
    void schedule_phase(TimeMs at);
    void check_send(PeerId from_endpoint, util::ByteView bytes);
    void on_finalized(std::uint32_t node, const SimApplication::Final& b);
    bool honest_key(std::uint32_t index) const { return !m_byzantine_keys.contains(index); }
    /// The keys validating `epoch`, by validator index.
    std::vector<std::uint32_t> members(std::uint64_t epoch) const;
    /// The key's validator index in `epoch`, if it validates it.
    std::optional<consensus::ValidatorIndex> index_in(std::uint32_t key, std::uint64_t epoch) const;
    consensus::EpochSet epoch_set(std::uint32_t key, std::uint64_t epoch) const;
    /// The ledger chooses the sets by stake (ledger with epochs) rather than the rotation rule.
    bool stake_sets() const { return m_ledger && m_opts.epoch_blocks > 0; }
    /// A set a node's ledger stored: every node must store the same one for an epoch.
    void on_ledger_set(std::uint32_t node, const ledger::ValidatorSet& set);
    std::uint64_t honest_min_height() const;
    std::uint64_t honest_max_height() const;
    void send_signed(Node& from, PeerId to, std::uint64_t epoch, const Subject& s);
    std::string describe_nodes() const;
    void trace_message(PeerId from_endpoint, util::ByteView bytes) const;
    /// One event; a livelock (endless events without time passing) is a failure.
    bool step();

    SimOptions m_opts;
    runtime::SimScheduler m_sched;
    runtime::SimRng& m_rng;
    std::unique_ptr<runtime::SimNetwork> m_net;
    std::vector<Hash256> m_keys;
    std::vector<crypto::Address> m_addresses;
    std::vector<std::unique_ptr<consensus::Signer>> m_signers;  ///< by key
    std::vector<std::unique_ptr<Node>> m_nodes;                 ///< by endpoint
    std::vector<std::vector<std::uint32_t>> m_routes;           ///< key -> endpoints
    std::set<std::uint32_t> m_byzantine_keys;
    Hash256 m_genesis{};
    std::unique_ptr<LedgerWorld> m_ledger;
    runtime::LinkModel m_base;
    std::uint32_t m_crash_point_ppm = 0;
    bool m_failed = false;
    SimResult m_result;
    Fnv m_trace;
    std::uint64_t m_next_tx = 1;
    // Invariant state, across every process and restart.
    std::map<std::uint64_t, Hash256> m_final_by_height;
    struct SignedByKey {
        std::optional<Proposal> notarize, finalize;
        bool nullify = false;
    };
    std::map<std::tuple<std::uint32_t, std::uint64_t, View>, SignedByKey> m_signed;  ///< by key, epoch, view
    struct CertsSeen {
        std::optional<Hash256> notarized, finalized;
        bool nullified = false;
    };
    std::map<std::pair<std::uint64_t, View>, CertsSeen> m_certs;  ///< by epoch, view
    std::set<Hash256> m_final_txs;
    std::map<std::uint64_t, std::vector<std::uint32_t>> m_stake_sets;  ///< by epoch: keys, in set order
    /// By node: epoch -> (relays paid, validators paid for votes).
    std::map<std::uint32_t, std::map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>>> m_paid;
    std::set<std::uint32_t> m_slashed;  ///< keys some node's ledger slashed
    View m_max_view = 0;
    TimeMs m_step_time = 0;
    std::uint64_t m_steps_at_time = 0;
};

std::uint32_t NodeTransport::peers() const {
    return m_sim.keys();
}

void NodeTransport::send(PeerId to, util::ByteView message) {
    if (m_node.role == Role::honest || m_node.role == Role::twin || m_node.role == Role::invalid_blocks) {
        m_sim.route(m_node, to, message);
        return;
    }
    auto msg = Message::decode(message);
    CONET_ASSERT(msg.has_value());
    m_sim.misbehave(m_node, to, *msg, message);
}

void NodeTransport::set_handler(Handler handler) {
    if (!handler) {
        m_sim.net().set_down(m_node.endpoint);
        return;
    }
    m_sim.net()
        .endpoint(m_node.endpoint)
        .set_handler([this, handler = std::move(handler)](PeerId from_endpoint, util::ByteView bytes) {
            handler(m_sim.owner(from_endpoint).index, bytes);
        });
}

Simulation::Simulation(const SimOptions& o) : m_opts(o), m_sched(o.seed), m_rng(m_sched.rng()) {
    CONET_ASSERT(o.validators >= 1 && o.validators <= 64);
    const std::uint32_t n = o.validators;
    // With epochs one key more than a set: each epoch leaves a different one out.
    const std::uint32_t pool = n + (o.epoch_blocks > 0 ? 1 : 0);
    const std::uint32_t f = static_cast<std::uint32_t>(consensus::max_faulty(n));
    const std::uint32_t byz = o.byzantine < 0 ? static_cast<std::uint32_t>(m_rng.below(f + 1))
                                              : std::min<std::uint32_t>(static_cast<std::uint32_t>(o.byzantine), f);
    // Keys.
    crypto::SeededRng key_rng(o.seed ^ 0x6b657973ULL);
    for (std::uint32_t i = 0; i < pool; ++i) {
        if (o.real_crypto) {
            auto key = crypto::PrivateKey::generate(key_rng);
            m_addresses.push_back(key.address());
            m_signers.push_back(std::make_unique<consensus::WalletSigner>(std::move(key)));
        } else {
            Hash256 k;
            key_rng.fill(k);
            m_keys.push_back(k);
            m_signers.push_back(std::make_unique<FastSigner>(k));
        }
    }
    m_genesis = crypto::keccak256(util::as_bytes("CONET sim genesis " + std::to_string(o.seed)));
    if (o.ledger) m_ledger = std::make_unique<LedgerWorld>(LedgerWorld::make(o.seed, pool, n, 16, o.epoch_blocks));

    // Roles: the first `byz` of a random permutation are Byzantine (at most
    // f of them, so at most f in any epoch's set).
    std::vector<std::uint32_t> order(pool);
    for (std::uint32_t i = 0; i < pool; ++i) order[i] = i;
    for (std::uint32_t i = pool; i > 1; --i) std::swap(order[i - 1], order[m_rng.below(i)]);
    std::vector<Role> roles(pool, Role::honest);
    std::vector<std::uint32_t> twins;
    for (std::uint32_t k = 0; k < byz; ++k) {
        const Role r = static_cast<Role>(1 + m_rng.below(static_cast<std::uint64_t>(Role::twin)));
        roles[order[k]] = r;
        m_byzantine_keys.insert(order[k]);
        if (r == Role::twin) twins.push_back(order[k]);
    }
    m_routes.resize(pool);
    for (std::uint32_t i = 0; i < pool + twins.size(); ++i) {
        auto node = std::make_unique<Node>();
        node->endpoint = i;
        node->index = i < pool ? i : twins[i - pool];
        node->role = roles[node->index];
        node->time = std::make_unique<runtime::SimNodeTime>(m_sched, 1'700'000'000'000ULL);
        node->storage = std::make_unique<runtime::SimStorage>("node" + std::to_string(i));
        m_routes[node->index].push_back(i);
        m_nodes.push_back(std::move(node));
    }
    for (auto& node : m_nodes) node->transport = std::make_unique<NodeTransport>(*this, *node);

    m_base = runtime::LinkModel{2 + m_rng.below(40), m_rng.below(30), 0, 0};
    static constexpr std::uint32_t crash_ppm[] = {0, 0, 300, 2000};
    m_crash_point_ppm = crash_ppm[m_rng.below(4)];
    m_net = std::make_unique<runtime::SimNetwork>(m_sched, static_cast<std::uint32_t>(m_nodes.size()), m_base);
    m_net->on_send = [this](PeerId from, PeerId, util::ByteView bytes) { check_send(from, bytes); };

    m_result.scenario =
        std::string(o.ledger ? "ledger " : "") + "n=" + std::to_string(n) + " byzantine=" + std::to_string(byz);
    if (o.epoch_blocks > 0)
        m_result.scenario += " epochs of " + std::to_string(o.epoch_blocks) + " blocks over " + std::to_string(pool) +
                             " keys" + (stake_sets() ? " (sets by stake)" : "");
    for (std::uint32_t i = 0; i < pool; ++i)
        if (roles[i] != Role::honest) m_result.scenario += " v" + std::to_string(i) + ":" + role_name(roles[i]);
    m_result.scenario += " latency=" + std::to_string(m_base.latency_ms) +
                         "ms crash-points=" + std::to_string(m_crash_point_ppm) + "ppm";
}

void Simulation::fail(const std::string& what) {
    if (m_failed) return;
    m_failed = true;
    m_result.passed = false;
    m_result.failure = "t=" + std::to_string(m_sched.now()) + "ms: " + what;
}

void Simulation::route(Node& from, PeerId to, util::ByteView bytes) {
    if (to >= m_routes.size()) return;
    for (std::uint32_t ep : m_routes[to])
        if (ep != from.endpoint) m_net->endpoint(from.endpoint).send(ep, bytes);
}

std::vector<std::uint32_t> Simulation::members(std::uint64_t epoch) const {
    if (stake_sets()) {
        // Known once some node's ledger stored it; nobody runs an epoch before that.
        auto it = m_stake_sets.find(epoch);
        return it == m_stake_sets.end() ? std::vector<std::uint32_t>{} : it->second;
    }
    std::vector<std::uint32_t> out;
    const std::uint32_t pool = keys();
    const bool rotate = m_opts.epoch_blocks > 0;
    for (std::uint32_t k = 0; k < pool; ++k)
        if (!rotate || k != epoch % pool) out.push_back(k);
    return out;
}

std::optional<consensus::ValidatorIndex> Simulation::index_in(std::uint32_t key, std::uint64_t epoch) const {
    const auto m = members(epoch);
    for (std::uint32_t i = 0; i < m.size(); ++i)
        if (m[i] == key) return i;
    return std::nullopt;
}

void Simulation::on_ledger_set(std::uint32_t node, const ledger::ValidatorSet& set) {
    std::vector<std::uint32_t> keys;
    for (const auto& a : set.members) {
        const auto it = std::find(m_ledger->proposers.begin(), m_ledger->proposers.end(), a);
        if (it == m_ledger->proposers.end())
            return fail("validator " + std::to_string(node) + "'s ledger seats an unknown address in epoch " +
                        std::to_string(set.epoch));
        keys.push_back(static_cast<std::uint32_t>(it - m_ledger->proposers.begin()));
    }
    // Every seat is filled, but for keys slashed for double-signing (the
    // ledger checks it never seats them): bonds here only grow, so nobody
    // may take their seats.
    if (keys.size() > m_opts.validators || keys.size() + m_slashed.size() < m_opts.validators || keys.empty())
        return fail("validator " + std::to_string(node) + "'s ledger seats " + std::to_string(keys.size()) +
                    " validators in epoch " + std::to_string(set.epoch));
    auto [it, fresh] = m_stake_sets.try_emplace(set.epoch, keys);
    if (!fresh && it->second != keys)
        return fail("agreement: validator " + std::to_string(node) + "'s ledger stored another set for epoch " +
                    std::to_string(set.epoch));
    if (fresh && set.epoch > 0) {
        auto before = m_stake_sets.find(set.epoch - 1);
        if (before != m_stake_sets.end() && before->second != keys) ++m_result.set_changes;
    }
}

consensus::EpochSet Simulation::epoch_set(std::uint32_t key, std::uint64_t epoch) const {
    consensus::EpochSet set;
    set.members = members(epoch);
    CONET_ASSERT_MSG(!set.members.empty(), "a node entered an epoch whose set no ledger stored");
    if (m_opts.real_crypto) {
        std::vector<crypto::Address> a;
        for (auto k : set.members) a.push_back(m_addresses[k]);
        set.verifier = std::make_unique<consensus::WalletVerifier>(std::move(a));
    } else {
        std::vector<Hash256> k;
        for (auto m : set.members) k.push_back(m_keys[m]);
        set.verifier = std::make_unique<FastVerifier>(std::move(k));
    }
    set.self = index_in(key, epoch);
    if (set.self) set.signer = m_signers[key].get();
    return set;
}

void Simulation::send_signed(Node& from, PeerId to, std::uint64_t epoch, const Subject& s) {
    const auto index = index_in(from.index, epoch);
    if (!index) return;
    Message m = Message::of(Vote{s, *index, m_signers[from.index]->sign(s.signing_digest(chain_id, epoch))});
    m.epoch = epoch;
    route(from, to, m.encode());
}

void Simulation::misbehave(Node& from, PeerId to, const Message& msg, util::ByteView bytes) {
    const Vote* vote = msg.type == MessageType::vote       ? &*msg.vote
                       : msg.type == MessageType::proposal ? &msg.proposal->vote
                                                           : nullptr;
    const std::uint64_t epoch = msg.epoch;
    const auto send = [&](Message m) {
        m.epoch = epoch;
        route(from, to, m.encode());
    };
    switch (from.role) {
        case Role::equivocate:
            // Half the peers get a second block for the same view.
            if (msg.type == MessageType::proposal && to % 2 == 1) {
                Proposal p = vote->subject.proposal;
                if (auto d = from.app->build_conflicting(p)) {
                    p.digest = *d;
                    const Subject s = Subject::notarize(p);
                    const Vote v{s, vote->signer, m_signers[from.index]->sign(s.signing_digest(chain_id, epoch))};
                    send(Message::of(consensus::ProposalMessage{v, *from.app->block(*d)}));
                    return;
                }
            }
            break;
        case Role::double_vote:
            if (vote && vote->subject.kind != VoteKind::nullify) {
                Subject s = vote->subject;
                m_rng.fill(s.proposal.digest);
                send_signed(from, to, epoch, s);
            }
            break;
        case Role::nullify_and_finalize:
            if (vote && vote->subject.kind == VoteKind::finalize)
                send_signed(from, to, epoch, Subject::nullify(vote->subject.view()));
            if (vote && vote->subject.kind == VoteKind::nullify) {
                Proposal p{vote->subject.view(), vote->subject.view() - 1, {}, {}};
                m_rng.fill(p.digest);
                send_signed(from, to, epoch, Subject::finalize(p));
            }
            break;
        case Role::always_nullify:
            if (vote && vote->subject.kind != VoteKind::nullify) {
                send_signed(from, to, epoch, Subject::nullify(vote->subject.view()));
                return;
            }
            break;
        case Role::forger:
            if (vote) {
                // A vote in an honest validator's name, and our own vote moved to another view.
                Vote forged = *vote;
                forged.signer = static_cast<std::uint32_t>(m_rng.below(m_opts.validators));
                m_rng.fill(forged.signature);
                send(Message::of(forged));
                Vote moved = *vote;
                moved.subject.proposal.view += 1;
                if (moved.subject.kind != VoteKind::nullify &&
                    moved.subject.proposal.parent_view >= moved.subject.view())
                    moved.subject.proposal.parent_view = 0;
                send(Message::of(moved));
            }
            break;
        case Role::far_future:
            if (vote) {
                const View far = vote->subject.view() + 1000 + m_rng.below(1'000'000);
                send_signed(from, to, epoch, Subject::nullify(far));
                Certificate c{Subject::nullify(far), {}};
                for (std::uint32_t i = 0; i < m_opts.validators; ++i) {
                    SignatureBytes s{};
                    m_rng.fill(s);
                    c.votes.emplace_back(i, s);
                }
                send(Message::of(c));
            }
            break;
        case Role::honest:
        case Role::invalid_blocks:
        case Role::twin: break;
    }
    route(from, to, bytes);
}

void Simulation::check_send(PeerId from_endpoint, util::ByteView bytes) {
    Node& node = *m_nodes[from_endpoint];
    m_trace.add(m_sched.now());
    m_trace.add(from_endpoint);
    m_trace.add(bytes);
    ++m_result.messages;
    if (m_opts.trace) trace_message(from_endpoint, bytes);
    if (!honest_key(node.index)) return;
    auto msg = Message::decode(bytes);
    if (!msg) return fail("node " + std::to_string(node.index) + " sent a message that does not decode");
    if (msg->type == MessageType::proposal &&
        msg->proposal->vote.subject.proposal.digest == msg->proposal->vote.subject.proposal.parent)
        ++m_result.reproposals;
    const Vote* vote = msg->type == MessageType::vote       ? &*msg->vote
                       : msg->type == MessageType::proposal ? &msg->proposal->vote
                                                            : nullptr;
    const auto own_index = index_in(node.index, msg->epoch);
    if (vote && own_index && vote->signer == *own_index) {
        // Persist before send: the vote must already be in the synced journal of its epoch.
        const auto durable_key = [epoch = msg->epoch](util::ByteView vote_bytes) {
            codec::Writer w;
            w.u64(epoch);
            w.fixed(vote_bytes);
            return crypto::keccak256(w.data());
        };
        const Hash256 key = durable_key(codec::encode(*vote));
        if (!node.durable.contains(key)) {
            const std::string journal = consensus::journal_name(msg->epoch);
            auto content = node.storage->contents(journal);
            auto synced = node.storage->synced_bytes(journal);
            if (content && synced) {
                auto scan = runtime::scan_journal(util::ByteView(content->data(), *synced));
                for (const auto& r : scan.records)
                    if (!r.empty() && r[0] == consensus::journal_vote_tag)
                        node.durable.insert(durable_key(util::ByteView(r).subspan(1)));
            }
            if (!node.durable.contains(key))
                return fail("persist-before-send: validator " + std::to_string(node.index) + " sent its " +
                            std::string(consensus::to_string(vote->subject.kind)) + " vote for view " +
                            std::to_string(vote->subject.view()) + " before the vote was durable");
        }
        // No honest key signs conflicting votes (across restarts too).
        SignedByKey& s = m_signed[{node.index, msg->epoch, vote->subject.view()}];
        const std::string who = "validator " + std::to_string(node.index) + " epoch " + std::to_string(msg->epoch) +
                                " view " + std::to_string(vote->subject.view());
        switch (vote->subject.kind) {
            case VoteKind::notarize:
                if (s.notarize && *s.notarize != vote->subject.proposal) return fail(who + ": two notarize votes");
                s.notarize = vote->subject.proposal;
                break;
            case VoteKind::finalize:
                if (s.finalize && *s.finalize != vote->subject.proposal) return fail(who + ": two finalize votes");
                s.finalize = vote->subject.proposal;
                break;
            case VoteKind::nullify: s.nullify = true; break;
        }
        if (s.nullify && s.finalize) return fail(who + ": both nullify and finalize");
        m_max_view = std::max(m_max_view, vote->subject.view());
    }
    if (msg->type == MessageType::certificate) {
        // Certificates an honest node sends were verified by it: no two may conflict.
        const Certificate& c = *msg->certificate;
        if (c.votes.size() < consensus::quorum(m_opts.validators))
            return fail("an honest node sent a certificate below quorum");
        CertsSeen& seen = m_certs[{msg->epoch, c.subject.view()}];
        const std::string v = "epoch " + std::to_string(msg->epoch) + " view " + std::to_string(c.subject.view());
        switch (c.subject.kind) {
            case VoteKind::notarize:
                if (seen.notarized && *seen.notarized != c.subject.proposal.digest)
                    return fail(v + ": two notarizations");
                seen.notarized = c.subject.proposal.digest;
                break;
            case VoteKind::finalize:
                if (seen.finalized && *seen.finalized != c.subject.proposal.digest)
                    return fail(v + ": two finalizations");
                seen.finalized = c.subject.proposal.digest;
                break;
            case VoteKind::nullify: seen.nullified = true; break;
        }
        if (seen.nullified && seen.finalized) return fail(v + ": nullified and finalized");
        if (seen.notarized && seen.finalized && *seen.notarized != *seen.finalized)
            return fail(v + ": finalized a block other than the notarized one");
    }
}

void Simulation::on_finalized(std::uint32_t node, const SimApplication::Final& b) {
    const std::uint64_t height = b.height;
    const Hash256& digest = b.digest;
    m_trace.add(node);
    m_trace.add(height);
    m_trace.add(digest);
    if (!honest_key(node)) return;
    // Validity of epochs: every `epoch_blocks` heights make one epoch, whatever the faults.
    if (m_opts.epoch_blocks > 0 && b.epoch != (height - 1) / m_opts.epoch_blocks)
        return fail("validity: validator " + std::to_string(node) + " finalized height " + std::to_string(height) +
                    " in epoch " + std::to_string(b.epoch));
    auto [it, fresh] = m_final_by_height.emplace(height, digest);
    if (!fresh && it->second != digest)
        return fail("agreement: validator " + std::to_string(node) + " finalized another block at height " +
                    std::to_string(height));
    if (fresh) {
        for (const auto& t : b.txs)
            if (!m_final_txs.insert(t).second)
                return fail("validity: transaction " + util::to_hex(t) + " finalized twice");
    }
}

void Simulation::start_node(Node& n) {
    if (n.up || m_failed) return;
    auto on_final = [this](std::uint32_t node, const SimApplication::Final& b) { on_finalized(node, b); };
    auto on_fork = [this](std::uint32_t node, const std::string& what) {
        if (honest_key(node)) fail("validator " + std::to_string(node) + ": " + what);
    };
    LedgerSimApp* ledger_app = nullptr;
    if (m_opts.ledger) {
        auto app = std::make_unique<LedgerSimApp>(n.index, *m_ledger, on_final, on_fork);
        if (stake_sets())
            // Byzantine validators misbehave on the wire only: their ledgers must agree too.
            app->on_validator_set = [this](std::uint32_t node, const ledger::ValidatorSet& s) {
                on_ledger_set(node, s);
            };
        app->on_slashed = [this](std::uint32_t node, const crypto::Address& a) {
            const auto& keys = m_ledger->proposers;
            const auto key = static_cast<std::uint32_t>(std::find(keys.begin(), keys.end(), a) - keys.begin());
            // Safety of the penalty: only a key that signed two conflicting votes is ever slashed.
            if (key >= keys.size() || honest_key(key))
                fail("validator " + std::to_string(node) + "'s ledger slashed honest key " + std::to_string(key));
            m_slashed.insert(key);
        };
        ledger_app = app.get();
        if (stake_sets())
            app->on_epoch_paid = [this](std::uint32_t node, const ledger::EpochSummary& paid,
                                        std::uint32_t validators_paid, std::uint64_t jailings, std::uint64_t unjailings,
                                        std::uint64_t grants_paid) {
                m_paid[node][paid.epoch] = {paid.nodes_paid, validators_paid};
                m_result.jailings = std::max(m_result.jailings, jailings);
                m_result.unjailings = std::max(m_result.unjailings, unjailings);
                m_result.grants_paid = std::max(m_result.grants_paid, grants_paid);
            };
        n.app = std::move(app);
    } else
        n.app = std::make_unique<SimApp>(n.index, m_genesis, on_final, on_fork, m_opts.epoch_blocks);
    if (auto r = n.app->open(*n.storage); !r)
        return fail("validator " + std::to_string(n.index) + " restart: " + r.error());
    n.app->build_invalid = n.role == Role::invalid_blocks;
    consensus::CoreConfig cfg;
    cfg.chain_id = chain_id;
    cfg.leader_timeout_ms = leader_timeout_ms;
    cfg.notarize_timeout_ms = notarize_timeout_ms;
    cfg.retry_ms = retry_ms;
    cfg.min_block_interval_ms = min_block_interval_ms;
    n.engine = std::make_unique<consensus::Epochs>(
        runtime::Context{*n.time, *n.time, *n.transport, m_rng}, *n.storage, *n.app,
        [this, key = n.index](std::uint64_t epoch) { return epoch_set(key, epoch); }, cfg);
    // Compact often, so crashes and restarts meet compacted journals.
    n.engine->compact_min_bytes = sim_journal_compact_bytes;
    n.engine->on_fatal = [this, &n](const std::string& why) {
        fail("validator " + std::to_string(n.index) + " fatal: " + why);
    };
    n.engine->on_evidence = [this, &n, ledger_app](std::uint64_t epoch, const consensus::Vote& a,
                                                   const consensus::Vote& b) {
        const auto m = members(epoch);
        CONET_ASSERT(a.signer == b.signer && a.signer < m.size());
        // Evidence names a key that signed twice: never an honest one.
        if (honest_key(m[a.signer]))
            fail("validator " + std::to_string(n.index) + " found double-sign evidence against honest key " +
                 std::to_string(m[a.signer]));
        ++m_result.evidence_found;
        if (ledger_app && honest_key(n.index)) ledger_app->report_double_sign(epoch, m[a.signer], a.subject, b.subject);
    };
    n.engine->crash_hook = [this, &n](consensus::CrashPoint p) {
        // Epoch switches are rare next to votes: stop there one time in ten when crashes are on.
        const std::uint32_t ppm =
            p == consensus::CrashPoint::epoch_switch && m_crash_point_ppm > 0 ? 100'000 : m_crash_point_ppm;
        if (n.kill_scheduled || !m_rng.chance_ppm(ppm)) return false;
        n.kill_scheduled = true;
        m_sched.at(m_sched.now(), [this, &n] { kill_node(n, m_rng.below(2) == 0); });
        return true;
    };
    n.up = true;
    n.kill_scheduled = false;
    if (m_opts.trace)
        std::fprintf(stderr, "%8llu e%u: START (final height %llu)\n", static_cast<unsigned long long>(m_sched.now()),
                     n.endpoint, static_cast<unsigned long long>(n.app->height()));
    if (auto r = n.engine->start(); !r) fail("validator " + std::to_string(n.index) + " cannot start: " + r.error());
}

void Simulation::kill_node(Node& n, bool torn) {
    if (!n.up) return;
    if (m_opts.trace)
        std::fprintf(stderr, "%8llu e%u: CRASH (%s)\n", static_cast<unsigned long long>(m_sched.now()), n.endpoint,
                     torn ? "torn" : "unsynced lost");
    ++m_result.crashes;
    n.up = false;
    n.kill_scheduled = false;
    if (n.engine) {
        m_result.journal_compactions += n.engine->journal_compactions();
        m_result.epoch_ends_sent += n.engine->epoch_ends_sent();
    }
    n.engine.reset();
    n.time->reset();
    n.app.reset();
    m_net->set_down(n.endpoint);
    n.storage->crash(m_rng, torn ? runtime::CrashMode::torn : runtime::CrashMode::lose_unsynced);
    n.durable.clear();
    const TimeMs down_for = 200 + m_rng.below(4000);
    m_sched.at(m_sched.now() + down_for, [this, &n] { start_node(n); });
}

void Simulation::schedule_phase(TimeMs at) {
    const TimeMs end = static_cast<TimeMs>(m_opts.fault_seconds) * 1000;
    if (at >= end) return;
    m_sched.at(at, [this, at, end] {
        const TimeMs len = std::min<TimeMs>(2000 + m_rng.below(6000), end - at);
        const std::uint32_t n = static_cast<std::uint32_t>(m_nodes.size());
        runtime::LinkModel m = m_base;
        m_net->heal();
        switch (m_rng.below(8)) {
            case 0: break;  // calm
            case 1: m.loss_ppm = static_cast<std::uint32_t>(m_rng.below(500'001)); break;
            case 2:  // slow: latency and jitter up to 10x the base timeout
                m.latency_ms = m_rng.below(10 * notarize_timeout_ms);
                m.jitter_ms = m_rng.below(10 * notarize_timeout_ms);
                break;
            case 3:
                m.dup_ppm = 200'000;
                m.jitter_ms = 4 * notarize_timeout_ms;
                break;
            case 4: {  // two halves
                std::vector<std::vector<PeerId>> g(2);
                for (PeerId i = 0; i < n; ++i) g[m_rng.below(2)].push_back(i);
                m_net->partition(g);
                break;
            }
            case 5: {  // one node alone
                const PeerId alone = static_cast<PeerId>(m_rng.below(n));
                std::vector<std::vector<PeerId>> g(2);
                for (PeerId i = 0; i < n; ++i) g[i == alone ? 0 : 1].push_back(i);
                m_net->partition(g);
                break;
            }
            case 6: {                                      // the current leader alone
                std::pair<std::uint64_t, View> now{0, 0};  // the most advanced (epoch, view)
                for (auto& node : m_nodes)
                    if (node->up) now = std::max(now, {node->engine->epoch(), node->engine->engine().core().view()});
                const std::uint32_t leader = members(now.first)[now.second % m_opts.validators];
                std::vector<std::vector<PeerId>> g(2);
                for (PeerId i = 0; i < n; ++i) g[m_nodes[i]->index == leader ? 0 : 1].push_back(i);
                m_net->partition(g);
                break;
            }
            case 7:  // rotating: each node alone in turn
                for (TimeMs t = 0; t < len; t += 500) {
                    m_sched.at(at + t, [this, t, n] {
                        const PeerId alone = static_cast<PeerId>((t / 500) % n);
                        std::vector<std::vector<PeerId>> g(2);
                        for (PeerId i = 0; i < n; ++i) g[i == alone ? 0 : 1].push_back(i);
                        m_net->partition(g);
                    });
                }
                break;
        }
        m_net->set_model(m);
        if (m_rng.below(100) < 40) {
            Node& victim = *m_nodes[m_rng.below(n)];
            const TimeMs when = at + m_rng.below(len);
            m_sched.at(when, [this, &victim] { kill_node(victim, m_rng.below(2) == 0); });
        }
        schedule_phase(at + len);
    });
}

std::uint64_t Simulation::honest_min_height() const {
    std::uint64_t h = UINT64_MAX;
    for (const auto& n : m_nodes)
        if (honest_key(n->index) && n->app) h = std::min(h, n->app->height());
    return h == UINT64_MAX ? 0 : h;
}

std::uint64_t Simulation::honest_max_height() const {
    std::uint64_t h = 0;
    for (const auto& n : m_nodes)
        if (honest_key(n->index) && n->app) h = std::max(h, n->app->height());
    return h;
}

std::string Simulation::describe_nodes() const {
    std::string out;
    for (const auto& n : m_nodes) {
        out += "v" + std::to_string(n->index) + (n->endpoint != n->index ? "(twin)" : "") + "[";
        if (!n->up) {
            out += "down] ";
            continue;
        }
        const auto& c = n->engine->engine().core();
        const auto& st = c.stats();
        out += "epoch " + std::to_string(n->engine->epoch()) + ", view " + std::to_string(c.view()) + ", final view " +
               std::to_string(c.finalized_view()) + ", height " + std::to_string(n->app->height()) +
               ", votes ok/bad/dropped " + std::to_string(st.votes_accepted) + "/" + std::to_string(st.votes_rejected) +
               "/" + std::to_string(st.votes_dropped) + ", fetched " + std::to_string(n->engine->blocks_fetched()) +
               "] ";
    }
    return out;
}

void Simulation::trace_message(PeerId from_endpoint, util::ByteView bytes) const {
    auto msg = Message::decode(bytes);
    std::string what = "undecodable";
    if (msg) {
        auto subject = [](const Subject& s) {
            std::string t = std::string(consensus::to_string(s.kind)) + "(" + std::to_string(s.view());
            if (s.kind != VoteKind::nullify)
                t += " parent " + std::to_string(s.proposal.parent_view) + " " +
                     util::to_hex(s.proposal.digest).substr(0, 8);
            return t + ")";
        };
        switch (msg->type) {
            case MessageType::proposal: what = "proposal " + subject(msg->proposal->vote.subject); break;
            case MessageType::vote:
                what = "vote " + subject(msg->vote->subject) + " by " + std::to_string(msg->vote->signer);
                break;
            case MessageType::certificate: what = "certificate " + subject(msg->certificate->subject); break;
            case MessageType::sync_request:
                what = "sync-request final " + std::to_string(msg->sync->finalized_view) + " view " +
                       std::to_string(msg->sync->view);
                break;
            case MessageType::block_request:
                what = "block-request " + util::to_hex(*msg->block_request).substr(0, 8);
                break;
            case MessageType::block_response:
                what = "block-response " + util::to_hex(msg->block_response->digest).substr(0, 8);
                break;
        }
    }
    if (msg && m_opts.epoch_blocks > 0) what = "[epoch " + std::to_string(msg->epoch) + "] " + what;
    std::fprintf(stderr, "%8llu e%u: %s\n", static_cast<unsigned long long>(m_sched.now()), from_endpoint,
                 what.c_str());
}

bool Simulation::step() {
    if (m_sched.now() != m_step_time) {
        m_step_time = m_sched.now();
        m_steps_at_time = 0;
    }
    if (++m_steps_at_time > 100'000) {
        fail("livelock: 100,000 events without simulated time passing");
        return false;
    }
    return m_sched.step();
}

SimResult Simulation::run() {
    for (auto& n : m_nodes) start_node(*n);
    // Clients submit a transaction every 50 ms to a random validator.
    std::function<void()> submit = [&] {
        Node& n = *m_nodes[m_rng.below(m_nodes.size())];
        if (n.up) n.app->submit(m_next_tx++);
        m_sched.at(m_sched.now() + 50, submit);
    };
    m_sched.at(0, submit);
    schedule_phase(0);
    const TimeMs heal_at = static_cast<TimeMs>(m_opts.fault_seconds) * 1000;
    while (!m_failed && m_sched.now() < heal_at && step()) {
    }
    if (!m_failed) {
        // Heal: a calm network, every process up; honest nodes must finalize new blocks.
        m_sched.run_until(heal_at);
        m_net->heal();
        m_net->set_model(m_base);
        m_crash_point_ppm = 0;
        if (m_opts.trace) std::fprintf(stderr, "%8llu HEAL\n", static_cast<unsigned long long>(m_sched.now()));
        for (auto& n : m_nodes) start_node(*n);
        const std::uint64_t target = honest_max_height() + 2;
        const TimeMs deadline = heal_at + static_cast<TimeMs>(m_opts.liveness_seconds) * 1000;
        while (!m_failed && honest_min_height() < target && m_sched.now() < deadline) {
            const TimeMs until = m_sched.now() + 100;
            while (!m_failed && m_sched.next_time() <= until && step()) {
            }
            m_sched.run_until(until);
        }
        if (!m_failed && honest_min_height() < target)
            fail("liveness: " + std::to_string(m_opts.liveness_seconds) +
                 " s after healing, an honest node is at height " + std::to_string(honest_min_height()) + ", below " +
                 std::to_string(target) + "; " + describe_nodes());
    }
    m_result.min_height = honest_min_height();
    m_result.max_height = honest_max_height();
    m_result.views = m_max_view;
    m_result.transactions = m_final_txs.size();
    m_result.trace_hash = m_trace.h;
    m_result.slashed = m_slashed.size();
    for (const auto& [node, epochs] : m_paid)
        if (epochs.size() > m_result.paid_epochs) {
            m_result.paid_epochs = epochs.size();
            m_result.relays_paid = 0;
            m_result.validators_paid = 0;
            for (const auto& [e, paid] : epochs) {
                m_result.relays_paid += paid.first;
                m_result.validators_paid += paid.second;
            }
        }
    for (auto& n : m_nodes)
        if (const auto* app = dynamic_cast<const LedgerSimApp*>(n->app.get()))
            m_result.users_cut_off = std::max(m_result.users_cut_off, app->cut_offs());
    // Destroy engines before the scheduler and network they point into.
    for (auto& n : m_nodes) {
        if (n->engine) {
            m_result.journal_compactions += n->engine->journal_compactions();
            m_result.epoch_ends_sent += n->engine->epoch_ends_sent();
            if (honest_key(n->index)) m_result.epochs = std::max(m_result.epochs, n->engine->epoch());
        }
        n->engine.reset();
    }
    return m_result;
}

}  // namespace

SimResult run_simulation(const SimOptions& options) {
    Simulation sim(options);
    return sim.run();
}

std::string replay_command(const SimOptions& o) {
    std::string cmd = "conet sim --seed " + std::to_string(o.seed) + " --validators " + std::to_string(o.validators);
    if (o.byzantine >= 0) cmd += " --byzantine " + std::to_string(o.byzantine);
    cmd += " --seconds " + std::to_string(o.fault_seconds);
    if (o.real_crypto) cmd += " --real-crypto";
    if (o.ledger) cmd += " --ledger";
    if (o.epoch_blocks > 0) cmd += " --epoch-blocks " + std::to_string(o.epoch_blocks);
    return cmd;
}

}  // namespace conet::sim
