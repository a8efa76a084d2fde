#pragma once
/// Transactions (DESIGN §7): chain id, nonce, fee, kind, payload and a
/// recoverable signature over
///   keccak256("CONET/Tx/v1" || u64 chain_id || u64 nonce || u64 fee || u8 kind || bytes payload)
/// The sender is the address the signature recovers to. Payloads are the
/// canonical encodings of the structs below.

#include "conet/ledger/evidence.hpp"
#include "conet/ledger/node_record.hpp"
#include "conet/ledger/rewards.hpp"
#include "conet/ledger/usage.hpp"

namespace conet::ledger {

inline constexpr std::string_view tx_domain = "CONET/Tx/v1";
inline constexpr std::size_t max_tx_payload_bytes = 2048;

enum class TxKind : std::uint8_t {
    transfer = 1,          ///< TransferPayload
    register_node = 2,     ///< NodePayload: add or update the sender's node record
    deregister_node = 3,   ///< NodeKeyPayload
    stake = 4,             ///< StakePayload: bond balance to a node
    unstake = 5,           ///< StakePayload: start unbonding
    deposit = 6,           ///< AmountPayload: balance -> prepaid (usage fees)
    withdraw = 7,          ///< AmountPayload: prepaid -> balance after a delay
    validator_bond = 8,    ///< BondPayload: balance -> the sender's validator bond
    validator_unbond = 9,  ///< AmountPayload: bond -> balance after the unbonding period
    probe_report = 10,     ///< ProbeReportPayload: a prober's measurements of its assigned nodes
    unjail = 11,           ///< NodeKeyPayload: the operator returns a jailed node to service
    evidence = 12,         ///< EvidencePayload: two conflicting votes of one validator (anyone may send)
    grant_propose = 13,    ///< GrantProposal: ask the developer fund to pay for work (anyone may send)
    grant_vote = 14,       ///< GrantVotePayload: a validator approves (or withdraws its approval of) a grant
    usage_claim = 15,      ///< UsageClaimPayload: an exit's operator claims its users' signed receipts
};

/// Longest payload of a transaction of `kind` (a usage claim carries many receipts).
constexpr std::size_t max_payload_bytes(TxKind kind) {
    return kind == TxKind::usage_claim ? max_claim_payload_bytes : max_tx_payload_bytes;
}

/// Longest consensus endpoint ("host:port") a bond may name.
inline constexpr std::size_t max_bond_endpoint_bytes = 255;

struct Transaction {
    std::uint64_t chain_id = 0;
    std::uint64_t nonce = 0;
    std::uint64_t fee = 0;
    TxKind kind = TxKind::transfer;
    util::Bytes payload;
    crypto::Signature signature;

    crypto::Hash256 signing_digest() const;
    void sign(const crypto::PrivateKey& key) { signature = crypto::sign_hash(key, signing_digest()); }
    /// The signer, or an error for a signature that does not recover (or is high-s).
    crypto::KeyResult<crypto::Address> sender() const;
    /// Hash of the whole signed encoding: the transaction's id.
    crypto::Hash256 hash() const;

    void encode(codec::Writer& w) const;
    static codec::Result<Transaction> decode(codec::Reader& r);
};

struct TransferPayload {
    crypto::Address to;
    std::uint64_t amount = 0;
    void encode(codec::Writer& w) const;
    static codec::Result<TransferPayload> decode(codec::Reader& r);
};

struct NodePayload {
    NodeRecord record;
    void encode(codec::Writer& w) const { record.encode(w); }
    static codec::Result<NodePayload> decode(codec::Reader& r);
};

struct NodeKeyPayload {
    crypto::X25519Public node_key{};
    void encode(codec::Writer& w) const { w.fixed(node_key); }
    static codec::Result<NodeKeyPayload> decode(codec::Reader& r);
};

struct StakePayload {
    crypto::X25519Public node_key{};
    std::uint64_t amount = 0;
    void encode(codec::Writer& w) const;
    static codec::Result<StakePayload> decode(codec::Reader& r);
};

/// Bonds `amount` more to the sender's validator stake; a non-empty
/// `endpoint` ("host:port" of its consensus transport) replaces the one held.
struct BondPayload {
    std::uint64_t amount = 0;
    std::string endpoint;
    void encode(codec::Writer& w) const;
    static codec::Result<BondPayload> decode(codec::Reader& r);
};

struct AmountPayload {
    std::uint64_t amount = 0;
    void encode(codec::Writer& w) const { w.u64(amount); }
    static codec::Result<AmountPayload> decode(codec::Reader& r);
};

/// One measured node in a probe report.
struct ProbeEntry {
    crypto::X25519Public node{};
    ProbeResult result;
};

/// A prober's report for `epoch` (the epoch of the block that carries it):
/// u64 epoch | u32 count | (node key | u8 reachable | u32 rtt_ms | u32 throughput_kbps)*.
/// A prober with more nodes than fit one payload sends several reports;
/// each node is reported at most once per prober and epoch.
struct ProbeReportPayload {
    std::uint64_t epoch = 0;
    std::vector<ProbeEntry> entries;
    static constexpr std::size_t entry_bytes = 32 + 1 + 4 + 4;
    static constexpr std::size_t max_entries = (max_tx_payload_bytes - 12) / entry_bytes;
    void encode(codec::Writer& w) const;
    static codec::Result<ProbeReportPayload> decode(codec::Reader& r);
};

/// Longest reference (a commit hash, a URL) a grant proposal may carry.
inline constexpr std::size_t max_grant_reference_bytes = 256;

/// A developer-fund grant: pay `amount` to `recipient` for the work named
/// by `reference`, if validators holding more than 2/3 of the stake approve
/// before the end of epoch `expiry_epoch`.
struct GrantProposal {
    crypto::Address recipient;
    std::uint64_t amount = 0;
    std::string reference;
    std::uint64_t expiry_epoch = 0;
    bool operator==(const GrantProposal&) const = default;
    /// address | u64 amount | text reference | u64 expiry_epoch.
    void encode(codec::Writer& w) const;
    static codec::Result<GrantProposal> decode(codec::Reader& r);
};

/// A validator's vote on grant `id` (the proposing transaction's id).
struct GrantVotePayload {
    crypto::Hash256 id{};
    bool approve = true;
    void encode(codec::Writer& w) const;
    static codec::Result<GrantVotePayload> decode(codec::Reader& r);
};

/// Builds and signs a transaction with the given payload.
template <codec::Encodable P>
Transaction make_transaction(const crypto::PrivateKey& key, std::uint64_t chain_id, std::uint64_t nonce,
                             std::uint64_t fee, TxKind kind, const P& payload) {
    Transaction tx{chain_id, nonce, fee, kind, codec::encode(payload), {}};
    tx.sign(key);
    return tx;
}

}  // namespace conet::ledger
