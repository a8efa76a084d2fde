#include "conet/consensus/epochs.hpp"

#include "conet/util/assert.hpp"

namespace conet::consensus {

/// The transport as one epoch's engine sees it: sends go straight out,
/// deliveries come from Epochs::on_message after routing.
class Epochs::Port final : public runtime::Transport {
public:
    explicit Port(runtime::Transport& inner) : m_inner(inner) {}
    runtime::PeerId self() const override { return m_inner.self(); }
    std::uint32_t peers() const override { return m_inner.peers(); }
    void send(runtime::PeerId to, util::ByteView message) override { m_inner.send(to, message); }
    void set_handler(Handler handler) override { m_handler = std::move(handler); }
    void deliver(runtime::PeerId from, util::ByteView bytes) const {
        if (m_handler) m_handler(from, bytes);
    }

private:
    runtime::Transport& m_inner;
    Handler m_handler;
};

Epochs::Epochs(runtime::Context ctx, runtime::Storage& storage, Application& app, EpochSetFn sets, CoreConfig base)
    : m_ctx(ctx), m_storage(storage), m_app(app), m_sets(std::move(sets)), m_base(base) {}

Epochs::~Epochs() {
    m_ctx.transport.set_handler(nullptr);
    if (m_advance_timer) m_ctx.timers.cancel_timer(*m_advance_timer);
    m_engine.reset();
}

std::uint64_t Epochs::journal_compactions() const {
    return m_compactions_before + (m_engine ? m_engine->stats().journal_compactions : 0);
}

std::uint64_t Epochs::certificates_rejected() const {
    return m_rejected_before + (m_engine ? m_engine->core().stats().certificates_rejected : 0);
}

std::uint64_t Epochs::blocks_fetched() const {
    return m_fetched_before + (m_engine ? m_engine->stats().blocks_fetched : 0);
}

util::Result<void, std::string> Epochs::start() {
    CONET_ASSERT(!m_engine);
    m_ctx.transport.set_handler([this](runtime::PeerId from, util::ByteView bytes) { on_message(from, bytes); });
    return open(m_app.epoch());
}

util::Result<void, std::string> Epochs::open(std::uint64_t epoch) {
    if (m_engine) {
        m_compactions_before += m_engine->stats().journal_compactions;
        m_fetched_before += m_engine->stats().blocks_fetched;
        m_rejected_before += m_engine->core().stats().certificates_rejected;
        m_engine.reset();
    }
    // The previous epoch's journal can never matter again: its last block is
    // final and durable in the application (that is why epoch() moved on),
    // and no engine of that epoch runs again. A failure leaves a stale file
    // that is never opened, so it is not fatal.
    if (epoch > 0) (void)m_storage.remove(journal_name(epoch - 1));
    m_epoch = epoch;
    m_set = m_sets(epoch);
    CONET_ASSERT(m_set.verifier && m_set.verifier->validators() >= 1);
    CONET_ASSERT(m_set.self.has_value() == (m_set.signer != nullptr));
    CoreConfig cfg = m_base;
    cfg.epoch = epoch;
    cfg.validators = m_set.verifier->validators();
    cfg.self = m_set.self;
    m_port = std::make_unique<Port>(m_ctx.transport);
    m_engine = std::make_unique<Engine>(runtime::Context{m_ctx.clock, m_ctx.timers, *m_port, m_ctx.rng}, m_storage,
                                        m_app, *m_set.verifier, m_set.signer, cfg);
    m_engine->members = m_set.members;
    m_engine->crash_hook = crash_hook;
    if (on_fatal) m_engine->on_fatal = on_fatal;
    m_engine->on_evidence = [this, epoch](const Vote& a, const Vote& b) {
        if (on_evidence) on_evidence(epoch, a, b);
    };
    m_engine->compact_min_bytes = compact_min_bytes;
    m_engine->on_finalized = [this] { maybe_advance(); };
    if (auto r = m_engine->start(); !r) return r;
    // What arrived early for this epoch, in arrival order.
    std::vector<Held> held = std::move(m_next_epoch);
    m_next_epoch.clear();
    m_next_epoch_bytes = 0;
    for (const Held& h : held)
        if (h.epoch == epoch && !dead()) m_port->deliver(h.from, h.bytes);
    return {};
}

void Epochs::maybe_advance() {
    if (m_app.epoch() == m_epoch || m_advance_timer) return;
    CONET_ASSERT_MSG(m_app.epoch() > m_epoch, "the application's epoch went backwards");
    // Not from inside the engine's own call stack: on the next turn.
    m_advance_timer = m_ctx.timers.set_timer(m_ctx.clock.now_ms(), [this] {
        m_advance_timer.reset();
        if (dead() || (crash_hook && crash_hook(CrashPoint::epoch_switch))) return;
        if (auto r = open(m_app.epoch()); !r) {
            if (on_fatal) return on_fatal(r.error());
            CONET_ASSERT_MSG(false, r.error().c_str());
        }
    });
}

bool Epochs::allowed(std::vector<TimeMs>& next, runtime::PeerId peer) {
    if (peer >= m_ctx.transport.peers()) return false;
    if (next.size() < m_ctx.transport.peers()) next.resize(m_ctx.transport.peers(), 0);
    const TimeMs now = m_ctx.clock.now_ms();
    if (now < next[peer]) return false;
    next[peer] = now + m_base.retry_ms;
    return true;
}

void Epochs::on_message(runtime::PeerId from, util::ByteView bytes) {
    if (!m_engine || dead()) return;
    // Every message starts with its type and epoch (types.cpp): route on them
    // without decoding the rest; the engine decodes and checks the whole.
    codec::Reader r(bytes);
    auto type = r.u8();
    auto epoch = r.u64();
    if (!type || !epoch) return;
    const bool block = *type == static_cast<std::uint8_t>(MessageType::block_request) ||
                       *type == static_cast<std::uint8_t>(MessageType::block_response);
    if (*epoch == m_epoch || block) {
        m_port->deliver(from, bytes);
        return;
    }
    if (*epoch < m_epoch) {
        // The sender is still in an ended epoch: the certificate that ended it
        // moves it on. Not in answer to a certificate: nodes past that epoch
        // send those too (answers to each other), and a node left behind
        // also sends votes and sync requests.
        if (*type == static_cast<std::uint8_t>(MessageType::certificate)) return;
        if (!allowed(m_next_answer, from)) return;
        if (auto cert = m_app.epoch_end(*epoch)) {
            Message m = Message::of(std::move(*cert));
            m.epoch = *epoch;
            m_ctx.transport.send(from, m.encode());
            ++m_epoch_ends_sent;
        }
        return;
    }
    // The next epoch's consensus traffic is held for when we get there.
    if (*epoch == m_epoch + 1 && (*type == static_cast<std::uint8_t>(MessageType::proposal) ||
                                  *type == static_cast<std::uint8_t>(MessageType::vote) ||
                                  *type == static_cast<std::uint8_t>(MessageType::certificate))) {
        if (m_next_epoch.size() < m_base.max_next_epoch_messages &&
            m_next_epoch_bytes + bytes.size() <= m_base.max_next_epoch_bytes) {
            m_next_epoch.push_back(Held{from, *epoch, util::Bytes(bytes.begin(), bytes.end())});
            m_next_epoch_bytes += bytes.size();
        } else {
            ++m_next_epoch_refused;
        }
    }
    // The sender is in a later epoch: ask it how ours ended. (An unverified
    // claim: it costs one small request per retry period, and only a
    // certificate of our own epoch's set moves this node.)
    if (!allowed(m_next_request, from)) return;
    const Core& core = m_engine->core();
    Message m = Message::of(SyncRequest{core.finalized_view(), core.view()});
    m.epoch = m_epoch;
    m_ctx.transport.send(from, m.encode());
}

}  // namespace conet::consensus
