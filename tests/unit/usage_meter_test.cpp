// The exit's usage meter (relay/usage_meter.hpp), on simulated time: a
// receipt binds a circuit to its payer; a payer past its credit or its
// prepaid balance is cut off; a receipt of another payer on a bound circuit,
// or for another exit, is refused; circuits without receipts ride a token
// bucket or are refused; claims hold the best receipt of each (payer, entry,
// epoch), and an earlier one when the balance cannot pay the latest.
#include "conet/relay/usage_meter.hpp"

#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"

namespace conet::relay {
namespace {

constexpr std::uint64_t MiB = 1u << 20;
constexpr std::uint64_t chain = 3;
using Clock = UsageMeter::Clock;

struct Fixture {
    crypto::SeededRng rng{11};
    crypto::PrivateKey user = crypto::PrivateKey::generate(rng);
    crypto::PrivateKey other = crypto::PrivateKey::generate(rng);
    crypto::X25519Public exit = crypto::X25519KeyPair::generate(rng).public_key;
    crypto::X25519Public entry = crypto::X25519KeyPair::generate(rng).public_key;
    Clock::time_point t0{};

    MeterConfig config(std::uint64_t free_rate = 0) const {
        MeterConfig c;
        c.chain_id = chain;
        c.exit = exit;
        c.price_per_mib = 100;
        c.credit_bytes = 4 * MiB;
        c.free_bytes_per_second = free_rate;
        c.free_burst_bytes = 64 * 1024;
        return c;
    }
    util::Bytes receipt(const crypto::PrivateKey& payer, std::uint64_t bytes, std::uint64_t epoch = 5,
                        const crypto::X25519Public* to_exit = nullptr) const {
        const ledger::ReceiptFields f{chain, to_exit ? *to_exit : exit, entry, epoch, bytes};
        return codec::encode(ledger::ReceiptMessage{epoch, entry, bytes, crypto::sign_hash(payer, f.digest())});
    }
};

TEST(UsageMeter, CircuitsWithoutAReceiptAreRefusedWhenThereIsNoFreeTier) {
    Fixture f;
    UsageMeter m(f.config());
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::payment_required);
    EXPECT_EQ(m.on_bytes(1, 10, f.t0), MeterVerdict::payment_required);
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 0)));
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::ok);
    // Usage at a free exit is not metered at all.
    MeterConfig free = f.config();
    free.price_per_mib = 0;
    EXPECT_EQ(UsageMeter(free).admit_stream(9), MeterVerdict::ok);
}

TEST(UsageMeter, APayerPastItsCreditIsCutOffUntilItsReceiptsCatchUp) {
    Fixture f;
    UsageMeter m(f.config());
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 0)));
    m.settle({}, {{f.user.address(), 1'000'000}});              // the balance is no limit here
    EXPECT_EQ(m.on_bytes(1, 4 * MiB, f.t0), MeterVerdict::ok);  // exactly the credit
    EXPECT_EQ(m.on_bytes(1, 1, f.t0), MeterVerdict::payment_required);
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::payment_required);
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 3 * MiB)));
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::ok);
    // A second circuit of the same payer shares its account.
    ASSERT_TRUE(m.on_receipt(2, f.receipt(f.user, 3 * MiB)));
    EXPECT_EQ(m.on_bytes(2, 3 * MiB - 1, f.t0), MeterVerdict::ok);  // 4 MiB unreceipted, the credit
    EXPECT_EQ(m.on_bytes(2, 1, f.t0), MeterVerdict::payment_required);
    const auto view = m.payer(f.user.address());
    ASSERT_TRUE(view);
    EXPECT_EQ(view->carried, 7 * MiB + 1);
    EXPECT_EQ(view->receipted, 3 * MiB);
}

