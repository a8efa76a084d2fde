#pragma once
/// Genesis, block production and block validation (I/O-free).

#include <string>

#include <boost/json/object.hpp>

#include "conet/ledger/block.hpp"
#include "conet/ledger/mempool.hpp"

namespace conet::ledger {

/// Genesis JSON: {"chain_id": N, "time": T, "validators": ["0x…"], "balances": {"0x…": amount},
///                "validator_stake": amount (optional, 0: each genesis validator's bond),
///                "params": {"min_fee": …, "unbonding_blocks": …, "withdraw_delay_blocks": …,
///                           "epoch_blocks": … (optional, 0), "validator_slots": … (optional, 0),
///                           "min_validator_stake": … (optional, 1),
///                           "incentives": {"emission_per_epoch": …, "emission_halving_epochs": …,
///                                          "node_share_bps": …, "validator_share_bps": …,
///                                          "saturation_stake": …, "probers_per_node": …,
///                                          "probe_target_kbps": …, "probe_target_rtt_ms": …,
///                                          "jail_after_failed_epochs": …} (optional; each field
///                                          optional, docs/incentives.md)}}
struct Genesis {
    std::uint64_t chain_id = default_chain_id;
    std::uint64_t time_unix = 0;
    std::vector<crypto::Address> validators;
    std::vector<std::pair<crypto::Address, std::uint64_t>> balances;
    /// Blocks per epoch are params.epoch_blocks (0: one epoch): consensus
    /// runs one engine per epoch and the epoch is in every vote's domain.
    /// With params.validator_slots > 0, bonds choose each next epoch's set.
    Params params;
    /// The bond each genesis validator starts with (part of the supply).
    std::uint64_t validator_stake = 0;

    static util::Result<Genesis, std::string> from_json(std::string_view text);
    std::string to_json() const;
    /// The state and the header of block 0 (its certificate is empty: genesis is trusted).
    util::Result<State, std::string> state() const;
    Header header(const State& genesis_state) const;
};

/// The genesis' "incentives" object (every field; the RPC adds fund_share_bps).
boost::json::object incentives_to_json(const IncentiveParams& p);

enum class BlockError {
    wrong_chain,
    wrong_height,
    wrong_parent,
    wrong_view,
    time_went_backwards,
    bad_tx_root,
    transaction_rejected,
    bad_state_root,
    bad_certificate,
    bad_parent_certificate,
};
std::string_view describe(BlockError e);

/// Validates `block` on top of `parent` (whose state is `state`) and, when
/// valid, advances `state` to it. Every transaction must apply; the roots
/// must match and the certificate must carry a quorum of the set `state`
/// holds for the block's epoch.
util::Result<void, BlockError> apply_block(State& state, const Header& parent, const Block& block);

/// The same checks without the certificate: what a validator runs on a
/// proposal before anyone has certified it. With `known`, transactions the
/// mempool already admitted skip the signature recovery (their sender is
/// known for those exact signed bytes).
util::Result<void, BlockError> execute_block(State& state, const Header& parent, const Block& block,
                                             const Mempool* known = nullptr);

/// Builds the next block from the mempool (transactions that fail are left
/// out) for consensus view `view`, carrying `parent_certificate` (the
/// certificate the leader holds for `parent`; dropped when the block starts
/// a new epoch, see ParentCertificate), without a certificate of its own.
std::pair<Block, State> build_unsigned_block(const State& state, const Header& parent, const Mempool& mempool,
                                             std::uint64_t time_unix, const crypto::Address& proposer,
                                             std::uint64_t view, std::size_t max_txs = max_block_txs,
                                             ParentCertificate parent_certificate = {});

/// Builds the next block (view = parent's + 1) from the mempool
/// (transactions that fail are left out), signs its finalization as
/// validator 0 with `proposer` (a one-validator chain: tests and benchmarks),
/// carries the parent's finalization by the same key (as a one-validator
/// chain's leader would) and returns it with the state after it.
std::pair<Block, State> build_block(const State& state, const Header& parent, const Mempool& mempool,
                                    std::uint64_t time_unix, const crypto::PrivateKey& proposer,
                                    std::size_t max_txs = max_block_txs);

}  // namespace conet::ledger
