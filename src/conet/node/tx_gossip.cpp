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

std::size_t GossipIntake::Bucket::take(std::size_t want, double rate, double burst, runtime::TimeMs now_ms) {
    if (!seen) {
        seen = true;
        tokens = burst;
    } else if (now_ms > last_ms) {
        tokens = std::min(burst, tokens + static_cast<double>(now_ms - last_ms) * rate / 1000.0);
    }
    last_ms = std::max(last_ms, now_ms);
    const auto n = std::min(want, static_cast<std::size_t>(tokens));
    tokens -= static_cast<double>(n);
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
    const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
    std::size_t allowed = peer.bucket.take(*n, d(m_limits.gossip_txs_per_second_per_validator),
                                           d(m_limits.gossip_txs_burst_per_validator), now_ms);
    allowed = m_all.take(allowed, d(m_limits.gossip_txs_per_second_total), d(m_limits.gossip_txs_burst_total), now_ms);
    m_stats.over_budget += *n - allowed;
    if (allowed == 0) return;
    // Decoding is cheap next to a recovery: all of it first, so a message
    // that is not whole (a cut transaction, trailing bytes) admits nothing.
    std::vector<ledger::Transaction> txs;
    txs.reserve(*n);
    for (std::size_t i = 0; i < *n; ++i) {
        auto tx = ledger::Transaction::decode(r);
        if (!tx) {
            ++m_stats.malformed;
            return;
        }
        txs.push_back(std::move(*tx));
    }
    if (!r.finish()) {
        ++m_stats.malformed;
        return;
    }
    for (std::size_t i = 0; i < allowed; ++i) {
        auto id = mempool.admit(txs[i], state);
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
