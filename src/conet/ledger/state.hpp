#pragma once
/// The ledger state machine (I/O-free): accounts, node registry, stakes with
/// an unbonding period, prepaid balances with a withdrawal delay, validator
/// bonds and the validator set (recomputed from the bonds at each epoch's
/// last block, docs/consensus.md "Validator set changes"). All
/// arithmetic is checked; an invalid transaction is rejected with a reason and
/// changes nothing. Fees go to the block's proposer, so the total supply is
/// conserved by every transaction.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "conet/ledger/block.hpp"
#include "conet/ledger/rewards.hpp"
#include "conet/ledger/smt.hpp"
#include "conet/ledger/transaction.hpp"

namespace conet::ledger {

inline constexpr std::uint64_t base_units_per_conet = 1'000'000;

/// Sums of u64 amounts (total supply) are held without overflow in 128 bits.
__extension__ typedef unsigned __int128 Amount128;

struct Params {
    std::uint64_t min_fee = 1;                 ///< base units per transaction
    std::uint64_t unbonding_blocks = 100;      ///< unstaked funds return after this many blocks
    std::uint64_t withdraw_delay_blocks = 10;  ///< prepaid withdrawals return after this many blocks
    std::size_t max_nodes_per_operator = 64;
    /// Blocks per epoch (0: one epoch for ever). The validator set changes
    /// only at an epoch's last block.
    std::uint64_t epoch_blocks = 0;
    /// Seats in the validator set; 0 keeps the genesis set for ever (and
    /// refuses validator bonds).
    std::uint64_t validator_slots = 0;
    /// Least bond that can take a seat.
    std::uint64_t min_validator_stake = 1;
    /// Probes, scores, emission and rewards (docs/incentives.md); they run
    /// at epoch ends, so only with epoch_blocks > 0.
    IncentiveParams incentives;
    void encode(codec::Writer& w) const;
    static codec::Result<Params> decode(codec::Reader& r);
};

struct Account {
    std::uint64_t balance = 0;
    std::uint64_t nonce = 0;  ///< the next transaction's nonce
    std::uint64_t prepaid = 0;
    bool operator==(const Account&) const = default;
    /// u64 balance | u64 nonce | u64 prepaid (hashed into the state root, stored per entry).
    void encode(codec::Writer& w) const;
    static codec::Result<Account> decode(codec::Reader& r);
};

/// A node's measured service (docs/incentives.md): this epoch's probe
/// reports, the last epoch's score and reward, and its jail state.
struct NodeService {
    std::uint64_t probe_epoch = 0;                                ///< the epoch `probes` belong to
    std::vector<std::pair<crypto::Address, ProbeResult>> probes;  ///< by prober, in arrival order
    std::uint64_t scored_epoch = 0;  ///< the epoch of the fields below (valid when `scored`)
    bool scored = false;
    std::uint32_t reports = 0;        ///< probe reports behind the score (0: unmeasured)
    std::uint32_t score_bps = 0;      ///< their lower median
    std::uint64_t reward = 0;         ///< this node's share of that epoch's node pool
    std::uint32_t failed_epochs = 0;  ///< consecutive measured epochs scored `fail`
    bool jailed = false;              ///< earns nothing and is not probed until unjailed
    /// The stake at the start of the epoch being measured: the epoch pays on
    /// the smaller of it and the stake at the end, so stake added just before
    /// the payout earns nothing that epoch.
    std::uint64_t epoch_start_stake = 0;
    bool operator==(const NodeService&) const = default;
    void encode(codec::Writer& w) const;
    static codec::Result<NodeService> decode(codec::Reader& r);
};

struct NodeEntry {
    NodeRecord record;
    std::uint64_t stake = 0;
    NodeService service;
    /// NodeRecord | u64 stake | NodeService.
    void encode(codec::Writer& w) const;
    static codec::Result<NodeEntry> decode(codec::Reader& r);
};

/// A validator's bond: stake and where its consensus transport listens.
struct ValidatorBond {
    std::uint64_t stake = 0;
    /// "host:port"; empty for a genesis validator that has not named one
    /// (it is reached through the nodes' `validator_peers`).
    std::string endpoint;
    /// Slashed for double-signing: never seated again, cannot bond more (the
    /// entry stays, even at stake 0, so the key cannot start over).
    bool tombstoned = false;
    bool operator==(const ValidatorBond&) const = default;
    /// u64 stake | text endpoint | u8 tombstoned.
    void encode(codec::Writer& w) const;
    static codec::Result<ValidatorBond> decode(codec::Reader& r);
};

/// Who validates `epoch`, by index: the set stored in the state after a
/// block is the set of the next block's epoch.
struct ValidatorSet {
    std::uint64_t epoch = 0;
    std::vector<crypto::Address> members;
    bool operator==(const ValidatorSet&) const = default;
    /// u64 epoch | u32 count | address*.
    void encode(codec::Writer& w) const;
    static codec::Result<ValidatorSet> decode(codec::Reader& r);
};

/// One epoch's distribution as the ledger recorded it (`conet query epoch`).
struct EpochSummary {
    std::uint64_t epoch = 0;
    std::uint64_t emission = 0;
    std::uint64_t node_pool = 0;
    std::uint64_t validator_pool = 0;
    std::uint64_t fund = 0;
    std::uint64_t minted = 0;  ///< what was paid out of `emission` (rounding and empty pools are not minted)
    std::uint32_t nodes_measured = 0;
    std::uint32_t nodes_paid = 0;
    bool operator==(const EpochSummary&) const = default;
    void encode(codec::Writer& w) const;
    static codec::Result<EpochSummary> decode(codec::Reader& r);
};

/// The incentive protocol's clock: the epoch of the next block, the seed of
/// its prober assignment and the last epoch paid.
struct EpochInfo {
    std::uint64_t epoch = 0;
    crypto::Hash256 seed{};  ///< epoch 0: zero; then the hash of the epoch before's second-to-last block
    std::optional<EpochSummary> last;
    /// The votes each validator cast that this epoch's blocks carry in their
    /// parent certificates so far, sorted by address (the validator pool's
    /// weights at the epoch's end). Encoded after `last` as u32 count | (address | u64)*.
    std::vector<std::pair<crypto::Address, std::uint64_t>> votes;
    bool operator==(const EpochInfo&) const = default;
    void encode(codec::Writer& w) const;
    static codec::Result<EpochInfo> decode(codec::Reader& r);
};

/// The latest reward an address received, and in which epoch.
struct RewardRecord {
    std::uint64_t epoch = 0;
    std::uint64_t node_reward = 0;
    std::uint64_t validator_reward = 0;
    std::uint64_t fund_reward = 0;  ///< only the developer fund's address
    bool operator==(const RewardRecord&) const = default;
    void encode(codec::Writer& w) const;
    static codec::Result<RewardRecord> decode(codec::Reader& r);
};

/// A grant proposal on the ledger and where it stands.
struct Grant {
    enum class Status : std::uint8_t { open = 0, paid = 1, expired = 2 };
    GrantProposal proposal;
    crypto::Address proposer;
    std::uint64_t proposed_epoch = 0;
    std::vector<crypto::Address> approvals;  ///< validators that approve, sorted
    Status status = Status::open;
    std::uint64_t closed_epoch = 0;  ///< when it was paid or expired
    bool operator==(const Grant&) const = default;
    /// proposal | proposer | u64 proposed_epoch | u32 n | address* | u8 status | u64 closed_epoch.
    void encode(codec::Writer& w) const;
    static codec::Result<Grant> decode(codec::Reader& r);
};
std::string_view grant_status_name(Grant::Status s);

/// At most this many grants may be open at once (each costs its proposer a fee).
inline constexpr std::size_t max_open_grants = 256;
/// A grant's expiry is at most this many epochs after the one it is proposed in.
inline constexpr std::uint64_t max_grant_epochs = 1'000;

/// The developer fund's account: an address nobody holds a key for
/// (keccak256("CONET/DeveloperFund/v1")[12..]); grants spend it.
const crypto::Address& developer_fund_address();

/// Funds on their way back to an account's balance (unbonding, withdrawals).
struct Pending {
    crypto::Address owner;
    std::uint64_t amount = 0;
    std::uint64_t release_height = 0;
    /// Unbonding validator stake: double-sign evidence can still slash it.
    bool validator_bond = false;
    /// A prepaid withdrawal: usage claims can still take from it until it is released.
    bool withdrawal = false;
    bool operator==(const Pending&) const = default;
};

/// The pending list: u32 count | (address | u64 amount | u64 release_height | u8 kind)*
/// (kind: 0 unstaked, 1 validator bond, 2 prepaid withdrawal).
void encode_pending(codec::Writer& w, const std::vector<Pending>& pending);
codec::Result<std::vector<Pending>> decode_pending(codec::Reader& r);

enum class TxError {
    wrong_chain,
    bad_signature,
    bad_nonce,
    fee_too_low,
    insufficient_funds,
    malformed_payload,
    zero_amount,
    overflow,
    bad_record,  ///< the node record does not verify or is not the sender's
    unknown_node,
    not_operator,
    too_many_nodes,
    insufficient_stake,
    bad_endpoint,         ///< a bond's endpoint is not host:port
    validator_set_fixed,  ///< bonds on a chain whose genesis has no validator slots
    incentives_off,       ///< probe reports on a chain without epochs
    wrong_epoch,          ///< a probe report for another epoch than the block's
    not_a_prober,         ///< the sender is not assigned to probe this node this epoch
    duplicate_report,     ///< this prober already reported this node this epoch
    node_jailed,          ///< jailed nodes are not probed
    not_jailed,
    bad_evidence,     ///< the votes are not double-sign evidence
    not_a_validator,  ///< evidence against a key with no bond
    already_slashed,  ///< evidence against, or a bond by, a validator already slashed
    bad_grant,        ///< a zero amount, or an expiry already past
    too_many_grants,  ///< max_open_grants are open
    unknown_grant,
    grant_closed,       ///< the grant was paid or has expired
    not_in_set,         ///< a grant vote from outside the current validator set
    usage_off,          ///< a usage claim on a chain without a usage price
    not_an_exit,        ///< a usage claim for a node whose record does not offer exit
    forged_receipt,     ///< a receipt's signature is not its payer's for this exit, entry and epoch
    duplicate_receipt,  ///< a claim names one (payer, entry) twice
    replayed_receipt,   ///< a receipt claims no more bytes than were already claimed
    over_balance,       ///< a receipt costs more than its payer's prepaid balance holds
};
std::string_view describe(TxError e);

/// A transaction that passed the checks that make it payable (chain,
/// signature, nonce, fee) is applied: it pays its fee and uses its nonce. When
/// its effect then fails, the effect is reverted and `reverted` says why.
struct Applied {
    std::optional<TxError> reverted;
    std::optional<std::size_t> receipt;  ///< a usage claim's receipt that caused `reverted`
};

/// Accounts by address, shared between copies of a state (trie.hpp).
using AccountTrie = trie::Trie<20, Account>;
/// Claimed usage by usage_record_key, shared between copies likewise.
using UsageTrie = trie::Trie<32, UsageRecord>;

struct BlockContext {
    std::uint64_t height = 0;
    std::uint64_t time_unix = 0;
    crypto::Address proposer;
    crypto::Hash256 parent{};  ///< the parent block's hash (seeds the next epoch's probe assignment)
};

class State {
public:
    State(std::uint64_t chain_id, Params params);

