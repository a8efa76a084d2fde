#include "conet/sim/sim_app.hpp"

#include "conet/codec/codec.hpp"
#include "conet/crypto/keccak.hpp"

namespace conet::sim {

util::Bytes SimBlock::encode() const {
    codec::Writer w;
    w.u64(view);
    w.u64(parent_view);
    w.fixed(parent);
    w.u64(height);
    w.u32(proposer);
    w.u64(epoch);
    w.boolean(valid);
    w.count(txs.size());
    for (auto t : txs) w.u64(t);
    return std::move(w).take();
}

std::optional<SimBlock> SimBlock::decode(util::ByteView bytes) {
    codec::Reader r(bytes);
    SimBlock b;
    auto view = r.u64();
    auto parent_view = r.u64();
    auto parent = r.fixed<32>();
    auto height = r.u64();
    auto proposer = r.u32();
    auto epoch = r.u64();
    auto valid = r.boolean();
    auto n = r.count(max_txs_per_block);
    if (!view || !parent_view || !parent || !height || !proposer || !epoch || !valid || !n) return std::nullopt;
    b.epoch = *epoch;
    b.view = *view;
    b.parent_view = *parent_view;
    b.parent = *parent;
    b.height = *height;
    b.proposer = *proposer;
    b.valid = *valid;
    for (std::size_t i = 0; i < *n; ++i) {
        auto t = r.u64();
        if (!t) return std::nullopt;
        b.txs.push_back(*t);
    }
    if (!r.finish() || b.parent_view >= b.view || b.height == 0) return std::nullopt;
    return b;
}

SimApp::SimApp(std::uint32_t node, Hash256 genesis, FinalizedHook on_finalized, ForkHook on_fork,
               std::uint64_t epoch_blocks)
    : m_node(node),
      m_genesis(genesis),
      m_on_finalized(std::move(on_finalized)),
      m_on_fork(std::move(on_fork)),
      m_epoch_blocks(epoch_blocks),
      m_tip(genesis) {}

std::pair<View, Hash256> SimApp::finalized() const {
    // Also the next epoch's starting point when the tip ends its epoch: views go on above it.
    return {m_tip_view, m_tip};
}

std::uint64_t SimApp::epoch() const {
    return m_tip_ends_epoch ? m_tip_epoch + 1 : m_tip_epoch;
}

std::optional<consensus::Certificate> SimApp::epoch_end(std::uint64_t e) const {
    if (e >= epoch()) return std::nullopt;
    return m_epoch_ends.get(e);
}

util::Result<void, std::string> EpochEnds::open(runtime::Storage& storage) {
    auto ends = runtime::Journal::open(storage, epoch_ends_file_name);
    if (!ends) return util::unexpected(ends.error().message);
    for (const auto& bytes : ends->records) {
        codec::Reader r(bytes);
        auto e = r.u64();
        auto cert = consensus::Certificate::decode(r);
        if (!e || !cert || !r.finish())
            return util::unexpected(ends->journal.path() + ": a record that is not an epoch's last certificate");
        m_certs.insert_or_assign(*e, std::move(*cert));
    }
    m_journal.emplace(std::move(ends->journal));
    return {};
}

util::Result<void, std::string> EpochEnds::record(std::uint64_t epoch, const consensus::Certificate& cert) {
    codec::Writer w;
    w.u64(epoch);
    cert.encode(w);
    if (auto r = m_journal->append(w.data()); !r) return util::unexpected(r.error().message);
    if (auto r = m_journal->sync(); !r) return util::unexpected(r.error().message);
    m_certs.insert_or_assign(epoch, cert);
    return {};
}

std::optional<consensus::Certificate> EpochEnds::get(std::uint64_t epoch) const {
    auto it = m_certs.find(epoch);
    if (it == m_certs.end()) return std::nullopt;
    return it->second;
}

std::optional<SimApp::ChildSlot> SimApp::child_of(const Hash256& parent) const {
    if (parent == m_genesis) return ChildSlot{};
    auto it = m_blocks.find(parent);
    if (it == m_blocks.end()) return std::nullopt;
    const SimBlock& p = it->second.block;
    const bool ends = ends_epoch(p);
    return ChildSlot{p.height, ends ? p.epoch + 1 : p.epoch, p.view, ends};
}

bool SimApp::after_tip(const SimBlock& b) const {
    return std::pair(b.epoch, b.view) > std::pair(m_tip_epoch, m_tip_view);
}

util::Result<void, std::string> SimApp::open(runtime::Storage& storage) {
    auto replay = runtime::Journal::open(storage, chain_file_name);
    if (!replay) return util::unexpected(replay.error().message);
    for (const auto& bytes : replay->records) {
        auto b = SimBlock::decode(bytes);
        if (!b || b->parent != m_tip || b->height != m_chain.size() + 1)
            return util::unexpected(replay->journal.path() + ": a final block that does not extend the chain");
        const Hash256 d = crypto::keccak256(bytes);
        m_chain.push_back(d);
        m_final.insert(d);
        for (auto t : b->txs) m_final_txs.insert(t);
        m_blocks[d] = Known{*b, bytes};
        m_tip = d;
        m_tip_view = b->view;
        m_tip_epoch = b->epoch;
        m_tip_ends_epoch = ends_epoch(*b);
    }
    m_journal.emplace(std::move(replay->journal));
    if (auto r = m_epoch_ends.open(storage); !r) return r;
    prune();
    return {};
}

std::optional<consensus::BlockInfo> SimApp::receive(util::ByteView bytes) {
    auto b = SimBlock::decode(bytes);
    if (!b) return std::nullopt;
    const Hash256 d = crypto::keccak256(bytes);
    // Candidates older than finality are useless; the cache holds the rest.
    // Only blocks of this epoch or the next (a far-future epoch would never be pruned).
    if (after_tip(*b) && b->epoch <= epoch() + 1)
        m_blocks.try_emplace(d, Known{*b, util::Bytes(bytes.begin(), bytes.end())});
    return consensus::BlockInfo{d, b->view, b->parent_view, b->parent, b->epoch};
}

std::optional<util::Bytes> SimApp::block(const Hash256& digest) const {
    auto it = m_blocks.find(digest);
    if (it == m_blocks.end()) return std::nullopt;
    return it->second.bytes;
}

bool SimApp::on_chain_from(const Hash256& from, std::uint64_t tx) const {
    if (m_final_txs.contains(tx)) return true;
    Hash256 cur = from;
    while (cur != m_genesis && !m_final.contains(cur)) {
        auto it = m_blocks.find(cur);
        if (it == m_blocks.end()) return false;
        for (auto t : it->second.block.txs)
            if (t == tx) return true;
        cur = it->second.block.parent;
    }
    return false;
}

std::optional<Hash256> SimApp::build(std::uint64_t epoch, const consensus::Proposal& p, std::uint64_t,
                                     const consensus::Certificate* parent_certificate) {
    const auto slot = child_of(p.parent);
    if (!slot) return std::nullopt;
    if (parent_certificate) {
        // What a ledger block would carry to pay the votes: the parent's own
        // proposal, notarized or finalized, never genesis.
        const consensus::Subject& s = parent_certificate->subject;
        if (s.kind == consensus::VoteKind::nullify || s.proposal.digest != p.parent ||
            s.proposal.view != p.parent_view || p.parent == m_genesis)
            m_on_fork(m_node, "the engine handed the leader a certificate that is not its parent's");
        ++m_builds_with_parent_certificate;
    }
    SimBlock b{p.view, p.parent_view, p.parent, slot->height + 1, m_node, epoch, !build_invalid, {}};
    if (slot->parent_ends_epoch && slot->epoch == epoch + 1) {
        // On the epoch's last block: propose it again until a certificate
        // finalizes it. A Byzantine proposer instead extends it within the
        // ended epoch, otherwise valid: only the epoch rule refuses it.
        if (!build_invalid) return p.parent;
        b.valid = true;
    } else if (slot->epoch != epoch) {
        return std::nullopt;
    }
    for (auto t : m_mempool) {
        if (b.txs.size() == max_txs_per_block) break;
        if (!on_chain_from(p.parent, t)) b.txs.push_back(t);
    }
    util::Bytes bytes = b.encode();
    const Hash256 d = crypto::keccak256(bytes);
    m_blocks[d] = Known{b, std::move(bytes)};
    return d;
}

std::optional<Hash256> SimApp::build_conflicting(const consensus::Proposal& p) {
    auto it = m_blocks.find(p.digest);
    if (it == m_blocks.end()) return std::nullopt;
    SimBlock b = it->second.block;
    b.txs.clear();
    b.txs.push_back(0x8000000000000000ULL | ++m_salt);  // an id no client uses
    util::Bytes bytes = b.encode();
    const Hash256 d = crypto::keccak256(bytes);
    m_blocks[d] = Known{b, std::move(bytes)};
    return d;
}

std::optional<std::string> SimApp::check(const SimBlock& b) const {
    if (!b.valid) return "the proposer marked the block invalid";
    const auto slot = child_of(b.parent);
    if (!slot) return "unknown parent";
    if (b.parent_view != slot->parent_view) return "parent view mismatch";
    if (b.epoch != slot->epoch) return "wrong epoch";
    if (b.height != slot->height + 1) return "wrong height";
    std::set<std::uint64_t> seen;
    for (auto t : b.txs) {
        if (!seen.insert(t).second) return "a transaction twice in a block";
        if (on_chain_from(b.parent, t)) return "a transaction already on the chain";
    }
    return std::nullopt;
}

consensus::VerifyResult SimApp::verify(std::uint64_t epoch, const consensus::Proposal& p) {
    using consensus::Verdict;
    auto it = m_blocks.find(p.digest);
    if (it == m_blocks.end()) {
        // A re-proposal of a block this node lacks (it may be final here already: then it is in m_blocks).
        if (p.digest == p.parent) return {Verdict::missing_parent, p.parent};
        return {Verdict::invalid, {}};
    }
    const SimBlock& b = it->second.block;
    if (b.epoch != epoch) return {Verdict::invalid, {}};
    if (p.digest == p.parent) {
        // The same block again: only the epoch's last one, which nothing may extend in this epoch.
        if (!ends_epoch(b)) return {Verdict::invalid, {}};
    } else if (b.view != p.view || b.parent_view != p.parent_view || b.parent != p.parent) {
        return {Verdict::invalid, {}};
    }
    if (b.parent != m_genesis && !m_blocks.contains(b.parent)) return {Verdict::missing_parent, b.parent};
    return {check(b) ? Verdict::invalid : Verdict::valid, {}};
}

std::optional<Hash256> SimApp::finalize(std::uint64_t epoch, const consensus::Certificate& cert) {
    std::vector<Hash256> path;
    Hash256 cur = cert.subject.proposal.digest;
    while (cur != m_genesis && !m_final.contains(cur)) {
        auto it = m_blocks.find(cur);
        if (it == m_blocks.end()) return cur;
        path.push_back(cur);
        cur = it->second.block.parent;
    }
    if (path.empty()) return std::nullopt;
    if (cur != m_tip) {
        m_on_fork(m_node, "a finalization certificate's chain leaves the final chain below its tip");
        return std::nullopt;
    }
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        const Known& k = m_blocks.at(*it);
        if (auto why = check(k.block)) {
            m_on_fork(m_node, "a finalized block fails the application's checks: " + *why);
            return std::nullopt;
        }
        if (k.block.epoch != epoch) {
            m_on_fork(m_node, "a certificate of epoch " + std::to_string(epoch) + " finalizes a block of epoch " +
                                  std::to_string(k.block.epoch));
            return std::nullopt;
        }
        if (ends_epoch(k.block)) {
            // Durable before the block: a node that has the epoch's last block final can always prove it.
            if (auto r = m_epoch_ends.record(epoch, cert); !r) {
                m_on_fork(m_node, r.error());
                return std::nullopt;
            }
        }
        if (auto r = m_journal->append(k.bytes); !r) {
            m_on_fork(m_node, r.error().message);
            return std::nullopt;
        }
        m_chain.push_back(*it);
        m_final.insert(*it);
        for (auto t : k.block.txs) {
            m_final_txs.insert(t);
            m_mempool.erase(t);
        }
        m_tip = *it;
        m_tip_view = k.block.view;
        m_tip_epoch = k.block.epoch;
        m_tip_ends_epoch = ends_epoch(k.block);
        Final fin{k.block.height, *it, k.block.epoch, {}};
        for (auto t : k.block.txs) {
            Hash256 id{};
            for (int b = 0; b < 8; ++b) id[b] = static_cast<std::uint8_t>(t >> (8 * b));
            fin.txs.push_back(id);
        }
        m_on_finalized(m_node, fin);
    }
    if (auto r = m_journal->sync(); !r) m_on_fork(m_node, r.error().message);
    prune();
    return std::nullopt;
}

void SimApp::prune() {
    // Final blocks stay (peers that lag fetch them, as from a node's block
    // store); candidates that lost to finality go.
    std::erase_if(m_blocks, [&](const auto& kv) { return !m_final.contains(kv.first) && !after_tip(kv.second.block); });
}

}  // namespace conet::sim
