#include "conet/ledger/mempool.hpp"

#include <queue>

namespace conet::ledger {

std::string_view describe(AdmitError e) {
    switch (e) {
        case AdmitError::malformed: return "malformed transaction";
        case AdmitError::bad_signature: return "signature does not recover a sender";
        case AdmitError::wrong_chain: return "transaction is for another chain";
        case AdmitError::stale_nonce: return "nonce already used";
        case AdmitError::nonce_gap: return "nonce too far ahead";
        case AdmitError::fee_too_low: return "fee below the minimum";
        case AdmitError::insufficient_funds: return "insufficient funds for the fee and amount";
        case AdmitError::duplicate: return "transaction already pending";
        case AdmitError::sender_full: return "too many pending transactions from this sender";
        case AdmitError::pool_full: return "mempool full and the fee does not beat the cheapest pending transaction";
    }
    return "unknown admission error";
}

util::Result<crypto::Hash256, AdmitError> Mempool::admit(const Transaction& tx, const State& state) {
    if (tx.payload.size() > max_payload_bytes(tx.kind)) return util::unexpected(AdmitError::malformed);
    if (tx.chain_id != state.chain_id()) return util::unexpected(AdmitError::wrong_chain);
    // Before the signature recovery: a copy of a known transaction costs one hash.
    const crypto::Hash256 id = tx.hash();
    if (m_ids.count(id)) return util::unexpected(AdmitError::duplicate);
    return admit_checked(tx, id, tx.sender(), state);
}

util::Result<crypto::Hash256, AdmitError> Mempool::admit_recovered(const Transaction& tx,
                                                                   const crypto::KeyResult<crypto::Address>& sender,
                                                                   const State& state) {
    if (tx.payload.size() > max_payload_bytes(tx.kind)) return util::unexpected(AdmitError::malformed);
    if (tx.chain_id != state.chain_id()) return util::unexpected(AdmitError::wrong_chain);
    const crypto::Hash256 id = tx.hash();
    if (m_ids.count(id)) return util::unexpected(AdmitError::duplicate);
    return admit_checked(tx, id, sender, state);
}

util::Result<crypto::Hash256, AdmitError> Mempool::admit_checked(const Transaction& tx, const crypto::Hash256& id,
                                                                 const crypto::KeyResult<crypto::Address>& sender,
                                                                 const State& state) {
    if (!sender) return util::unexpected(AdmitError::bad_signature);
    const Account* acc = state.account(*sender);
    const std::uint64_t next = acc ? acc->nonce : 0;
    if (tx.nonce < next) return util::unexpected(AdmitError::stale_nonce);
    if (tx.nonce - next > m_limits.max_nonce_gap) return util::unexpected(AdmitError::nonce_gap);
    if (tx.fee < state.params().min_fee) return util::unexpected(AdmitError::fee_too_low);
    if (!acc || acc->balance < tx.fee) return util::unexpected(AdmitError::insufficient_funds);
    // What the transaction moves out of the balance must be there too (at admission time).
    std::uint64_t spend = 0;
    if (tx.kind == TxKind::transfer) {
        auto p = codec::decode<TransferPayload>(tx.payload);
        if (!p) return util::unexpected(AdmitError::malformed);
        spend = p->amount;
    } else if (tx.kind == TxKind::stake) {
        auto p = codec::decode<StakePayload>(tx.payload);
        if (!p) return util::unexpected(AdmitError::malformed);
        spend = p->amount;
    } else if (tx.kind == TxKind::deposit) {
        auto p = codec::decode<AmountPayload>(tx.payload);
        if (!p) return util::unexpected(AdmitError::malformed);
        spend = p->amount;
    } else if (tx.kind == TxKind::withdraw) {
        auto p = codec::decode<AmountPayload>(tx.payload);
        if (!p) return util::unexpected(AdmitError::malformed);
        if (acc->prepaid < p->amount) return util::unexpected(AdmitError::insufficient_funds);
    }
    if (acc->balance - tx.fee < spend) return util::unexpected(AdmitError::insufficient_funds);
    auto& mine = m_by_sender[*sender];
    const auto replaced = mine.find(tx.nonce);
    if (replaced == mine.end() && mine.size() >= m_limits.max_per_sender)
        return util::unexpected(AdmitError::sender_full);
    // A same-nonce replacement must pay more.
    if (replaced != mine.end() && tx.fee <= replaced->second.tx.fee) return util::unexpected(AdmitError::duplicate);

    const std::size_t size = codec::encode(tx).size();
    while (m_ids.size() >= m_limits.max_transactions || m_bytes + size > m_limits.max_bytes) {
        // Evict the cheapest last-in-line transaction of any sender (never opening a nonce gap).
        const crypto::Address* victim = nullptr;
        std::uint64_t victim_fee = ~0ull;
        for (const auto& [addr, txs] : m_by_sender) {
            if (txs.empty()) continue;
            const auto& last = txs.rbegin()->second;
            if (last.tx.fee < victim_fee) {
                victim_fee = last.tx.fee;
                victim = &addr;
            }
        }
        if (!victim || victim_fee >= tx.fee) return util::unexpected(AdmitError::pool_full);
        erase(*victim, m_by_sender[*victim].rbegin()->first);
    }
    auto& slot = m_by_sender[*sender];  // erase() may have dropped the map entry
    if (auto old = slot.find(tx.nonce); old != slot.end()) erase(*sender, tx.nonce);
    m_by_sender[*sender][tx.nonce] = Entry{tx, id, size};
    m_ids.emplace(id, *sender);
    m_bytes += size;
    return id;
}

void Mempool::erase(const crypto::Address& sender, std::uint64_t nonce) {
    auto s = m_by_sender.find(sender);
    if (s == m_by_sender.end()) return;
    auto e = s->second.find(nonce);
    if (e == s->second.end()) return;
    m_ids.erase(e->second.id);
    m_bytes -= e->second.bytes;
    s->second.erase(e);
    if (s->second.empty()) m_by_sender.erase(s);
}

std::vector<Mempool::Selected> Mempool::select(const State& state, std::size_t max) const {
    struct Head {
        std::uint64_t fee;
        const crypto::Address* sender;
        std::map<std::uint64_t, Entry>::const_iterator it;
        bool operator<(const Head& o) const { return fee < o.fee || (fee == o.fee && *sender > *o.sender); }
    };
    std::priority_queue<Head> heads;
    for (const auto& [addr, txs] : m_by_sender) {
        const Account* acc = state.account(addr);
        auto it = txs.find(acc ? acc->nonce : 0);
        if (it != txs.end()) heads.push({it->second.tx.fee, &addr, it});
    }
    std::vector<Selected> out;
    while (!heads.empty() && out.size() < max) {
        Head h = heads.top();
        heads.pop();
        out.push_back(Selected{h.it->second.tx, *h.sender});
        const auto& txs = m_by_sender.at(*h.sender);
        auto next = std::next(h.it);
        if (next != txs.end() && next->first == h.it->first + 1) heads.push({next->second.tx.fee, h.sender, next});
    }
    return out;
}

void Mempool::prune(const State& state) {
    std::vector<std::pair<crypto::Address, std::uint64_t>> stale;
    for (const auto& [addr, txs] : m_by_sender) {
        const Account* acc = state.account(addr);
        const std::uint64_t next = acc ? acc->nonce : 0;
        auto head = txs.find(next);
        const bool unpayable = head != txs.end() && !state.check_payable(head->second.tx, addr);
        for (const auto& [nonce, e] : txs)
            if (nonce < next || (unpayable && nonce >= next)) stale.emplace_back(addr, nonce);
    }
    for (const auto& [addr, nonce] : stale) erase(addr, nonce);
}

std::uint64_t Mempool::next_nonce(const crypto::Address& sender, const State& state) const {
    const Account* acc = state.account(sender);
    std::uint64_t nonce = acc ? acc->nonce : 0;
    auto it = m_by_sender.find(sender);
    if (it != m_by_sender.end())
        while (it->second.count(nonce)) ++nonce;
    return nonce;
}

}  // namespace conet::ledger
