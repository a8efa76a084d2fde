#include "conet/node/tx_gossip.hpp"

#include <algorithm>

#include "conet/codec/codec.hpp"

namespace conet::node {

util::Bytes encode_gossip(std::span<const ledger::Transaction> txs) {
    CONET_ASSERT(!txs.empty() && txs.size() <= max_gossip_txs);
    codec::Writer w;
    w.u8(tx_gossip_tag);
    w.count(txs.size());
    for (const auto& tx : txs) tx.encode(w);
    return std::move(w).take();
}

GossipIntake::GossipIntake(const util::Limits& limits, std::uint32_t validators)
    : m_limits(limits), m_peers(validators) {}

bool GossipIntake::muted(runtime::PeerId peer, runtime::TimeMs now_ms) const {
    return peer < m_peers.size() && now_ms < m_peers[peer].muted_until_ms;
}

std::size_t GossipIntake::take(Peer& p, std::size_t want, runtime::TimeMs now_ms) const {
    if (!p.seen) {
        p.seen = true;
        p.tokens = burst();
    } else if (now_ms > p.last_ms) {
        p.tokens = std::min(burst(), p.tokens + static_cast<double>(now_ms - p.last_ms) * rate() / 1000.0);
    }
    p.last_ms = std::max(p.last_ms, now_ms);
    const auto n = std::min(want, static_cast<std::size_t>(p.tokens));
    p.tokens -= static_cast<double>(n);
    return n;
}

void GossipIntake::receive(runtime::PeerId from, util::ByteView message, ledger::Mempool& mempool,
                           const ledger::State& state, runtime::TimeMs now_ms) {
    if (from >= m_peers.size() || message.empty() || message[0] != tx_gossip_tag) {
        ++m_stats.malformed;
        return;
    }
    Peer& peer = m_peers[from];
    codec::Reader r(message.subspan(1));
    auto n = r.count(max_gossip_txs);
    if (!n) {
        ++m_stats.malformed;
        return;
    }
    if (now_ms < peer.muted_until_ms) {
        m_stats.muted += *n;
        return;
    }
    // Charged before decoding: what a message claims is what it costs.
    const std::size_t allowed = take(peer, *n, now_ms);
    m_stats.over_budget += *n - allowed;
    for (std::size_t i = 0; i < allowed; ++i) {
        auto tx = ledger::Transaction::decode(r);
        if (!tx) {
            ++m_stats.malformed;
            return;
        }
        auto id = mempool.admit(*tx, state);
        if (id) {
            ++m_stats.admitted;
            continue;
        }
        ++m_stats.rejected;
        if (id.error() == ledger::AdmitError::bad_signature) {
            // An honest validator checked this signature before passing it on.
            ++m_stats.bad_signatures;
            peer.muted_until_ms = now_ms + m_limits.bad_gossip_penalty_ms;
            m_stats.muted += allowed - i - 1;
            return;
        }
    }
}

}  // namespace conet::node