    /// Genesis: credit an account (fails on overflow).
    [[nodiscard]] util::Result<void, TxError> credit(const crypto::Address& a, std::uint64_t amount);
    /// Genesis: the first validator set (epoch 0) and its members' bonds (none when `stake` is 0).
    void set_genesis_validators(const std::vector<crypto::Address>& validators, std::uint64_t stake);

    /// Applies one transaction. An error (wrong chain, bad signature, wrong
    /// nonce, fee too low or not covered by the balance) changes nothing. A
    /// payable transaction whose effect fails pays its fee, advances the nonce
    /// and is reported as reverted, so a block may carry it and a mempool can
    /// drop it. `known_sender` skips signature recovery when the caller already
    /// did it (the mempool recovered it at admission).
    [[nodiscard]] util::Result<Applied, TxError> apply(const Transaction& tx, const BlockContext& block,
                                                       const crypto::Address* known_sender = nullptr);
    /// The checks apply() makes before the effect (nonce, fee, balance for the
    /// fee), for a sender already recovered: when they fail, the transaction
    /// cannot be in a block on top of this state.
    [[nodiscard]] util::Result<void, TxError> check_payable(const Transaction& tx, const crypto::Address& sender) const;
    /// The checks a probe report's effect makes, in a block at `height` on
    /// top of this state (RPC admission uses it to refuse a report with its
    /// reason; a block that carries a refused report reverts it, fee paid).
    [[nodiscard]] util::Result<ProbeReportPayload, TxError> check_probe_report(const Transaction& tx,
                                                                               const crypto::Address& sender,
                                                                               std::uint64_t height) const;
    /// A usage claim's payments: prepaid debits, balance credits and the
    /// exit's new claimed-usage records; or the error and the receipt at fault.
    struct UsagePlan {
        std::map<crypto::Address, std::uint64_t> debits;   ///< from prepaid, then from withdrawals under way
        std::map<crypto::Address, std::uint64_t> credits;  ///< to balance
        std::map<UsageKey, UsageRecord> records;           ///< new and raised
    };

