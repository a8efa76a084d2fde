#pragma once
/// The simulator's ledger application: blocks are real ledger blocks built
/// from a real mempool of signed transfers and executed on the real State
/// (execute_block: every check but the certificate, which consensus
/// provides), so the simulator runs the ledger under consensus with all its
/// faults. Final blocks are journaled on the node's simulated storage and
/// re-executed from genesis on restart. With epochs the validators bond and
/// unbond through transactions and the ledger picks each epoch's set
/// (validator_slots = the set's size, one key more than seats), which the
/// simulator then runs consensus with.

#include <map>
#include <set>

#include "conet/ledger/candidates.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/relay/usage_meter.hpp"
#include "conet/sim/sim_app.hpp"

namespace conet::sim {

/// What every node of one simulation shares: the genesis and the clients' wallets.
struct LedgerWorld {
    ledger::Genesis genesis;
    ledger::State genesis_state;
    ledger::Header genesis_header;
    std::vector<crypto::PrivateKey> wallets;
    std::vector<crypto::Address> proposers;          ///< one address per validator key, for block headers
    std::vector<crypto::PrivateKey> validator_keys;  ///< their wallets, which bond and unbond
    /// With epochs: relays registered and staked in the genesis state, which
    /// the validators probe (docs/incentives.md); each is down in some epochs
    /// (node_up), and the epochs' rewards must agree with that.
    std::vector<crypto::X25519Public> relays;
    std::vector<crypto::PrivateKey> relay_operators;
    /// With epochs: a user with a prepaid balance whose usage relay 0 (the
    /// exit, through relay 1) claims, now and then with a forged receipt.
    std::optional<crypto::PrivateKey> user;
    /// With epochs: a user with little prepaid (poor_prepaid), whom relay 0's
    /// exit meter serves until its balance runs out (submit_poor_usage).
    std::optional<crypto::PrivateKey> poor_user;
    ledger::Amount128 genesis_supply = 0;
    std::uint64_t seed = 0;
    /// Where the simulated grants pay (an address nobody else uses).
    static const crypto::Address& grant_recipient();
    /// Whether relay `j` serves during `epoch` (down one epoch in four, by the seed).
    bool relay_up(std::size_t j, std::uint64_t epoch) const;

    /// `keys` validator keys; with `epoch_blocks` > 0 the first `seats` are
    /// the genesis set, each bonded with `seat_stake`, and bonds choose the
    /// `seats` validators of every later epoch.
    static LedgerWorld make(std::uint64_t seed, std::uint32_t keys, std::uint32_t seats, std::uint32_t wallets,
                            std::uint64_t epoch_blocks = 0);
    static constexpr std::uint64_t seat_stake = 1'000;
    static constexpr std::uint32_t relay_count = 6;
    static constexpr std::uint64_t emission = 1'000'000;
    static constexpr std::uint64_t user_prepaid = 1'000'000'000;
    static constexpr std::uint64_t usage_price = 1'000;             ///< per MiB
    static constexpr std::uint64_t poor_prepaid = 3 * usage_price;  ///< 3 MiB's worth
    static constexpr std::uint64_t max_real_usage = 97ull << 20;    ///< what the user ever signs in an epoch
};

class LedgerSimApp final : public SimApplication {
public:
    LedgerSimApp(std::uint32_t node, const LedgerWorld& world, FinalizedHook on_finalized, ForkHook on_fork);

    [[nodiscard]] util::Result<void, std::string> open(runtime::Storage& storage) override;
    void submit(std::uint64_t seq) override;
    std::uint64_t height() const override { return m_final_headers.size() - 1; }
    std::optional<Hash256> build_conflicting(const consensus::Proposal& p) override;

    std::optional<consensus::BlockInfo> receive(util::ByteView block) override;
    std::optional<util::Bytes> block(const Hash256& digest) const override;
    std::optional<Hash256> build(std::uint64_t epoch, const consensus::Proposal& p, std::uint64_t unix_ms,
                                 const consensus::Certificate* parent_certificate) override;
    consensus::VerifyResult verify(std::uint64_t epoch, const consensus::Proposal& p) override;
    std::optional<Hash256> finalize(std::uint64_t epoch, const consensus::Certificate& cert) override;
    std::pair<View, Hash256> finalized() const override { return {m_tip_view, m_final_headers.back().hash()}; }
    std::uint64_t epoch() const override;
    std::optional<consensus::Certificate> epoch_end(std::uint64_t epoch) const override;
    /// Called with every validator set this node's ledger stores (at genesis
    /// and at each epoch's last block, on replay too): the set of `epoch`.
    std::function<void(std::uint32_t node, const ledger::ValidatorSet& set)> on_validator_set;
    /// Called once for each validator key this node's final chain slashes (tombstones).
    std::function<void(std::uint32_t node, const crypto::Address& validator)> on_slashed;
    /// Sends the ledger double-sign evidence against key `key`: its two
    /// votes `a` and `b` of `epoch` (which the engine found; the simulator
    /// signs them again with the key's ledger wallet, as for parent
    /// certificates), from this node's validator wallet.
    void report_double_sign(std::uint64_t epoch, std::uint32_t key, const consensus::Subject& a,
                            const consensus::Subject& b);
    /// Called with each epoch's summary as this node's ledger pays it, the
    /// number of validators it paid for their votes, and how many times its
    /// final chain jailed and unjailed relays and paid grants so far.
    std::function<void(std::uint32_t node, const ledger::EpochSummary& paid, std::uint32_t validators_paid,
                       std::uint64_t jailings, std::uint64_t unjailings, std::uint64_t grants_paid)>
        on_epoch_paid;

private:
    ledger::FinalTip tip() const { return {m_final_headers.back(), m_final_state}; }

