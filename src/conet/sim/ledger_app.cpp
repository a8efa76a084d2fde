#include "conet/sim/ledger_app.hpp"

#include "conet/crypto/random.hpp"
#include "conet/util/assert.hpp"

namespace conet::sim {

namespace {
constexpr std::uint64_t ledger_chain_id = 77;
constexpr std::uint64_t wallet_balance = 1'000'000'000'000ULL;
constexpr std::uint64_t fee = 1;
}  // namespace

LedgerWorld LedgerWorld::make(std::uint64_t seed, std::uint32_t validators, std::uint32_t wallets) {
    crypto::SeededRng rng(seed ^ 0x6c656467ULL);
    ledger::Genesis g;
    g.chain_id = ledger_chain_id;
    g.time_unix = 1'700'000'000;
    std::vector<crypto::Address> proposers;
    std::vector<crypto::PrivateKey> keys;
    for (std::uint32_t i = 0; i < validators; ++i) {
        proposers.push_back(crypto::PrivateKey::generate(rng).address());
        g.validators.push_back(proposers.back());
    }
    for (std::uint32_t i = 0; i < wallets; ++i) {
        keys.push_back(crypto::PrivateKey::generate(rng));
        g.balances.emplace_back(keys.back().address(), wallet_balance);
    }
    auto state = g.state();
    CONET_ASSERT(state.has_value());
    ledger::Header header = g.header(*state);
    return LedgerWorld{std::move(g), std::move(*state), header, std::move(keys), std::move(proposers)};
}

LedgerSimApp::LedgerSimApp(std::uint32_t node, const LedgerWorld& world, FinalizedHook on_finalized, ForkHook on_fork)
    : m_node(node),
      m_world(world),
      m_on_finalized(std::move(on_finalized)),
      m_on_fork(std::move(on_fork)),
      m_final_headers{world.genesis_header},
      m_final_state(world.genesis_state) {}

util::Result<void, std::string> LedgerSimApp::open(runtime::Storage& storage) {
    auto replay = runtime::Journal::open(storage, chain_file_name);
    if (!replay) return util::unexpected(replay.error().message);
    for (const auto& bytes : replay->records) {
        auto b = codec::decode<ledger::Block>(bytes);
        if (!b) return util::unexpected(replay->journal.path() + ": a final block that does not decode");
        ledger::State next = m_final_state;
        if (auto r = ledger::execute_block(next, m_final_headers.back(), *b); !r)
            return util::unexpected(replay->journal.path() +
                                    ": a final block that does not apply: " + std::string(ledger::describe(r.error())));
        m_final_state = std::move(next);
        m_final_headers.push_back(b->header);
        m_final_blocks[b->header.hash()] = bytes;
        m_tip_view = b->header.view;
    }
    m_journal.emplace(std::move(replay->journal));
    return {};
}

void LedgerSimApp::submit(std::uint64_t seq) {
    const std::size_t w = seq % m_world.wallets.size();
    const crypto::PrivateKey& key = m_world.wallets[w];
    const ledger::Account* acc = m_final_state.account(key.address());
    std::uint64_t& next = m_next_nonce[w];
    next = std::max(next, acc ? acc->nonce : 0);
    const ledger::TransferPayload pay{m_world.wallets[(w + 1) % m_world.wallets.size()].address(), 1 + seq % 7};
    auto tx = ledger::make_transaction(key, ledger_chain_id, next, fee, ledger::TxKind::transfer, pay);
    if (m_mempool.admit(tx, m_final_state)) ++next;
}

std::optional<consensus::BlockInfo> LedgerSimApp::receive(util::ByteView bytes) {
    auto b = codec::decode<ledger::Block>(bytes);
    if (!b || b->header.chain_id != ledger_chain_id || b->header.view == 0) return std::nullopt;
    const Hash256 d = b->header.hash();
    if (b->header.view > m_tip_view && !m_candidates.contains(d))
        m_candidates.emplace(d, Candidate{*b, util::Bytes(bytes.begin(), bytes.end()), std::nullopt, false});
    // The ledger header names its parent but not the parent's view: verify() checks that.
    return consensus::BlockInfo{d, b->header.view, std::nullopt, b->header.parent};
}

std::optional<util::Bytes> LedgerSimApp::block(const Hash256& digest) const {
    if (auto it = m_candidates.find(digest); it != m_candidates.end()) return it->second.bytes;
    if (auto it = m_final_blocks.find(digest); it != m_final_blocks.end()) return it->second;
    return std::nullopt;
}

LedgerSimApp::Resolve LedgerSimApp::resolve(const Hash256& digest, Parent& out, int depth) {
    if (digest == m_final_headers.back().hash()) {
        out = Parent{&m_final_headers.back(), &m_final_state, m_tip_view};
        return Resolve::ok;
    }
    auto it = m_candidates.find(digest);
    if (it == m_candidates.end()) {
        if (m_final_blocks.contains(digest)) return Resolve::invalid;
        m_missing = digest;
        return Resolve::missing;
    }
    Candidate& c = it->second;
    if (c.invalid || depth > 64) return Resolve::invalid;
    if (!c.after) {
        Parent grand{};
        if (auto r = resolve(c.block.header.parent, grand, depth + 1); r != Resolve::ok) return r;
        ledger::State next = *grand.state;
        if (grand.view >= c.block.header.view || !ledger::execute_block(next, *grand.header, c.block)) {
            c.invalid = true;
            return Resolve::invalid;
        }
        c.after = std::move(next);
    }
    out = Parent{&c.block.header, &*c.after, c.block.header.view};
    return Resolve::ok;
}

consensus::VerifyResult LedgerSimApp::verify(const consensus::Proposal& p) {
    using consensus::Verdict;
    auto it = m_candidates.find(p.digest);
    if (it == m_candidates.end()) return {Verdict::invalid, {}};
    const ledger::Header& h = it->second.block.header;
    if (h.view != p.view || h.parent != p.parent) return {Verdict::invalid, {}};
    Parent parent{};
    switch (resolve(p.parent, parent)) {
        case Resolve::missing: return {Verdict::missing_parent, m_missing};
        case Resolve::invalid: return {Verdict::invalid, {}};
        case Resolve::ok: break;
    }
    if (parent.view != p.parent_view) return {Verdict::invalid, {}};
    Parent self{};
    return {resolve(p.digest, self) == Resolve::ok ? Verdict::valid : Verdict::invalid, {}};
}

std::optional<Hash256> LedgerSimApp::keep(ledger::Block block, std::optional<ledger::State> after) {
    util::Bytes bytes = codec::encode(block);
    const Hash256 d = block.header.hash();
    m_candidates[d] = Candidate{std::move(block), std::move(bytes), std::move(after), false};
    return d;
}

std::optional<Hash256> LedgerSimApp::build(const consensus::Proposal& p, std::uint64_t unix_ms) {
    Parent parent{};
    if (resolve(p.parent, parent) != Resolve::ok || parent.view != p.parent_view) return std::nullopt;
    auto [block, after] = ledger::build_unsigned_block(*parent.state, *parent.header, m_mempool, unix_ms / 1000,
                                                       m_world.proposers[m_node], p.view, 64);
    if (build_invalid) {
        block.header.state_root[0] ^= 1;  // a lie about the state: every honest validator refuses it
        return keep(std::move(block), std::nullopt);
    }
    return keep(std::move(block), std::move(after));
}

std::optional<Hash256> LedgerSimApp::build_conflicting(const consensus::Proposal& p) {
    auto it = m_candidates.find(p.digest);
    if (it == m_candidates.end()) return std::nullopt;
    Parent parent{};
    if (resolve(p.parent, parent) != Resolve::ok) return std::nullopt;
    // The same slot, one second later and without transactions: a second valid block.
    ledger::Mempool empty;
    auto [block, after] =
        ledger::build_unsigned_block(*parent.state, *parent.header, empty, it->second.block.header.time_unix + 1,
                                     m_world.proposers[m_node], p.view, 0);
    return keep(std::move(block), std::move(after));
}

std::optional<Hash256> LedgerSimApp::finalize(const consensus::Certificate& cert) {
    std::vector<Hash256> path;
    Hash256 cur = cert.subject.proposal.digest;
    const Hash256 tip = m_final_headers.back().hash();
    while (cur != tip) {
        if (m_final_blocks.contains(cur) || cur == m_final_headers.front().hash()) {
            m_on_fork(m_node, "a finalization certificate's chain leaves the final chain below its tip");
            return std::nullopt;
        }
        auto it = m_candidates.find(cur);
        if (it == m_candidates.end()) return cur;
        path.push_back(cur);
        cur = it->second.block.header.parent;
    }
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        Parent self{};
        if (resolve(*it, self) != Resolve::ok) {
            m_on_fork(m_node, "a finalized block fails the ledger's checks");
            return std::nullopt;
        }
        Candidate& c = m_candidates.at(*it);
        if (auto r = m_journal->append(c.bytes); !r) {
            m_on_fork(m_node, r.error().message);
            return std::nullopt;
        }
        m_final_state = *c.after;
        m_final_headers.push_back(c.block.header);
        m_final_blocks[*it] = c.bytes;
        m_tip_view = c.block.header.view;
        Final fin{c.block.header.height, *it, {}};
        for (const auto& tx : c.block.transactions) fin.txs.push_back(tx.hash());
        m_on_finalized(m_node, fin);
    }
    if (auto r = m_journal->sync(); !r) m_on_fork(m_node, r.error().message);
    m_mempool.prune(m_final_state);
    prune();
    return std::nullopt;
}

void LedgerSimApp::prune() {
    // Candidates at or below finality lost; final blocks stay (peers that lag fetch them).
    std::erase_if(m_candidates, [&](const auto& kv) { return kv.second.block.header.view <= m_tip_view; });
}

}  // namespace conet::sim