    struct UsageRefusal {
        TxError error;
        std::optional<std::size_t> receipt;
    };
    /// Verifies a usage claim in a block at `height` on top of this state:
    /// every receipt's signature, payer, epoch, replay and the payers'
    /// balances (apply() carries out the plan; the RPC refuses with it).
    /// When a prepaid withdrawal made at `height` returns to the balance:
    /// `withdraw_delay_blocks` later, and with paid usage no earlier than the
    /// next epoch's last block, so every receipt signed before it can still
    /// be claimed from it.
    std::uint64_t withdrawal_release_height(std::uint64_t height) const;
    /// What usage claims can take from `payer`: its prepaid balance and its withdrawals under way.
    std::uint64_t claimable(const crypto::Address& payer) const;
    [[nodiscard]] util::Result<UsagePlan, UsageRefusal> plan_usage_claim(const Transaction& tx,
                                                                         const crypto::Address& from,
                                                                         std::uint64_t height) const;
    /// Releases pending funds whose release height has come and, at an
    /// epoch's last block, scores the epoch's probe reports, pays the epoch's
    /// rewards (docs/incentives.md) and stores the next epoch's validator set:
    /// the `validator_slots` largest bonds of at least `min_validator_stake`
    /// (ties by address), ordered by address; the same members when nobody
    /// qualifies or the chain has no slots.
    void end_block(const BlockContext& block);
    /// Counts one vote for each member of the current set named by `votes`
    /// (a block's parent certificate, already verified).
    void count_votes(const std::vector<CertificateVote>& votes);