    std::uint32_t m_node;
    const LedgerWorld& m_world;
    FinalizedHook m_on_finalized;
    ForkHook m_on_fork;
    std::optional<runtime::Journal> m_journal;
    EpochEnds m_epoch_ends;
    ledger::Candidates m_candidates;
    std::map<Hash256, util::Bytes> m_final_blocks;
    std::vector<ledger::Header> m_final_headers;  ///< [0] is genesis
    ledger::State m_final_state;
    View m_tip_view = 0;
    ledger::Mempool m_mempool;
    std::map<std::size_t, std::uint64_t> m_next_nonce;  ///< per wallet, as this node's client knows it
    ledger::Amount128 m_minted = 0;  ///< every epoch's minted amount so far, on this node's final chain

    /// The votes of `cert` (the engine's certificate of the proposal's
    /// parent) as the block carries them; empty when it cannot name them.
    ledger::ParentCertificate parent_certificate(std::uint64_t epoch, const consensus::Proposal& p,
                                                 const consensus::Certificate* cert) const;
    void submit_probe_report(std::uint64_t seq);
    /// Relay 0's exit meter serves the poor user a MiB, takes its receipt and
    /// claims; it must serve exactly while the ledger's balance covers what
    /// the receipts owe, and cut the user off after (node 0 only: one exit).
    void submit_poor_usage();
    std::optional<relay::UsageMeter> m_meter;
    std::map<std::uint64_t, std::uint64_t> m_poor_receipted;  ///< by epoch: bytes the poor user signed for
    std::uint64_t m_poor_unreceipted = 0;                     ///< carried this epoch after the exit cut it off

public:
    /// Steps in which the exit refused the poor user for want of balance.
    std::uint64_t cut_offs() const { return m_cut_offs; }

private:
    std::uint64_t m_cut_offs = 0;
    /// Operators unjail their jailed relays once they serve again.
    void submit_unjails();
    /// Validators propose developer-fund grants and approve the open one.
    void submit_grant_step(std::uint64_t seq);
    /// After every final block: grants are paid once, only with > 2/3 of the
    /// seats approving, and the recipient holds exactly what they paid.
    std::string check_grants(const ledger::State& before, const ledger::State& after);
    std::uint64_t m_granted = 0, m_grants_paid = 0;
    std::set<std::size_t> m_jailed;  ///< relays jailed on this node's final chain
    std::uint64_t m_jailings = 0, m_unjailings = 0;
    /// Every fourth report round: a report the ledger must refuse.
    void submit_forged_probe_report(std::uint64_t seq);
    /// After every final block: each relay's reports this epoch are from its
    /// assigned probers and true (forged ones never land). Empty when they hold.
    std::string check_probes(const ledger::State& after) const;
    /// check_votes and check_probes.
    std::string check_block(const ledger::State& before, const ledger::Block& b, const ledger::State& after);
    /// Relay 0's operator claims the user's latest receipt (every fourth
    /// claim carries a forged one instead).
    void submit_usage_claim(std::uint64_t seq);
    std::map<std::uint64_t, std::uint64_t> m_claimed;  ///< usage paid per epoch, as this node's final chain shows
    /// After every final block: claimed usage only grows, never beyond what
    /// the user signed, and the user's prepaid balance fell by exactly its cost.
    std::string check_usage(const ledger::State& after);
    /// The incentive invariants at an epoch's last block: the supply grew by
    /// exactly what was minted, no more than the emission, and a relay that
    /// was down earned nothing. Empty when they hold.
    std::string check_epoch_paid(const ledger::State& after);
    /// After every final block `b` (on `before`, giving `after`): the ledger
    /// counts exactly the votes the blocks' parent certificates carry, and
    /// at an epoch's end pays each validator ⌊pool · votes / Σ votes⌋ and
    /// no validator without votes. Empty when they hold.
    std::string check_votes(const ledger::State& before, const ledger::Block& b, const ledger::State& after);
    std::map<crypto::Address, std::uint64_t> m_votes;  ///< this epoch's, as the final blocks carry them
    std::uint32_t m_validators_paid = 0;               ///< in the epoch check_votes last closed
    std::set<crypto::Address> m_slashed;               ///< tombstoned bonds this node\'s final chain shows
};

}  // namespace conet::sim
