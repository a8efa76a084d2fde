#pragma once
/// Transaction gossip between validators (I/O-free): the message format and
/// the intake that admits another validator's transactions within a budget.
///
/// A validator passes each transaction it admits from a client to every other
/// validator, once (no re-forwarding), so every mempool holds it whoever
/// leads. Each gossiped transaction costs the receiver a signature recovery,
/// so another validator — possibly a Byzantine one — is held to a token
/// bucket (`gossip_txs_per_second_per_validator`, burst
/// `gossip_txs_burst_per_validator`) and all of them together to another
/// (`gossip_txs_per_second_total`, `gossip_txs_burst_total`), charged with
/// the count a message claims before anything is decoded. A message that
/// does not decode whole (trailing bytes included) admits nothing. One that
/// passes on a transaction whose signature recovers no key, which an honest
/// validator never does (it checked the signature before passing it on), is
/// not listened to for `bad_gossip_penalty_ms`; a forged signature that
/// recovers some key cannot be told from an unfunded sender and only costs
/// its budget. Dropping gossip loses nothing: the validator that
/// took the transaction from its client still proposes it when it leads.

#include <span>
#include <vector>

#include "conet/ledger/mempool.hpp"
#include "conet/runtime/runtime.hpp"
#include "conet/util/limits.hpp"

namespace conet::node {

/// A gossip message is u8 tag | u32 count | transactions, at most
/// max_gossip_txs of them. No consensus message starts with this byte.
inline constexpr std::uint8_t tx_gossip_tag = 0xC0;
inline constexpr std::size_t max_gossip_txs = 512;
/// Transactions admitted from clients are sent on in batches this often.
inline constexpr runtime::TimeMs gossip_interval_ms = 10;

util::Bytes encode_gossip(std::span<const ledger::Transaction> txs);

struct GossipStats {
    std::uint64_t admitted = 0;        ///< entered the mempool
    std::uint64_t rejected = 0;        ///< refused by the mempool (duplicate, stale nonce, ...)
    std::uint64_t over_budget = 0;     ///< dropped: the sender's token bucket was empty
    std::uint64_t muted = 0;           ///< dropped: the sender is serving a penalty
    std::uint64_t malformed = 0;       ///< messages that did not decode
    std::uint64_t bad_signatures = 0;  ///< penalties given
};

class GossipIntake {
public:
    GossipIntake(const util::Limits& limits, std::uint32_t validators);
    /// Handles one gossip message (starting with tx_gossip_tag) from validator `from`.
    void receive(runtime::PeerId from, util::ByteView message, ledger::Mempool& mempool, const ledger::State& state,
                 runtime::TimeMs now_ms);
    const GossipStats& stats() const { return m_stats; }
    /// Budgets for validators numbered up to `validators` - 1 (only grows).
    void grow(std::uint32_t validators) {
        if (validators > m_peers.size()) m_peers.resize(validators);
    }
    bool muted(runtime::PeerId peer, runtime::TimeMs now_ms) const;

private:
    struct Bucket {
        double tokens = 0;
        runtime::TimeMs last_ms = 0;
        bool seen = false;
        /// Refills to now at `rate` per second up to `burst`, then takes up to
        /// `want` tokens; returns how many it took.
        std::size_t take(std::size_t want, double rate, double burst, runtime::TimeMs now_ms);
    };
    struct Peer {
        Bucket bucket;
        runtime::TimeMs muted_until_ms = 0;
    };

    util::Limits m_limits;
    std::vector<Peer> m_peers;
    Bucket m_all;
    GossipStats m_stats;
};

}  // namespace conet::node
