#pragma once
/// The exit's side of paid usage (docs/incentives.md "Paid usage"), I/O-free:
/// it binds circuits to the wallets whose receipts they carry, counts the
/// bytes each payer's circuits carry, keeps the best receipt of each (payer,
/// entry, epoch), and says when a payer must be cut off: its unreceipted
/// bytes passed the credit limit, or what it owes passed the prepaid balance
/// the ledger last showed. Circuits without a receipt ride the free tier
/// (a token bucket per circuit) when the exit offers one, else they may not
/// open streams. The claims it hands out are what the ledger will pay.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "conet/ledger/usage.hpp"

namespace conet::relay {

__extension__ typedef unsigned __int128 U128;

struct MeterConfig {
    std::uint64_t chain_id = 0;
    crypto::X25519Public exit{};
    /// Base units per MiB (the genesis' usage_price_per_mib); 0: usage is
    /// free, nothing is metered.
    std::uint64_t price_per_mib = 0;
    /// Bytes a payer may have carried beyond its receipts (covers the bytes in
    /// flight in the flow-control windows and between receipts).
    std::uint64_t credit_bytes = 64u << 20;
    /// Free tier for circuits without a receipt: bytes per second each (0: no
    /// free tier; such circuits cannot open streams).
    std::uint64_t free_bytes_per_second = 0;
    std::uint64_t free_burst_bytes = 256u << 10;
};

enum class MeterVerdict {
    ok,
    payment_required,   ///< no receipt (and no free tier), or unreceipted bytes passed the credit
    balance_exhausted,  ///< owes more than the prepaid balance the ledger shows
};

enum class ReceiptError {
    malformed,
    forged,          ///< does not recover, or another payer than the circuit's
    wrong_epoch,     ///< not within one epoch of the exit's view
    went_backwards,  ///< fewer bytes than a receipt already held (harmless, ignored)
    too_many_keys,   ///< the payer already named max_keys_per_payer (epoch, entry) pairs here (ignored)
};
std::string_view describe(ReceiptError e);

class UsageMeter {
public:
    using Clock = std::chrono::steady_clock;
    explicit UsageMeter(MeterConfig config) : m_config(config) {}

    bool enabled() const { return m_config.price_per_mib > 0; }
    const MeterConfig& config() const { return m_config; }

    /// A RECEIPT on circuit `circuit`: the first binds the circuit to its payer.
    util::Result<crypto::Address, ReceiptError> on_receipt(std::uint64_t circuit, util::ByteView body);
    /// Stream payload carried on `circuit` (either direction).
    MeterVerdict on_bytes(std::uint64_t circuit, std::uint64_t n, Clock::time_point now);
    /// May `circuit` open a stream now?
    MeterVerdict admit_stream(std::uint64_t circuit) const;
    /// Free tier: how long `circuit` must pause before it may send more (zero: now).
    Clock::duration free_tier_wait(std::uint64_t circuit, Clock::time_point now) const;
    bool on_free_tier(std::uint64_t circuit) const;
    void circuit_closed(std::uint64_t circuit);

    /// The ledger's view: the current epoch and payers' prepaid balances,
    /// fetched after the claims listed in `settled` were included. A new
    /// epoch forgives each payer's unreceipted bytes (data lost in flight, a
    /// proxy that restarted): at most the credit per epoch.
    void set_epoch(std::uint64_t epoch);
    std::optional<std::uint64_t> epoch() const { return m_epoch; }
    void settle(const std::vector<ledger::UsageClaimPayload>& settled,
                const std::map<crypto::Address, std::uint64_t>& prepaid);
    /// Payers whose balance the ledger should be asked for.
    std::vector<crypto::Address> payers() const;
    /// Claims for `epoch`: every receipt better than what was settled, in
    /// batches that fit a transaction.
    std::vector<ledger::UsageClaimPayload> claims(std::uint64_t epoch) const;
    /// The largest receipt held for (epoch, payer, entry) whose cost beyond
    /// what was settled fits `budget`: when the payer's balance cannot pay the
    /// latest receipt (it spent at other exits too), an earlier one can still
    /// be claimed for what the balance holds.
    std::optional<ledger::ClaimedReceipt> affordable(std::uint64_t epoch, const crypto::Address& payer,
                                                     const crypto::X25519Public& entry, std::uint64_t budget) const;
    /// What claiming `bytes` of (epoch, payer, entry) would cost beyond what was settled.
    std::uint64_t claim_cost(std::uint64_t epoch, const crypto::Address& payer, const crypto::X25519Public& entry,
                             std::uint64_t bytes) const;
    /// Drops a receipt the ledger refused (it will not be claimed again).
    void drop(std::uint64_t epoch, const crypto::Address& payer, const crypto::X25519Public& entry);
    /// Forgets receipts of epochs before `epoch` (they can no longer be claimed).
    void forget_before(std::uint64_t epoch);

    struct PayerView {
        std::uint64_t carried = 0, receipted = 0;
        std::optional<std::uint64_t> prepaid;
        std::uint64_t owed = 0;  ///< base units not yet settled on the ledger
    };
    std::optional<PayerView> payer(const crypto::Address& a) const;
    MeterVerdict verdict(const crypto::Address& a) const;
    std::size_t circuits_bound() const { return m_bound.size(); }

private:
    struct Key {
        std::uint64_t epoch;
        crypto::Address payer;
        crypto::X25519Public entry;
        auto operator<=>(const Key&) const = default;
    };
    struct Best {
        std::uint64_t bytes = 0;
        crypto::Signature signature;
        std::uint64_t settled = 0;  ///< bytes the ledger has been paid for
        /// Earlier receipts (ascending bytes), thinned to at most max_history.
        std::vector<std::pair<std::uint64_t, crypto::Signature>> history;
    };
    static constexpr std::size_t max_history = 64;
    /// (epoch, entry) pairs one payer's receipts may name at this exit.
    static constexpr std::size_t max_keys_per_payer = 16;
    struct Payer {
        std::uint64_t carried = 0;    ///< on circuits bound to it, ever
        std::uint64_t receipted = 0;  ///< sum of the best receipts' bytes
        std::size_t keys = 0;         ///< entries in m_best
        std::optional<std::uint64_t> prepaid;
        std::size_t circuits = 0;
        /// What its best receipts add to what the ledger settled, in base units.
        U128 unsettled_cost = 0;
    };
    struct Free {
        double tokens = 0;
        Clock::time_point last{};
    };
    std::uint64_t owed(const Payer& p) const;
    /// Base units `b` adds to what was settled.
    std::uint64_t unsettled(const Best& b) const;
    /// Sets b.settled, keeping the payer's unsettled cost.
    void set_settled(const crypto::Address& payer, Best& b, std::uint64_t settled);

    MeterConfig m_config;
    std::optional<std::uint64_t> m_epoch;
    std::map<std::uint64_t, crypto::Address> m_bound;
    std::map<std::uint64_t, Free> m_free;
    std::map<crypto::Address, Payer> m_payers;
    std::map<Key, Best> m_best;
};

}  // namespace conet::relay
