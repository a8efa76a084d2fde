#include "conet/node/usage_claimer.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <mutex>
#include <regex>

#include <boost/asio/post.hpp>

#include "conet/ledger/state.hpp"
#include "conet/ledger/transaction.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

UsageClaimer::UsageClaimer(boost::asio::io_context& io, relay::UsageMeter& meter, crypto::PrivateKey wallet,
                           std::uint64_t chain_id, std::uint64_t fee)
    : m_io(io), m_meter(meter), m_wallet(std::move(wallet)), m_chain_id(chain_id), m_fee(fee) {}

template <class F>
bool UsageClaimer::on_io(const rpc::CallOptions& call, F f) {
    // `f` refers to the caller's locals: it runs only while the caller waits.
    struct Shared {
        std::mutex mutex;
        bool abandoned = false;
        std::promise<void> done;
    };
    auto shared = std::make_shared<Shared>();
    auto ready = shared->done.get_future();
    boost::asio::post(m_io, [shared, &f] {
        std::lock_guard lock(shared->mutex);
        if (shared->abandoned) return;
        f();
        shared->done.set_value();
    });
    // A stopped io thread never answers: give up rather than hang shutdown.
    for (int i = 0; i < 600; ++i) {
        if (ready.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) return true;
        if (call.cancelled && call.cancelled()) break;
    }
    std::lock_guard lock(shared->mutex);
    if (ready.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return true;
    shared->abandoned = true;
    return false;
}

void UsageClaimer::refresh(const std::string& url, const rpc::CallOptions& call) {
    auto epoch_answer = rpc::call(url, "conet_getEpoch", json::array{}, call);
    if (!epoch_answer) return;
    std::uint64_t epoch = 0;
    try {
        epoch = epoch_answer->at("epoch").to_number<std::uint64_t>();
    } catch (const std::exception&) {
        return;
    }
    // What the ledger paid of the claims that were included: a claim that
    // reverted in its block (its payer spent elsewhere meanwhile) paid nothing,
    // so the ledger's records are asked, not the transactions' status.
    std::vector<ledger::UsageClaimPayload> settled;
    bool waiting = false;
    for (auto it = m_in_flight.begin(); it != m_in_flight.end();) {
        auto st = rpc::call(url, "conet_getTransaction", json::array{json::value(it->first)}, call);
        if (!st) return;
        const json::value* status = st->is_object() ? st->as_object().if_contains("status") : nullptr;
        if (status && *status == "pending") {
            waiting = true;
            ++it;
            continue;
        }
        if (status && *status == "committed") {
            ledger::UsageClaimPayload paid = it->second;
            json::array pairs;
            for (const auto& r : paid.receipts)
                pairs.push_back(json::array{json::value(r.payer.to_string()), json::value(util::to_hex(r.entry))});
            auto usage =
                rpc::call(url, "conet_getUsage",
                          json::array{json::value(util::to_hex(paid.exit)), json::value(paid.epoch), pairs}, call);
            if (!usage) return;
            try {
                const auto& claimed = usage->at("claimed").as_array();
                for (std::size_t i = 0; i < paid.receipts.size() && i < claimed.size(); ++i)
                    paid.receipts[i].bytes = claimed[i].to_number<std::uint64_t>();
            } catch (const std::exception&) {
                return;
            }
            settled.push_back(std::move(paid));
        }
        it = m_in_flight.erase(it);  // settled, or dropped (claimed again below)
    }
    // The payers the meter knows now (a new one must not wait a round for its balance).
    std::vector<crypto::Address> payers;
    if (!on_io(call, [&] { payers = m_meter.payers(); })) return;
    std::map<crypto::Address, std::uint64_t> prepaid;
    for (const auto& a : payers) {
        auto acc = rpc::call(url, "conet_getAccount", json::array{json::value(a.to_string())}, call);
        if (!acc) return;
        try {
            prepaid[a] = acc->at("prepaid").to_number<std::uint64_t>();
        } catch (const std::exception&) {
            return;
        }
    }
    const bool answered = on_io(call, [&] {
        m_meter.set_epoch(epoch);
        m_meter.settle(settled, prepaid);
        if (epoch > 0) m_meter.forget_before(epoch - 1);
    });
    if (!answered) return;
    if (!waiting) send_claims(url, call, epoch);
}

void UsageClaimer::send_claims(const std::string& url, const rpc::CallOptions& call, std::uint64_t epoch) {
    std::vector<ledger::UsageClaimPayload> claims;
    if (!on_io(call, [&] {
            if (epoch > 0)
                for (auto& c : m_meter.claims(epoch - 1)) claims.push_back(std::move(c));
            for (auto& c : m_meter.claims(epoch)) claims.push_back(std::move(c));
        }))
        return;
    if (claims.empty()) return;
    auto acc = rpc::call(url, "conet_getAccount", json::array{json::value(m_wallet.address().to_string())}, call);
    if (!acc) return;
    std::uint64_t nonce = 0;
    try {
        nonce = acc->at("nonce").to_number<std::uint64_t>();
    } catch (const std::exception&) {
        return;
    }
    static const std::regex at_receipt("receipt ([0-9]+): (.*)");
    // One claim per round: the validator tries each claim on its head state
    // before admitting it, and a second one from the same wallet (the next
    // nonce) could not be tried there.
    claims.resize(1);
    for (auto& claim : claims) {
        for (std::size_t attempt = 0; attempt < claim.receipts.size() + 3 && !claim.receipts.empty(); ++attempt) {
            const auto tx =
                ledger::make_transaction(m_wallet, m_chain_id, nonce, m_fee, ledger::TxKind::usage_claim, claim);
            auto sent = rpc::call(url, "conet_sendRawTransaction",
                                  json::array{json::value(util::to_hex_prefixed(codec::encode(tx)))}, call);
            if (sent && sent->is_string()) {
                std::uint64_t bytes = 0;
                for (const auto& r : claim.receipts) bytes += r.bytes;
                spdlog::info("[usage] claimed {} receipts ({} bytes) of epoch {} with tx {}", claim.receipts.size(),
                             bytes, claim.epoch, std::string(sent->get_string()));
                m_in_flight.emplace(std::string(sent->get_string()), claim);
                ++nonce;
                break;
            }
            const std::string why = sent ? "unexpected answer" : sent.error().message;
            std::smatch m;
            if (!std::regex_search(why, m, at_receipt)) {
                if (why != m_last_warning) spdlog::warn("[usage] claim of epoch {} refused: {}", claim.epoch, why);
                m_last_warning = why;
                break;
            }
            const std::size_t i = std::stoul(m[1].str());
            if (i >= claim.receipts.size()) break;
            const auto bad = claim.receipts[i];
            if (m[2].str() == ledger::describe(ledger::TxError::over_balance)) {
                // The payer spent at other exits too: claim the largest earlier
                // receipt its balance still pays, net of its other receipts here.
                auto payer = rpc::call(url, "conet_getAccount", json::array{json::value(bad.payer.to_string())}, call);
                std::optional<ledger::ClaimedReceipt> alt;
                if (payer && payer->is_object() && payer->as_object().contains("prepaid")) {
                    // What a claim can take: the prepaid balance and withdrawals under way.
                    std::uint64_t prepaid = payer->at("prepaid").to_number<std::uint64_t>();
                    if (const auto* w = payer->as_object().if_contains("withdrawing"))
                        prepaid += w->to_number<std::uint64_t>();
                    on_io(call, [&] {
                        std::uint64_t others = 0;
                        for (std::size_t j = 0; j < claim.receipts.size(); ++j)
                            if (j != i && claim.receipts[j].payer == bad.payer)
                                others += m_meter.claim_cost(claim.epoch, bad.payer, claim.receipts[j].entry,
                                                             claim.receipts[j].bytes);
                        alt = m_meter.affordable(claim.epoch, bad.payer, bad.entry,
                                                 prepaid > others ? prepaid - others : 0);
                    });
                }
                if (alt && alt->bytes < bad.bytes) {
                    spdlog::warn(
                        "[usage] {} cannot pay for {} bytes (epoch {}): claiming {} bytes, what its balance "
                        "holds",
                        bad.payer.to_string(), bad.bytes, claim.epoch, alt->bytes);
                    claim.receipts[i] = *alt;
                    continue;
                }
            }
            spdlog::warn("[usage] the ledger refused the receipt of {} (epoch {}): {}; it is dropped",
                         bad.payer.to_string(), claim.epoch, m[2].str());
            on_io(call, [&] { m_meter.drop(claim.epoch, bad.payer, bad.entry); });
            claim.receipts.erase(claim.receipts.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
}

}  // namespace conet::node
