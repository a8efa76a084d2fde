#pragma once
/// The incentive protocol's arithmetic (DESIGN §9, docs/incentives.md): probe
/// scores, tiers, prober assignment, the emission schedule and the per-epoch
/// reward distribution. Everything here is a pure function of its arguments
/// in integer arithmetic: every validator computes the same result from the
/// same finalized state, in any order of its inputs. Rounding is always down;
/// what rounding leaves over is not minted, so it never creates value.

#include <map>
#include <span>
#include <vector>

#include "conet/codec/codec.hpp"
#include "conet/crypto/keys.hpp"
#include "conet/crypto/sodium.hpp"

namespace conet::ledger {

inline constexpr std::uint32_t bps_one = 10'000;  ///< 100 % in basis points

/// Genesis parameters of the incentive protocol (docs/incentives.md has the
/// devnet and default values). Emission 0 turns rewards off.
struct IncentiveParams {
    std::uint64_t emission_per_epoch = 0;  ///< base units minted in epoch 0
    /// The emission halves every this many epochs (must be > 0 with emission,
    /// so the supply stays bounded by genesis + 2 · emission · halving).
    std::uint64_t emission_halving_epochs = 0;
    std::uint32_t node_share_bps = 7'000;       ///< of each epoch's emission, to nodes by score × stake
    std::uint32_t validator_share_bps = 2'000;  ///< to validators by votes cast
    // The developer fund gets the rest: 10'000 - node - validator shares.
    /// Stake an operator's nodes count for at most (0: no cap): an operator
    /// with more earns as if it had this much, however it spreads the stake.
    std::uint64_t saturation_stake = 0;
    std::uint32_t probers_per_node = 3;          ///< k: probers assigned to each node per epoch
    std::uint32_t probe_target_kbps = 10'000;    ///< throughput that scores full marks
    std::uint32_t probe_target_rtt_ms = 500;     ///< round trip at or under which latency costs nothing
    std::uint32_t jail_after_failed_epochs = 3;  ///< consecutive failed epochs that jail a node
    std::uint32_t slash_bps = 1'000;             ///< of a double-signing validator's bond, to the developer fund
    /// Paid usage (ledger/usage.hpp): base units a user pays per MiB an exit
    /// carried (0: usage is free and claims are refused).
    std::uint64_t usage_price_per_mib = 0;
    std::uint32_t usage_protocol_bps = 500;  ///< of each usage fee, to the developer fund
    std::uint32_t usage_entry_bps = 3'000;   ///< of the rest, to the entry; the exit gets the remainder

    std::uint32_t fund_share_bps() const { return bps_one - node_share_bps - validator_share_bps; }
    bool operator==(const IncentiveParams&) const = default;
    void encode(codec::Writer& w) const;
    static codec::Result<IncentiveParams> decode(codec::Reader& r);
    /// Empty when consistent, else what is wrong.
    std::string check() const;
};

/// What one prober measured of one node in one epoch.
struct ProbeResult {
    bool reachable = false;  ///< the challenge came back intact through a circuit via the node
    std::uint32_t rtt_ms = 0;
    std::uint32_t throughput_kbps = 0;
    bool operator==(const ProbeResult&) const = default;
};

/// A probe's score in basis points: 0 when unreachable, else throughput
/// against the target (capped at 1) times latency (1 up to the target RTT,
/// then target / rtt), rounded down.
std::uint32_t probe_score_bps(const ProbeResult& r, const IncentiveParams& p);

/// The score of a node: the lower median of its probers' scores (a single
/// prober of two cannot raise it; one of three cannot move it outside the
/// others' range); 0 with no scores.
std::uint32_t median_score_bps(std::vector<std::uint32_t> scores);

/// Tiers (Helium's multipliers): good ≥ 80 % → 1.0, acceptable ≥ 50 % → 0.75,
/// degraded ≥ 25 % → 0.5, poor ≥ 10 % → 0.25, fail below → 0.
enum class Tier : std::uint8_t { fail = 0, poor = 1, degraded = 2, acceptable = 3, good = 4 };
Tier tier_of(std::uint32_t score_bps);
std::uint32_t tier_multiplier_bps(Tier t);
std::string_view tier_name(Tier t);

/// The seed of an epoch's prober assignment is the hash of the block that
/// ended the epoch before (final before the epoch's first block exists).
/// Node `node` is probed by the min(k, n) members with the smallest
/// keccak256("CONET/Probe/v1" || seed || node || member), so neither a node
/// nor a prober can choose the pairing before the seed is final.
std::vector<crypto::Address> assigned_probers(const crypto::Hash256& seed, const crypto::X25519Public& node,
                                              std::span<const crypto::Address> members, std::uint32_t k);
bool is_assigned_prober(const crypto::Hash256& seed, const crypto::X25519Public& node,
                        std::span<const crypto::Address> members, std::uint32_t k, const crypto::Address& prober);

/// Base units minted in `epoch`: emission_per_epoch >> (epoch / halving).
std::uint64_t epoch_emission(const IncentiveParams& p, std::uint64_t epoch);

/// One node's inputs to the distribution.
struct NodeRewardInput {
    crypto::X25519Public node{};
    crypto::Address operator_address;
    std::uint64_t stake = 0;
    std::uint32_t multiplier_bps = 0;  ///< its tier's multiplier; 0 (failed, unmeasured, jailed) earns nothing
};

struct ValidatorRewardInput {
    crypto::Address validator;
    std::uint64_t votes = 0;  ///< votes it cast that certificates on the ledger carry
};

/// The result for one epoch. `paid` maps each address to what it earns
/// (operators are paid for all their nodes together).
struct RewardPayout {
    std::uint64_t node_reward = 0;
    std::uint64_t validator_reward = 0;
    bool operator==(const RewardPayout&) const = default;
};
struct EpochRewards {
    std::uint64_t emission = 0;        ///< the schedule's amount for the epoch
    std::uint64_t node_pool = 0;       ///< its node share
    std::uint64_t validator_pool = 0;  ///< its validator share
    std::uint64_t fund = 0;            ///< paid to the developer fund
    std::uint64_t minted = 0;          ///< everything paid: nodes + validators + fund ≤ emission
    std::map<crypto::Address, RewardPayout> paid;
    /// Each paid node's share, sorted by node key: its operator's node_reward is their sum.
    std::vector<std::pair<crypto::X25519Public, std::uint64_t>> per_node;
    /// A node's share (0: none).
    std::uint64_t node_reward(const crypto::X25519Public& node) const;
};

/// The distribution of one epoch's emission (docs/incentives.md, "Rewards"):
///  - node pool: node i weighs multiplier_i × stake_i; an operator whose
///    nodes' stake S (all of them, earning or not) exceeds saturation_stake
///    has each stake scaled by saturation / S; node i earns floor(pool × w_i / Σw);
///  - validator pool: floor(pool × votes_v / Σvotes);
///  - fund: its share, floor. An empty pool (nobody eligible) is not minted.
/// Inputs may come in any order; a node or validator listed twice is a
/// programmer error (asserted).
EpochRewards compute_rewards(const IncentiveParams& p, std::uint64_t epoch, std::span<const NodeRewardInput> nodes,
                             std::span<const ValidatorRewardInput> validators);

}  // namespace conet::ledger
