#pragma once
/// The mempool (I/O-free): admits transactions after checking signature,
/// chain, nonce, fee, balance and size; bounds its memory; orders by fee and
/// then by nonce per sender; evicts the cheapest transactions when full.

#include <map>
#include <set>

#include "conet/ledger/state.hpp"

namespace conet::ledger {

struct MempoolLimits {
    std::size_t max_transactions = 20'000;
    std::size_t max_bytes = 32u << 20;
    std::size_t max_per_sender = 64;   ///< one sender cannot crowd out the others
    std::uint64_t max_nonce_gap = 64;  ///< how far ahead of the account's nonce a tx may be
};

enum class AdmitError {
    malformed,
    bad_signature,
    wrong_chain,
    stale_nonce,
    nonce_gap,
    fee_too_low,
    insufficient_funds,
    duplicate,
    sender_full,
    pool_full,
};
std::string_view describe(AdmitError e);

class Mempool {
public:
    explicit Mempool(MempoolLimits limits = {}) : m_limits(limits) {}

    /// Admits a transaction; returns its id.
    util::Result<crypto::Hash256, AdmitError> admit(const Transaction& tx, const State& state);
    /// The same with the signature already recovered: `sender` must be what
    /// `tx.sender()` returns. Recovery is most of admission's cost and needs no
    /// state, so a caller may run it on other threads ahead of time; the
    /// outcome is the same as admit()'s.
    util::Result<crypto::Hash256, AdmitError> admit_recovered(const Transaction& tx,
                                                              const crypto::KeyResult<crypto::Address>& sender,
                                                              const State& state);
    struct Selected {
        Transaction tx;
        crypto::Address sender;  ///< recovered at admission
    };
    /// Up to `max` transactions in block order: highest fee first among each
    /// sender's next-in-nonce transaction.
    std::vector<Selected> select(const State& state, std::size_t max) const;
    /// After a block: drops transactions the state has made stale (nonce
    /// used), and each sender's next transaction when it can no longer be in
    /// a block (its fee exceeds the balance now) with those queued behind it,
    /// so a transaction that can never apply cannot hold a place. (One whose
    /// effect fails is payable: the builder includes it, it pays its fee and
    /// is reverted, and its nonce is then used.)
    void prune(const State& state);

    bool contains(const crypto::Hash256& id) const { return m_ids.count(id) > 0; }
    /// The sender recovered when transaction `id` was admitted (the id covers
    /// the signature, so the same id is the same signed bytes), or null.
    const crypto::Address* sender_of(const crypto::Hash256& id) const {
        auto it = m_ids.find(id);
        return it == m_ids.end() ? nullptr : &it->second;
    }
    std::size_t size() const { return m_ids.size(); }
    /// The nonce `sender`'s next transaction needs on top of `state` and the
    /// sender's transactions waiting here (a node signing its own transactions).
    std::uint64_t next_nonce(const crypto::Address& sender, const State& state) const;
    std::size_t bytes() const { return m_bytes; }

private:
    struct Entry {
        Transaction tx;
        crypto::Hash256 id{};
        std::size_t bytes = 0;
    };
    void erase(const crypto::Address& sender, std::uint64_t nonce);
    /// Admission after the size, chain and duplicate checks.
    util::Result<crypto::Hash256, AdmitError> admit_checked(const Transaction& tx, const crypto::Hash256& id,
                                                            const crypto::KeyResult<crypto::Address>& sender,
                                                            const State& state);

    MempoolLimits m_limits;
    std::map<crypto::Address, std::map<std::uint64_t, Entry>> m_by_sender;
    std::map<crypto::Hash256, crypto::Address> m_ids;  ///< id -> sender recovered at admission
    std::size_t m_bytes = 0;
};

}  // namespace conet::ledger
