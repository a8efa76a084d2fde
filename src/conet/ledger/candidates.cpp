#include "conet/ledger/candidates.hpp"

#include "conet/util/assert.hpp"

namespace conet::ledger {

bool Candidates::admit(std::uint64_t view, std::size_t bytes) {
    // When full, the candidate furthest in the future makes room for a nearer
    // one: the next views' blocks (what finality needs) always fit, so blocks
    // a leader sends for views far ahead cannot crowd them out.
    while (m_entries.size() >= m_limits.max_blocks || m_bytes + bytes > m_limits.max_bytes) {
        auto furthest = m_entries.end();
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
            if (furthest == m_entries.end() || it->second.block.header.view > furthest->second.block.header.view)
                furthest = it;
        if (furthest == m_entries.end() || furthest->second.block.header.view <= view) {
            ++m_refused;
            return false;
        }
        m_bytes -= furthest->second.bytes.size();
        m_entries.erase(furthest);
        ++m_evicted;
    }
    return true;
}

std::optional<Header> Candidates::receive(util::ByteView bytes, const FinalTip& tip) {
    auto b = codec::decode<Block>(bytes);
    if (!b || b->header.chain_id != tip.header.chain_id || b->header.view == 0) return std::nullopt;
    const Header header = b->header;
    const crypto::Hash256 d = header.hash();
    if (header.view > tip.header.view && !m_entries.contains(d) && admit(header.view, bytes.size())) {
        b->certificate = {};  // a candidate's certificate is consensus's business, not part of the block
        m_bytes += bytes.size();
        m_entries.emplace(d, Entry{std::move(*b), util::Bytes(bytes.begin(), bytes.end()), std::nullopt, false});
    }
    return header;
}

crypto::Hash256 Candidates::keep(Block block, std::optional<State> after) {
    util::Bytes bytes = codec::encode(block);
    const crypto::Hash256 d = block.header.hash();
    if (auto it = m_entries.find(d); it != m_entries.end()) m_bytes -= it->second.bytes.size();
    m_bytes += bytes.size();
    // Our own blocks are kept even past the limit: we must be able to serve what we propose.
    m_entries[d] = Entry{std::move(block), std::move(bytes), std::move(after), false};
    return d;
}

const Candidates::Entry* Candidates::find(const crypto::Hash256& digest) const {
    auto it = m_entries.find(digest);
    return it == m_entries.end() ? nullptr : &it->second;
}

Candidates::Verdict Candidates::resolve(const crypto::Hash256& digest, const FinalTip& tip, Parent& out,
                                        crypto::Hash256& missing) {
    const crypto::Hash256 tip_hash = tip.header.hash();
    // Walk back to the tip or to a block already executed, then execute forward.
    std::vector<Entry*> todo;
    crypto::Hash256 cur = digest;
    Parent base{};
    for (;;) {
        if (cur == tip_hash) {
            base = Parent{&tip.header, &tip.state};
            break;
        }
        auto it = m_entries.find(cur);
        if (it == m_entries.end()) {
            missing = cur;
            return Verdict::missing;
        }
        Entry& e = it->second;
        if (e.invalid || e.block.header.view <= tip.header.view) return Verdict::invalid;
        if (e.after) {
            base = Parent{&e.block.header, &*e.after};
            break;
        }
        todo.push_back(&e);
        CONET_ASSERT(todo.size() <= m_entries.size());  // views strictly fall on the way: no cycle
        cur = e.block.header.parent;
    }
    for (auto it = todo.rbegin(); it != todo.rend(); ++it) {
        Entry& e = **it;
        State next = *base.state;
        if (!execute_block(next, *base.header, e.block, m_known)) {
            e.invalid = true;
            // Everything above an invalid block is invalid too.
            for (auto above = todo.begin(); *above != &e; ++above) (*above)->invalid = true;
            return Verdict::invalid;
        }
        e.after = std::move(next);
        base = Parent{&e.block.header, &*e.after};
    }
    out = base;
    return Verdict::valid;
}

Candidates::Verdict Candidates::verify(std::uint64_t epoch, std::uint64_t view, std::uint64_t parent_view,
                                       const crypto::Hash256& parent, const crypto::Hash256& digest,
                                       const FinalTip& tip, crypto::Hash256& missing) {
    if (digest == parent) {
        // A re-proposal: the block was notarized before (the core checked
        // that); it must end this epoch and be valid on the final chain.
        Parent self{};
        if (auto v = resolve(digest, tip, self, missing); v != Verdict::valid) return v;
        const std::uint64_t height = self.header->height;
        return ends_epoch(height, m_epoch_blocks) && epoch_of(height, m_epoch_blocks) == epoch ? Verdict::valid
                                                                                               : Verdict::invalid;
    }
    auto it = m_entries.find(digest);
    if (it == m_entries.end()) return Verdict::invalid;
    const Header& h = it->second.block.header;
    if (h.view != view || h.parent_view != parent_view || h.parent != parent) return Verdict::invalid;
    if (epoch_of(h.height, m_epoch_blocks) != epoch) return Verdict::invalid;
    Parent p{};
    if (auto v = resolve(parent, tip, p, missing); v != Verdict::valid) return v;
    if (p.header->view != parent_view) return Verdict::invalid;
    Parent self{};
    return resolve(digest, tip, self, missing);
}

std::optional<crypto::Hash256> Candidates::build(std::uint64_t epoch, std::uint64_t view, std::uint64_t parent_view,
                                                 const crypto::Hash256& parent, const FinalTip& tip,
                                                 const Mempool& mempool, std::uint64_t time_unix,
                                                 const crypto::Address& proposer, ParentCertificate parent_certificate,
                                                 std::size_t max_txs) {
    Parent p{};
    crypto::Hash256 missing{};
    if (resolve(parent, tip, p, missing) != Verdict::valid) return std::nullopt;
    const std::uint64_t height = p.header->height;
    if (ends_epoch(height, m_epoch_blocks) && epoch_of(height, m_epoch_blocks) == epoch) return parent;
    if (p.header->view != parent_view || epoch_of(height + 1, m_epoch_blocks) != epoch) return std::nullopt;
    auto [block, after] = build_unsigned_block(*p.state, *p.header, mempool, time_unix, proposer, view, max_txs,
                                               std::move(parent_certificate));
    return keep(std::move(block), std::move(after));
}

Candidates::Path Candidates::path_to(const crypto::Hash256& digest, const FinalTip& tip) {
    Path path;
    const crypto::Hash256 tip_hash = tip.header.hash();
    for (crypto::Hash256 cur = digest; cur != tip_hash;) {
        auto it = m_entries.find(cur);
        if (it == m_entries.end()) {
            path.verdict = Verdict::missing;
            path.missing = cur;
            return path;
        }
        if (it->second.block.header.view <= tip.header.view) return path;  // leaves the final chain: invalid
        path.blocks.push_back(&it->second);
        cur = it->second.block.header.parent;
    }
    Parent self{};
    crypto::Hash256 missing{};
    if (resolve(digest, tip, self, missing) != Verdict::valid) {
        path.blocks.clear();
        return path;
    }
    std::reverse(path.blocks.begin(), path.blocks.end());
    path.verdict = Verdict::valid;
    return path;
}

void Candidates::prune(std::uint64_t final_view) {
    std::erase_if(m_entries, [&](const auto& kv) {
        if (kv.second.block.header.view > final_view) return false;
        m_bytes -= kv.second.bytes.size();
        return true;
    });
}

}  // namespace conet::ledger