    /// Everything that exists: balances, prepaid, stakes, bonds and pending
    /// funds. Transactions conserve it; epoch ends add what they mint.
    Amount128 total_supply() const;
    /// Root of a sparse Merkle tree over every account, node and pending entry.
    /// The tree is kept up to date by every change; the root rehashes only
    /// what changed since it was last asked.
    crypto::Hash256 state_root() const { return m_tree.root(); }
    /// The committed tree (for proofs): keys and value hashes.
    const SparseMerkleTree& tree() const { return m_tree; }
    static crypto::Hash256 account_key(const crypto::Address& a);
    static crypto::Hash256 node_key(const crypto::X25519Public& k);
    static crypto::Hash256 pending_key();
    static crypto::Hash256 bond_key(const crypto::Address& a);
    static crypto::Hash256 validator_set_key();
    static crypto::Hash256 epoch_key();
    static crypto::Hash256 reward_key(const crypto::Address& a);
    static crypto::Hash256 grant_key(const crypto::Hash256& id);
    static crypto::Hash256 usage_key(const UsageKey& k);
    static crypto::Hash256 usage_value_hash(const UsageRecord& u);
    static crypto::Hash256 account_value_hash(const Account& a);
    static crypto::Hash256 node_value_hash(const NodeEntry& n);
    static crypto::Hash256 pending_value_hash(const std::vector<Pending>& pending);
    static crypto::Hash256 bond_value_hash(const ValidatorBond& b);
    static crypto::Hash256 validator_set_value_hash(const ValidatorSet& s);
    static crypto::Hash256 epoch_value_hash(const EpochInfo& e);
    static crypto::Hash256 reward_value_hash(const RewardRecord& r);
    static crypto::Hash256 grant_value_hash(const Grant& g);

    /// Canonical snapshot of the whole state (tests and fuzzing; the block
    /// store keeps one entry per account and node instead, see store.cpp).
    void encode(codec::Writer& w) const;
    static codec::Result<State> decode(codec::Reader& r);
    /// Everything but the accounts, for restore().
    struct Parts {
        std::map<crypto::X25519Public, NodeEntry> nodes;
        std::vector<Pending> pending;
        std::map<crypto::Address, ValidatorBond> bonds;
        ValidatorSet validator_set;
        EpochInfo epoch;
        std::map<crypto::Address, RewardRecord> rewards;
        std::map<crypto::Hash256, Grant> grants;
        std::vector<std::pair<UsageKey, UsageRecord>> usage;  ///< sorted by key
    };
    /// Rebuilds a state from its parts, hashing every entry into a new tree.
    static State restore(std::uint64_t chain_id, Params params, std::map<crypto::Address, Account> accounts,
                         Parts parts);
    /// Rebuilds a state from its parts and a tree loaded from the store, which
    /// it trusts to commit to them (the store wrote both in one batch); only
    /// the number of leaves is checked. Nothing is hashed.
    static std::optional<State> restore(std::uint64_t chain_id, Params params, AccountTrie accounts, Parts parts,
                                        SparseMerkleTree tree);

