#pragma once
/// Paid usage (docs/incentives.md "Paid usage"): what a user's wallet signs
/// for the bytes an exit carried, how an exit claims them, and the pure
/// arithmetic of the fee. I/O-free.
///
/// A receipt is cumulative: the payer signs, for one exit, one entry and one
/// epoch, the total bytes carried so far,
///   keccak256("CONET/Receipt/v1" || u64 chain_id || exit key || entry key || u64 epoch || u64 bytes)
/// so a later receipt supersedes an earlier one and a lost one costs nothing.
/// The exit claims the latest of each (payer, entry) in a usage-claim
/// transaction; the ledger pays only what exceeds what was claimed before.

#include <optional>
#include <tuple>
#include <vector>

#include "conet/codec/codec.hpp"
#include "conet/crypto/keys.hpp"
#include "conet/crypto/sodium.hpp"
#include "conet/ledger/rewards.hpp"

namespace conet::ledger {

inline constexpr std::string_view receipt_domain = "CONET/Receipt/v1";

/// The signed fields of a receipt.
struct ReceiptFields {
    std::uint64_t chain_id = 0;
    crypto::X25519Public exit{};
    crypto::X25519Public entry{};
    std::uint64_t epoch = 0;
    std::uint64_t bytes = 0;  ///< cumulative: everything carried for this (exit, entry, epoch) so far
    crypto::Hash256 digest() const;
};

/// A receipt as the proxy sends it to its exit (the exit and chain are
/// implicit): u64 epoch | entry key | u64 bytes | signature (65).
struct ReceiptMessage {
    std::uint64_t epoch = 0;
    crypto::X25519Public entry{};
    std::uint64_t bytes = 0;
    crypto::Signature signature;
    static constexpr std::size_t wire_bytes = 8 + 32 + 8 + 65;
    void encode(codec::Writer& w) const;
    static codec::Result<ReceiptMessage> decode(codec::Reader& r);
};

/// One receipt inside a claim: payer address | entry key | u64 bytes | signature.
struct ClaimedReceipt {
    crypto::Address payer;
    crypto::X25519Public entry{};
    std::uint64_t bytes = 0;
    crypto::Signature signature;
    bool operator==(const ClaimedReceipt&) const = default;
    static constexpr std::size_t wire_bytes = 20 + 32 + 8 + 65;
};

/// Longest usage-claim payload (other transactions carry at most max_tx_payload_bytes).
inline constexpr std::size_t max_claim_payload_bytes = 32 * 1024;

/// An exit's claim for epoch `epoch`: exit key | u64 epoch | u32 count | ClaimedReceipt*.
struct UsageClaimPayload {
    crypto::X25519Public exit{};
    std::uint64_t epoch = 0;
    std::vector<ClaimedReceipt> receipts;
    static constexpr std::size_t max_receipts = (max_claim_payload_bytes - 32 - 8 - 4) / ClaimedReceipt::wire_bytes;
    void encode(codec::Writer& w) const;
    static codec::Result<UsageClaimPayload> decode(codec::Reader& r);
};

/// What `bytes` cost at `price_per_mib` base units per MiB, rounded down;
/// nullopt when it does not fit a u64. Claims charge cost(new total) -
/// cost(total claimed before), so rounding follows the cumulative total and a
/// total claimed in many steps costs exactly what it costs in one.
std::optional<std::uint64_t> usage_cost(std::uint64_t bytes, std::uint64_t price_per_mib);

/// A fee split: the protocol's cut (to the developer fund), then the entry's
/// share of the rest, and the exit gets what remains; the parts sum to the fee.
struct UsageSplit {
    std::uint64_t entry = 0;
    std::uint64_t exit = 0;
    std::uint64_t protocol = 0;
};
UsageSplit split_usage_fee(std::uint64_t fee, const IncentiveParams& p);

/// What an exit claimed of one payer's use of one entry in one epoch: a leaf
/// of the state while the epoch can still be claimed (State::usage()).
struct UsageRecord {
    std::uint64_t epoch = 0;
    crypto::X25519Public exit{};
    crypto::Address payer;
    crypto::X25519Public entry{};
    std::uint64_t bytes = 0;  ///< claimed so far
    bool operator==(const UsageRecord&) const = default;
    /// u64 epoch | exit | payer | entry | u64 bytes.
    void encode(codec::Writer& w) const;
    static codec::Result<UsageRecord> decode(codec::Reader& r);
};
/// A usage record's key: u64 epoch (big-endian, so records sort by epoch) |
/// keccak256(exit | payer | entry)[0..24).
using UsageKey = util::ByteArray<32>;
UsageKey usage_record_key(std::uint64_t epoch, const crypto::X25519Public& exit, const crypto::Address& payer,
                          const crypto::X25519Public& entry);
std::uint64_t usage_key_epoch(const UsageKey& k);

}  // namespace conet::ledger
