#pragma once
/// The exit's claims of paid usage (docs/incentives.md "Paid usage"): on the
/// ledger sync's thread, each refresh it
///   1. learns the epoch and what the ledger paid of its earlier claims,
///   2. reads the prepaid balance of every payer the exit meters,
///   3. hands both to the meter on the io thread (so the meter's view of
///      what is owed and what the ledger holds always match), and
///   4. sends the receipts the ledger has not paid yet, for the previous and
///      the current epoch, as a usage-claim transaction signed by the
///      operator's wallet (one per round). A receipt the ledger refuses is
///      dropped, or replaced by an earlier one the payer's balance still pays.
/// The meter lives on the io thread; every touch of it is posted there.

#include <map>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "conet/crypto/keys.hpp"
#include "conet/ledger/usage.hpp"
#include "conet/relay/usage_meter.hpp"
#include "conet/rpc/client.hpp"

namespace conet::node {

class UsageClaimer {
public:
    UsageClaimer(boost::asio::io_context& io, relay::UsageMeter& meter, crypto::PrivateKey wallet,
                 std::uint64_t chain_id, std::uint64_t fee = 1);
    /// One round against the validator at `url` (blocking; the sync's thread).
    void refresh(const std::string& url, const rpc::CallOptions& call);

private:
    /// Runs `f` on the io thread and waits for it (false: the io thread did
    /// not answer, or the sync is stopping).
    template <class F>
    bool on_io(const rpc::CallOptions& call, F f);
    void send_claims(const std::string& url, const rpc::CallOptions& call, std::uint64_t epoch);

    boost::asio::io_context& m_io;
    relay::UsageMeter& m_meter;
    crypto::PrivateKey m_wallet;
    std::uint64_t m_chain_id;
    std::uint64_t m_fee;
    /// Claims sent and not yet seen included, by transaction id.
    std::map<std::string, ledger::UsageClaimPayload> m_in_flight;
    std::string m_last_warning;
};

}  // namespace conet::node