    const Account* account(const crypto::Address& a) const { return m_accounts.find(a.bytes); }
    const NodeEntry* node(const crypto::X25519Public& key) const;
    const AccountTrie& accounts() const { return m_accounts; }
    const std::map<crypto::X25519Public, NodeEntry>& nodes() const { return *m_nodes; }
    const std::vector<Pending>& pending() const { return m_pending; }
    const ValidatorBond* bond(const crypto::Address& a) const;
    const std::map<crypto::Address, ValidatorBond>& bonds() const { return *m_bonds; }
    /// The set of the next block's epoch.
    const ValidatorSet& validator_set() const { return m_validator_set; }
    const EpochInfo& epoch_info() const { return m_epoch; }
    const RewardRecord* reward(const crypto::Address& a) const;
    const std::map<crypto::Address, RewardRecord>& rewards() const { return *m_rewards; }
    const Grant* grant(const crypto::Hash256& id) const;
    const std::map<crypto::Hash256, Grant>& grants() const { return *m_grants; }
    /// Usage claimed in the epochs that can still be claimed (the current and the previous).
    const UsageTrie& usage() const { return m_usage; }
    const UsageRecord* usage_record(std::uint64_t epoch, const crypto::X25519Public& exit, const crypto::Address& payer,
                                    const crypto::X25519Public& entry) const {
        return m_usage.find(usage_record_key(epoch, exit, payer, entry));
    }
    /// Approving validators and voting validators for `g`: one vote per
    /// member of the current set, tombstoned members excluded.
    std::pair<std::size_t, std::size_t> grant_support(const Grant& g) const;
    std::uint64_t chain_id() const { return m_chain_id; }
    const Params& params() const { return m_params; }

private:
    void put_account(const crypto::Address& a, const Account& acc);
    void put_node(const crypto::X25519Public& key, NodeEntry entry);
    void erase_node(const crypto::X25519Public& key);
    void set_pending(std::vector<Pending> pending);
    void put_bond(const crypto::Address& a, ValidatorBond bond);
    void set_validator_set(ValidatorSet set);
    std::map<crypto::X25519Public, NodeEntry>& nodes_for_write();
    ValidatorSet next_validator_set(std::uint64_t epoch) const;
    void set_epoch_info(EpochInfo info);
    void put_reward(const crypto::Address& a, RewardRecord r);
    void put_grant(const crypto::Hash256& id, Grant g);
    void put_usage(const UsageKey& k, const UsageRecord& u);
    /// Drops the usage records of epochs before `epoch` (no longer claimable).
    void prune_usage(std::uint64_t epoch);
    /// Pays `g` from the developer fund when more than 2/3 of the set's stake approves and the fund holds it.
    void settle_grant(const crypto::Hash256& id, std::uint64_t epoch);
    /// Scores epoch `epoch`'s probe reports and pays its rewards (its last block).
    void close_epoch(std::uint64_t epoch, const BlockContext& block);
    [[nodiscard]] util::Result<std::function<void()>, TxError> probe_report_effect(const Transaction& tx,
                                                                                   const crypto::Address& from,
                                                                                   const BlockContext& block);

    std::uint64_t m_chain_id;
    Params m_params;
    // Copying a state (every block is built and checked on a copy) must not
    // cost O(accounts): accounts and the tree share nodes between copies, the
    // node registry is shared until one copy changes it.
    AccountTrie m_accounts;
    std::shared_ptr<std::map<crypto::X25519Public, NodeEntry>> m_nodes;
    std::vector<Pending> m_pending;
    std::shared_ptr<std::map<crypto::Address, ValidatorBond>> m_bonds;
    ValidatorSet m_validator_set;
    EpochInfo m_epoch;
    std::shared_ptr<std::map<crypto::Address, RewardRecord>> m_rewards;
    std::shared_ptr<std::map<crypto::Hash256, Grant>> m_grants;
    UsageTrie m_usage;
    SparseMerkleTree m_tree;
};

}  // namespace conet::ledger
