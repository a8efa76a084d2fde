#include "conet/node/ledger_app.hpp"

#include <spdlog/spdlog.h>

#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

using consensus::Verdict;
using ledger::Candidates;

void FinalityLatency::add(std::uint64_t ms) {
    std::size_t i = 0;
    while (i < bounds_ms.size() && ms > bounds_ms[i]) ++i;
    ++counts[i];
    sum_ms += ms;
    ++total;
}

std::string FinalityLatency::prometheus(std::string_view name) const {
    const std::string n(name);
    std::string out = "# TYPE " + n + " histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le = i < bounds_ms.size() ? std::to_string(bounds_ms[i]) : "+Inf";
        out += n + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += n + "_sum " + std::to_string(sum_ms) + "\n";
    out += n + "_count " + std::to_string(total) + "\n";
    return out;
}

LedgerApplication::LedgerApplication(ledger::BlockStore& store, ledger::Mempool& mempool, const runtime::Clock& clock,
                                     crypto::Address proposer, std::uint64_t epoch_blocks)
    : m_store(store),
      m_mempool(mempool),
      m_clock(clock),
      m_proposer(proposer),
      m_epoch_blocks(epoch_blocks),
      m_candidates({}, &mempool, epoch_blocks) {}

std::uint64_t LedgerApplication::epoch() const {
    const std::uint64_t h = m_store.head().height;
    return ledger::epoch_of(h, m_epoch_blocks) + (ledger::ends_epoch(h, m_epoch_blocks) ? 1 : 0);
}

std::optional<consensus::Certificate> LedgerApplication::epoch_end(std::uint64_t e) const {
    if (m_epoch_blocks == 0 || e >= epoch()) return std::nullopt;
    auto b = m_store.block_at((e + 1) * m_epoch_blocks);
    // Nothing extends an epoch's last block within its epoch, so it is always
    // finalized by a certificate of its own (its view or a re-proposal).
    if (!b || b->certificate.empty()) return std::nullopt;
    return consensus::to_consensus_certificate(b->header, b->certificate);
}

void LedgerApplication::fatal(const std::string& why) {
    if (on_fatal) on_fatal(why);
}

std::optional<consensus::BlockInfo> LedgerApplication::receive(util::ByteView bytes) {
    auto h = m_candidates.receive(bytes, tip());
    if (!h) return std::nullopt;
    note_seen(h->hash());
    return consensus::BlockInfo{h->hash(), h->view, h->parent_view, h->parent,
                                ledger::epoch_of(h->height, m_epoch_blocks)};
}

std::optional<util::Bytes> LedgerApplication::block(const crypto::Hash256& digest) const {
    if (const auto* e = m_candidates.find(digest)) return e->bytes;
    auto height = m_store.height_of(digest);
    auto b = height ? m_store.block_at(*height) : std::nullopt;
    if (!b) return std::nullopt;
    return codec::encode(*b);
}

std::optional<crypto::Hash256> LedgerApplication::build(std::uint64_t epoch, const consensus::Proposal& p,
                                                        std::uint64_t unix_ms,
                                                        const consensus::Certificate* parent_certificate) {
    auto digest = m_candidates.build(epoch, p.view, p.parent_view, p.parent, tip(), m_mempool, unix_ms / 1000,
                                     m_proposer, consensus::to_parent_certificate(parent_certificate));
    if (digest) note_seen(*digest);
    return digest;
}

void LedgerApplication::note_seen(const crypto::Hash256& digest) {
    // Bounded like the candidate cache, and pruned at finality with it; when
    // a flood fills it, new blocks go untimed rather than evicting honest
    // blocks still waiting for finality.
    if (m_first_seen.size() >= 4 * ledger::CandidateLimits{}.max_blocks) return;
    m_first_seen.try_emplace(digest, m_clock.now_ms());
}

consensus::VerifyResult LedgerApplication::verify(std::uint64_t epoch, const consensus::Proposal& p) {
    // A re-proposal (digest == parent) may name a block this node lacks: Candidates asks for it.
    const auto* e = m_candidates.find(p.digest);
    if ((!e && p.digest != p.parent) ||
        (e && e->block.header.time_unix > m_clock.unix_ms() / 1000 + max_block_time_ahead_s))
        return {Verdict::invalid, {}};
    crypto::Hash256 missing{};
    switch (m_candidates.verify(epoch, p.view, p.parent_view, p.parent, p.digest, tip(), missing)) {
        case Candidates::Verdict::valid: return {Verdict::valid, {}};
        case Candidates::Verdict::missing:
            // A final block below the tip is never missing: the proposal leaves the final chain.
            if (is_final(missing)) return {Verdict::invalid, {}};
            return {Verdict::missing_parent, missing};
        case Candidates::Verdict::invalid: break;
    }
    return {Verdict::invalid, {}};
}

std::optional<crypto::Hash256> LedgerApplication::finalize(std::uint64_t epoch, const consensus::Certificate& cert) {
    auto path = m_candidates.path_to(cert.subject.proposal.digest, tip());
    if (path.verdict == Candidates::Verdict::missing && !is_final(path.missing)) return path.missing;
    if (path.verdict != Candidates::Verdict::valid) {
        fatal("a quorum finalized block " + util::to_hex(cert.subject.proposal.digest) +
              " that leaves this node's final chain or fails the ledger's checks: the validator set is "
              "broken (more than a third faulty) or this node's store is; stopping");
        return std::nullopt;
    }
    for (std::size_t i = 0; i < path.blocks.size(); ++i) {
        const Candidates::Entry& e = *path.blocks[i];
        if (ledger::epoch_of(e.block.header.height, m_epoch_blocks) != epoch) {
            fatal("a quorum of epoch " + std::to_string(epoch) + " finalized block " +
                  std::to_string(e.block.header.height) + " of another epoch: the validator set is broken; stopping");
            return std::nullopt;
        }
        ledger::Block b = e.block;
        if (i + 1 == path.blocks.size()) b.certificate = consensus::to_ledger_certificate(cert);
        if (auto ok = m_store.commit(b, *e.after); !ok) {
            fatal(ok.error());
            return std::nullopt;
        }
        if (on_commit) on_commit(b);
        if (auto it = m_first_seen.find(e.block.header.hash()); it != m_first_seen.end()) {
            m_latency.add(m_clock.now_ms() - it->second);
            m_first_seen.erase(it);
        }
    }
    m_mempool.prune(m_store.state());
    m_candidates.prune(m_store.head().view);
    if (m_first_seen.size() > m_candidates.size()) {
        // What the cache pruned (views at or below finality) will never be final.
        std::erase_if(m_first_seen, [&](const auto& kv) { return !m_candidates.find(kv.first); });
    }
    return std::nullopt;
}

std::pair<consensus::View, crypto::Hash256> LedgerApplication::finalized() const {
    return {m_store.head().view, m_store.head().hash()};
}

}  // namespace conet::node
