#include "conet/node/ledger_app.hpp"

#include <spdlog/spdlog.h>

#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

using consensus::Verdict;
using ledger::Candidates;

ledger::Certificate to_ledger_certificate(const consensus::Certificate& cert) {
    CONET_ASSERT(cert.subject.kind == consensus::VoteKind::finalize);
    ledger::Certificate out;
    for (const auto& [index, sig] : cert.votes) {
        auto s = crypto::Signature::from_bytes(sig);
        CONET_ASSERT(s.has_value());  // the certificate was verified
        out.votes.push_back(ledger::CertificateVote{index, *s});
    }
    return out;
}

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
                                     crypto::Address proposer)
    : m_store(store), m_mempool(mempool), m_clock(clock), m_proposer(proposer), m_candidates({}, &mempool) {}

void LedgerApplication::fatal(const std::string& why) {
    if (on_fatal) on_fatal(why);
}

std::optional<consensus::BlockInfo> LedgerApplication::receive(util::ByteView bytes) {
    auto h = m_candidates.receive(bytes, tip());
    if (!h) return std::nullopt;
    note_seen(h->hash());
    return consensus::BlockInfo{h->hash(), h->view, h->parent_view, h->parent};
}

std::optional<util::Bytes> LedgerApplication::block(const crypto::Hash256& digest) const {
    if (const auto* e = m_candidates.find(digest)) return e->bytes;
    auto height = m_store.height_of(digest);
    auto b = height ? m_store.block_at(*height) : std::nullopt;
    if (!b) return std::nullopt;
    return codec::encode(*b);
}

std::optional<crypto::Hash256> LedgerApplication::build(std::uint64_t epoch, const consensus::Proposal& p,
                                                        std::uint64_t unix_ms) {
    if (epoch != 0) return std::nullopt;  // the ledger's set is the genesis set (epoch 0) for now
    auto digest = m_candidates.build(p.view, p.parent_view, p.parent, tip(), m_mempool, unix_ms / 1000, m_proposer);
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
    const auto* e = m_candidates.find(p.digest);
    if (epoch != 0 || !e || e->block.header.time_unix > m_clock.unix_ms() / 1000 + max_block_time_ahead_s)
        return {Verdict::invalid, {}};
    crypto::Hash256 missing{};
    switch (m_candidates.verify(p.view, p.parent_view, p.parent, p.digest, tip(), missing)) {
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
    CONET_ASSERT_MSG(epoch == 0, "the ledger has one epoch until headers carry theirs");
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
        ledger::Block b = e.block;
        if (i + 1 == path.blocks.size()) b.certificate = to_ledger_certificate(cert);
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
