#pragma once
/// Path selection (I/O-free): which relays a circuit goes through.
/// docs/security.md "Path selection" gives the rules and why:
///  - a few persistent entry guards, sampled stake-weighted, so a relay that
///    registers many cheap records sees few users' first hops;
///  - the entry is chosen among the guards by measured latency, then by stake;
///  - exit and middle are stake-weighted;
///  - no two relays of a path share an operator (wallet) or a network
///    (IPv4 /16, IPv6 /32); the network rule is lifted on a devnet, where
///    every relay listens on loopback.
/// The caller measures latency and notes failures; nothing here reads a
/// clock, a socket or DNS.

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conet/ledger/node_record.hpp"
#include "conet/util/rng.hpp"

namespace conet::proxy {

/// A stake counts up to this much in path selection, so the sum over a whole
/// directory fits in 64 bits (2^48 base units is 281 million CONET).
inline constexpr std::uint64_t max_path_weight = std::uint64_t(1) << 48;
/// Entry guards in use at once, by default.
inline constexpr std::size_t default_entry_guards = 3;
/// Guards remembered (including ones that failed) per guard in use: the list
/// is bounded, and the oldest failed guards make room for new ones.
inline constexpr std::size_t guards_sampled_per_guard = 4;

struct PathRules {
    std::size_t hops = 2;     ///< 2 or 3
    std::string exit_region;  ///< empty: any
    /// Devnet only: several relays of a path may share a /16 or /32 (every
    /// relay of a loopback network does). Addresses are checked before
    /// records reach path selection (ledger::endpoint_allowed).
    bool allow_same_network = false;
};

/// The network a relay endpoint belongs to for the one-relay-per-network rule:
/// {4, a, b} for IPv4 a.b.x.y (/16), {6, first four bytes} for IPv6 (/32).
/// nullopt for a host that is not an IP literal.
using NetworkGroup = std::array<std::uint8_t, 5>;
std::optional<NetworkGroup> network_group(const ledger::Endpoint& e);

/// True when an endpoint of `a` and one of `b` are in the same network group.
bool share_network(const ledger::NodeRecord& a, const ledger::NodeRecord& b);

/// Whether two relays may be on one path: distinct keys and operators always;
/// distinct networks unless `allow_same_network`.
bool may_share_path(const ledger::NodeRecord& a, const ledger::NodeRecord& b, bool allow_same_network);

/// A random index with probability weights[i] / sum; uniform when all are 0.
/// `weights` must not be empty, and each at most max_path_weight.
std::size_t pick_weighted(util::Rng& rng, std::span<const std::uint64_t> weights);

/// What path selection knows about one relay now.
struct RelayView {
    const ledger::NodeRecord* record = nullptr;
    std::uint64_t weight = 1;      ///< stake (capped), or 1 when stakes are unknown
    bool failed = false;           ///< failed recently: avoided
    std::optional<double> rtt_ms;  ///< a fresh latency measurement as an entry
    bool exit_in_use = false;      ///< the pool already exits there: others are preferred
};

/// Builds views for a directory: weights from stakes when it has them (capped
/// at max_path_weight), else 1 each. Failures, latency and use are the caller's.
std::vector<RelayView> relay_views(const ledger::Directory& directory);

/// A small, persistent set of entry guards (Tor's, simplified). Kept for the
/// process lifetime across circuits and directory refreshes; a guard leaves
/// only when its relay leaves the directory or stops being an entry, or when
/// room is needed and it is the oldest guard that is failing.
class EntryGuards {
public:
    explicit EntryGuards(std::size_t count = default_entry_guards) : m_count(count == 0 ? 1 : count) {}

    /// Drops guards no longer in `relays` as entries; then, while fewer than
    /// `count` guards are working (not failed), samples more, stake-weighted,
    /// among working entries that are not guards yet.
    void update(std::span<const RelayView> relays, util::Rng& rng);

    /// The guards to build circuits from now: the first `count` working ones
    /// in the order they were chosen (all of the first `count` when none works).
    std::vector<crypto::X25519Public> primary(std::span<const RelayView> relays) const;

    /// Every remembered guard, oldest first.
    const std::vector<crypto::X25519Public>& guards() const { return m_guards; }
    std::size_t count() const { return m_count; }

private:
    std::size_t m_count;
    std::vector<crypto::X25519Public> m_guards;
};

/// Chooses the entry among `guards` (see EntryGuards::primary) by latency:
/// candidates are the guards not yet measured and those whose latency is
/// within 1.5x + 2 ms of the best one, picked by stake. Then the exit
/// (region, not in use if possible, by stake) and, for 3 hops, the middle
/// (by stake), each allowed by may_share_path with the others. Failed relays
/// are never chosen. Empty when no path obeys the rules.
std::vector<const ledger::NodeRecord*> choose_path(std::span<const RelayView> relays,
                                                   std::span<const crypto::X25519Public> guards, const PathRules& rules,
                                                   util::Rng& rng);

}  // namespace conet::proxy