TEST(UsageMeter, UntilTheLedgerShowsTheBalanceAPayerGetsTheCreditsWorth) {
    Fixture f;
    UsageMeter m(f.config());
    // A fresh wallet with nothing deposited signs a receipt for a petabyte: the
    // credit check passes, the balance is not known yet, and yet it is refused.
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 1ull << 50)));
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::payment_required);
    // An honest newcomer is served up to the credit (4 MiB at 100 per MiB: 400).
    ASSERT_TRUE(m.on_receipt(2, f.receipt(f.other, 0)));
    EXPECT_EQ(m.on_bytes(2, 4 * MiB, f.t0), MeterVerdict::ok);
    ASSERT_TRUE(m.on_receipt(2, f.receipt(f.other, 4 * MiB)));
    EXPECT_EQ(m.on_bytes(2, MiB, f.t0), MeterVerdict::payment_required);  // owes 500
    m.settle({}, {{f.other.address(), 10'000}, {f.user.address(), 0}});
    EXPECT_EQ(m.admit_stream(2), MeterVerdict::ok);
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::balance_exhausted);
}

TEST(UsageMeter, ANewEpochForgivesUnreceiptedBytesButNotWhatReceiptsOwe) {
    Fixture f;
    UsageMeter m(f.config());
    m.set_epoch(5);
    m.settle({}, {{f.user.address(), 1'000'000}});
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 0)));
    EXPECT_EQ(m.on_bytes(1, 5 * MiB, f.t0), MeterVerdict::payment_required);  // its proxy restarted, say
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::payment_required);
    m.set_epoch(6);
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::ok);
    EXPECT_EQ(m.payer(f.user.address())->carried, 0u);
}

TEST(UsageMeter, APayerNamesAtMostSixteenEntriesAndEmptyReceiptsHoldNothing) {
    Fixture f;
    UsageMeter m(f.config());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 0)));
    EXPECT_TRUE(m.claims(5).empty());
    for (std::size_t i = 0; i < 16; ++i) {
        const auto entry = crypto::X25519KeyPair::generate(f.rng).public_key;
        const ledger::ReceiptFields fields{chain, f.exit, entry, 5, MiB};
        ASSERT_TRUE(m.on_receipt(
            1, codec::encode(ledger::ReceiptMessage{5, entry, MiB, crypto::sign_hash(f.user, fields.digest())})));
    }
    auto more = m.on_receipt(1, f.receipt(f.user, MiB));
    ASSERT_FALSE(more);
    EXPECT_EQ(more.error(), ReceiptError::too_many_keys);
    EXPECT_EQ(m.claims(5).front().receipts.size(), 16u);
    m.forget_before(6);  // the payer keeps its circuit, its keys are gone
    EXPECT_TRUE(m.on_receipt(1, f.receipt(f.user, MiB, 6)));
}

TEST(UsageMeter, APayerOwingMoreThanItsPrepaidBalanceIsCutOff) {
    Fixture f;
    UsageMeter m(f.config());
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 0)));
    m.settle({}, {{f.user.address(), 250}});  // pays for 2.5 MiB at 100 per MiB
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 2 * MiB)));
    EXPECT_EQ(m.on_bytes(1, 2 * MiB, f.t0), MeterVerdict::ok);
    EXPECT_EQ(m.payer(f.user.address())->owed, 200u);
    EXPECT_EQ(m.on_bytes(1, MiB, f.t0), MeterVerdict::balance_exhausted);  // 300 owed
    // Once a claim of 2 MiB settles and the ledger shows 50 left, it still owes 100.
    m.settle({ledger::UsageClaimPayload{f.exit, 5, {{f.user.address(), f.entry, 2 * MiB, {}}}}},
             {{f.user.address(), 50}});
    EXPECT_EQ(m.payer(f.user.address())->owed, 100u);
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::balance_exhausted);
    m.settle({}, {{f.user.address(), 1'000}});  // a deposit
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::ok);
}

TEST(UsageMeter, ForgedMisdirectedAndStaleReceiptsAreRefused) {
    Fixture f;
    UsageMeter m(f.config());
    m.set_epoch(5);
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, MiB)));
    auto other = m.on_receipt(1, f.receipt(f.other, 2 * MiB));  // another payer on a bound circuit
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error(), ReceiptError::forged);
    const auto elsewhere = crypto::X25519KeyPair::generate(f.rng).public_key;
    auto misdirected = m.on_receipt(1, f.receipt(f.user, 2 * MiB, 5, &elsewhere));
    ASSERT_FALSE(misdirected);  // recovers to some other key, not the circuit's payer
    EXPECT_EQ(misdirected.error(), ReceiptError::forged);
    // On a fresh circuit it binds that other key, never the user: nothing is credited to the user.
    auto fresh = m.on_receipt(7, f.receipt(f.user, 2 * MiB, 5, &elsewhere));
    ASSERT_TRUE(fresh);
    EXPECT_NE(*fresh, f.user.address());
    auto stale = m.on_receipt(1, f.receipt(f.user, 2 * MiB, 3));
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error(), ReceiptError::wrong_epoch);
    auto back = m.on_receipt(1, f.receipt(f.user, MiB / 2));
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error(), ReceiptError::went_backwards);
    util::Bytes junk = f.receipt(f.user, MiB);
    junk.pop_back();
    EXPECT_EQ(m.on_receipt(1, junk).error(), ReceiptError::malformed);
    EXPECT_EQ(m.payer(f.user.address())->receipted, MiB);
}

