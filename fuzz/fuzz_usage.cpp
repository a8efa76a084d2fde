// Paid usage (docs/incentives.md "Paid usage"): receipts and usage claims
// from arbitrary bytes never crash their decoders and re-encode to the same
// bytes; the exit's meter takes any bytes as a receipt without crashing and
// never counts a refused one; and claims built from the input (payer, bytes,
// entry, a signature that may be corrupted, the epoch) applied to a small
// chain never break the ledger: the supply is conserved, a refused claim
// moves only its fee, and an accepted one takes from the payers' prepaid
// balances exactly what it pays out.

#include <cstdlib>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/relay/usage_meter.hpp"

namespace {

using namespace conet;
using namespace conet::ledger;

constexpr std::uint64_t E = 4;
constexpr std::uint64_t chain = 5;

struct World {
    crypto::PrivateKey proposer, exit_op;
    std::vector<crypto::PrivateKey> users;  // with prepaid balances 0, 5'000 and 1'000'000
    crypto::X25519Public exit{}, entry{};
    State state{0, {}};
};

World make_world() {
    crypto::SeededRng rng(13);
    World w{crypto::PrivateKey::generate(rng), crypto::PrivateKey::generate(rng), {}, {}, {}, State{0, {}}};
    Params p;
    p.epoch_blocks = E;
    p.incentives.usage_price_per_mib = 1'000;
    w.state = State(chain, p);
    if (!w.state.credit(w.exit_op.address(), 1'000'000)) std::abort();
    for (int i = 0; i < 3; ++i) {
        w.users.push_back(crypto::PrivateKey::generate(rng));
        if (!w.state.credit(w.users.back().address(), 2'000'000)) std::abort();
    }
    const BlockContext ctx{1, 10, w.proposer.address(), {}};
    const std::uint64_t deposits[3] = {0, 5'000, 1'000'000};
    for (int i = 1; i < 3; ++i)
        if (!w.state.apply(make_transaction(w.users[i], chain, 0, 1, TxKind::deposit, AmountPayload{deposits[i]}), ctx))
            std::abort();
    NodeRecord r;
    r.noise_key = crypto::X25519KeyPair::generate(rng).public_key;
    r.endpoints = {{"127.0.0.1", 9000}};
    r.region = "DE";
    r.expires_at = 1'000'000;
    r.sign(w.exit_op, chain);
    w.exit = r.noise_key;
    w.entry = crypto::X25519KeyPair::generate(rng).public_key;
    if (!w.state.apply(make_transaction(w.exit_op, chain, 0, 1, TxKind::register_node, NodePayload{r}), ctx))
        std::abort();
    return w;
}

const World& world() {
    static const World w = make_world();
    return w;
}

template <class T>
void round_trips(util::ByteView in) {
    if (auto v = codec::decode<T>(in))
        if (!util::equal(codec::encode(*v), in)) std::abort();
}

std::uint64_t prepaid_sum(const State& s, const World& w) {
    std::uint64_t sum = 0;
    for (const auto& u : w.users)
        if (const Account* a = s.account(u.address())) sum += a->prepaid;
    return sum;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    crypto::initialize();
    (void)world();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const util::ByteView in(data, size);
    round_trips<ReceiptMessage>(in);
    round_trips<UsageClaimPayload>(in);
    const World& w = world();

    // The meter, holding one real receipt of user 0 on circuit 1: any bytes
    // as a receipt on a fresh circuit 2 and on circuit 1. A refused one
    // changes nothing; an accepted one on circuit 1 is user 0's.
    relay::MeterConfig mc;
    mc.chain_id = chain;
    mc.exit = w.exit;
    mc.price_per_mib = 1'000;
    relay::UsageMeter meter(mc);
    meter.set_epoch(1);
    const crypto::Address user0 = w.users[0].address();
    {
        const ReceiptFields f{chain, w.exit, w.entry, 1, 1'000};
        const ReceiptMessage held{1, w.entry, 1'000, crypto::sign_hash(w.users[0], f.digest())};
        if (!meter.on_receipt(1, codec::encode(held))) std::abort();
    }
    const auto claims_before = meter.claims(1);
    const auto view_before = meter.payer(user0);
    const auto fresh = meter.on_receipt(2, in);
    if (!fresh && meter.circuits_bound() != 1) std::abort();
    if (fresh && meter.admit_stream(2) != relay::MeterVerdict::ok) std::abort();
    const auto same = meter.on_receipt(1, in);
    if (same && *same != user0) std::abort();  // a bound circuit takes only its payer's receipts
    if (!fresh && !same) {
        const auto claims_after = meter.claims(1);
        if (claims_after.size() != claims_before.size() ||
            (!claims_after.empty() && claims_after[0].receipts.size() != claims_before[0].receipts.size()))
            std::abort();
        const auto view_after = meter.payer(user0);
        if (!view_after || view_after->receipted != view_before->receipted) std::abort();
    }

    // Structured: byte 0 picks the claim's epoch and the block's height; then
    // 12 bytes per receipt: payer, entry (known or not), bytes (u64 of 8),
    // how its signature is spoiled (none, bytes, another signer).
    if (size < 1) return 0;
    State s = w.state;
    const std::uint64_t height = 2 + data[0] % (2 * E);
    // Epochs around the block's (0..2), and the largest (a claim for it must never pass).
    const std::uint64_t epoch = (data[0] >> 4) == 15 ? ~std::uint64_t{0} : (data[0] >> 4) % 3;
    UsageClaimPayload claim{w.exit, epoch, {}};
    for (std::size_t at = 1; at + 12 <= size && claim.receipts.size() < 8; at += 12) {
        const std::uint8_t* r = data + at;
        const crypto::PrivateKey& payer = w.users[r[0] % 3];
        const crypto::X25519Public entry = r[1] & 1 ? w.exit : w.entry;
        std::uint64_t bytes = 0;
        for (int i = 0; i < 8; ++i) bytes = bytes << 8 | r[2 + i];
        bytes >>= r[10] % 64;
        const ReceiptFields f{chain, w.exit, entry, epoch, bytes};
        const std::uint8_t spoil = r[11] % 4;
        const crypto::PrivateKey& signer = spoil == 2 ? w.users[(r[0] + 1) % 3] : payer;
        ClaimedReceipt c{payer.address(), entry, bytes, crypto::sign_hash(signer, f.digest())};
        if (spoil == 1) c.bytes ^= 1;
        claim.receipts.push_back(c);
    }
    if (claim.receipts.empty()) return 0;
    const BlockContext ctx{height, 20, w.proposer.address(), {}};
    const Transaction tx = make_transaction(w.exit_op, chain, 1, 1, TxKind::usage_claim, claim);
    const Amount128 supply = s.total_supply();
    const std::uint64_t prepaid = prepaid_sum(s, w);
    const State before = s;
    auto applied = s.apply(tx, ctx);
    if (!applied) std::abort();  // payable
    if (s.total_supply() != supply) std::abort();
    if (applied->reverted) {
        if (prepaid_sum(s, w) != prepaid) std::abort();
        if (s.usage().size() != before.usage().size()) std::abort();
        // Only the fee moved (the claimant's and the proposer's accounts): no payer's.
        for (const auto& u : w.users)
            if (codec::encode(*s.account(u.address())) != codec::encode(*before.account(u.address()))) std::abort();
        if (applied->receipt && *applied->receipt >= claim.receipts.size()) std::abort();
    } else {
        if (epoch > epoch_of(height, E)) std::abort();  // a future epoch was claimed
        // What left the prepaid balances is what entries, the exit and the fund received.
        const std::uint64_t fell = prepaid - prepaid_sum(s, w);
        const auto balance = [&](const State& st, const crypto::Address& a) {
            const Account* acc = st.account(a);
            return acc ? acc->balance : 0;
        };
        const std::uint64_t gained = (balance(s, w.exit_op.address()) + 1 - balance(before, w.exit_op.address())) +
                                     (balance(s, developer_fund_address()) - balance(before, developer_fund_address()));
        if (gained != fell) std::abort();
        for (const auto& c : claim.receipts) {
            auto pk = crypto::recover(ReceiptFields{chain, w.exit, c.entry, epoch, c.bytes}.digest(), c.signature);
            if (!pk || pk->address() != c.payer) std::abort();  // an accepted claim carried a forged receipt
        }
    }
    return 0;
}