TEST(UsageMeter, TheFreeTierIsATokenBucketPerCircuit) {
    Fixture f;
    UsageMeter m(f.config(100 * 1024));  // 100 KiB/s, 64 KiB burst
    EXPECT_EQ(m.admit_stream(1), MeterVerdict::ok);
    EXPECT_EQ(m.free_tier_wait(1, f.t0), Clock::duration::zero());
    EXPECT_EQ(m.on_bytes(1, 64 * 1024 + 100 * 1024, f.t0), MeterVerdict::ok);  // the burst and a second more
    const auto wait = m.free_tier_wait(1, f.t0);
    EXPECT_GT(wait, std::chrono::milliseconds(990));
    EXPECT_LT(wait, std::chrono::milliseconds(1010));
    EXPECT_GT(m.free_tier_wait(1, f.t0 + std::chrono::milliseconds(500)), std::chrono::milliseconds(490));
    EXPECT_EQ(m.free_tier_wait(1, f.t0 + std::chrono::seconds(1)), Clock::duration::zero());
    EXPECT_EQ(m.free_tier_wait(2, f.t0), Clock::duration::zero());  // another circuit has its own bucket
    // A receipt takes the circuit off the free tier.
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 0)));
    EXPECT_FALSE(m.on_free_tier(1));
    EXPECT_EQ(m.free_tier_wait(1, f.t0), Clock::duration::zero());
}

TEST(UsageMeter, ClaimsHoldTheBestReceiptsAndAnEarlierOneTheBalanceCanPay) {
    Fixture f;
    UsageMeter m(f.config());
    for (std::uint64_t i = 1; i <= 200; ++i) ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, i * MiB / 4)));
    ASSERT_TRUE(m.on_receipt(2, f.receipt(f.other, 3 * MiB)));
    auto claims = m.claims(5);
    ASSERT_EQ(claims.size(), 1u);
    ASSERT_EQ(claims[0].receipts.size(), 2u);
    for (const auto& r : claims[0].receipts) {
        const ledger::ReceiptFields fields{chain, f.exit, r.entry, 5, r.bytes};
        auto signer = crypto::recover(fields.digest(), r.signature);
        ASSERT_TRUE(signer);
        EXPECT_EQ(signer->address(), r.payer);  // what the ledger checks
    }
    EXPECT_TRUE(m.claims(4).empty());
    // 50 MiB held; the balance pays 1'234 base units = 12.34 MiB: the largest earlier receipt that fits.
    auto alt = m.affordable(5, f.user.address(), f.entry, 1'234);
    ASSERT_TRUE(alt);
    EXPECT_LE(*ledger::usage_cost(alt->bytes, 100), 1'234u);
    EXPECT_GE(alt->bytes, 6 * MiB);  // the history is thinned, not emptied
    const ledger::ReceiptFields fields{chain, f.exit, f.entry, 5, alt->bytes};
    EXPECT_EQ(crypto::recover(fields.digest(), alt->signature)->address(), f.user.address());
    EXPECT_FALSE(m.affordable(5, f.user.address(), f.entry, 0));
    // Settled receipts are not claimed again; dropped ones neither.
    m.settle(claims, {});
    EXPECT_TRUE(m.claims(5).empty());
    ASSERT_TRUE(m.on_receipt(1, f.receipt(f.user, 60 * MiB)));
    ASSERT_EQ(m.claims(5).size(), 1u);
    m.drop(5, f.user.address(), f.entry);
    EXPECT_TRUE(m.claims(5).empty());
    m.forget_before(6);
    EXPECT_FALSE(m.affordable(5, f.user.address(), f.entry, 1'000'000));
}

}  // namespace
}  // namespace conet::relay
