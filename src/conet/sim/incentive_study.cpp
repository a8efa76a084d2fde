#include "conet/sim/incentive_study.hpp"

#include <cstdio>
#include <map>
#include <random>

#include "conet/crypto/random.hpp"
#include "conet/ledger/block.hpp"
#include "conet/ledger/state.hpp"
#include "conet/util/assert.hpp"

namespace conet::sim {

namespace {

using namespace conet::ledger;

constexpr std::uint64_t unit = base_units_per_conet;
constexpr std::uint64_t E = 2;  // blocks per epoch: reports and claims, then the epoch's end
constexpr std::uint64_t chain = 0x57'0D7;

// The cost model (docs/incentives.md, "Adversarial study"), per node and epoch.
constexpr double fixed_cost = 200'000;        ///< a machine and its upkeep, while it runs
constexpr double cost_per_kbps = 10;          ///< its bandwidth, while it runs
constexpr double capital_rate = 1e-4;         ///< the stake's opportunity cost, always
constexpr double carry_cost_per_mib = 1'000;  ///< carrying one MiB of traffic (entry and exit together)
constexpr std::uint32_t full_kbps = 12'000;   ///< an honest node's capacity (above the probe target)
constexpr std::uint64_t node_stake = 1'000 * unit;

enum class Strategy { honest, intermittent, offline_claiming, sybil_swarm, one_large, self_dealing, liar_friend };

struct Node {
    Strategy strategy;
    crypto::X25519Public key{};
    std::size_t op = 0;  ///< index into operators
    std::uint64_t stake = 0;
    std::uint32_t kbps = 0;
    bool online = true;  ///< this epoch
};

struct Study {
    explicit Study(const StudyOptions& o) : opt(o), rng(o.seed), coin(o.seed * 7919 + 1) {}

    const StudyOptions& opt;
    crypto::SeededRng rng;
    std::mt19937_64 coin;
    std::vector<crypto::PrivateKey> validators;
    std::vector<crypto::PrivateKey> operators;
    std::map<crypto::Address, std::size_t> op_index;
    std::vector<Node> nodes;
    std::map<crypto::X25519Public, std::size_t> node_index;
    std::optional<crypto::PrivateKey> fake_user;  // the self-dealer's
    State state{chain, {}};
    std::uint64_t height = 0;
    std::vector<Transaction> block_txs;
    std::map<Strategy, StrategyResult> results;

    std::uint64_t nonce(const crypto::PrivateKey& k) const {
        const Account* a = state.account(k.address());
        return a ? a->nonce : 0;
    }
    std::map<crypto::Address, std::uint64_t> queued;  ///< transactions of each sender in block_txs
    template <class P>
    void send(const crypto::PrivateKey& k, TxKind kind, const P& payload) {
        block_txs.push_back(make_transaction(k, chain, nonce(k) + queued[k.address()]++, 1, kind, payload));
    }
    /// Applies the queued transactions as one block and ends it. Every one must succeed.
    void block() {
        ++height;
        const BlockContext ctx{height, 1'000 + height, validators[0].address(), {}};
        for (const auto& tx : block_txs) {
            auto applied = state.apply(tx, ctx);
            CONET_ASSERT(applied.has_value());
            if (applied->reverted) {
                std::fprintf(stderr, "study: a transaction of kind %d reverted: %s\n", static_cast<int>(tx.kind),
                             std::string(describe(*applied->reverted)).c_str());
                CONET_ASSERT(false);
            }
        }
        block_txs.clear();
        queued.clear();
        state.end_block(ctx);
    }

    std::size_t add_operator() {
        operators.push_back(crypto::PrivateKey::generate(rng));
        op_index[operators.back().address()] = operators.size() - 1;
        CONET_ASSERT(state.credit(operators.back().address(), 1'000'000 * unit));
        return operators.size() - 1;
    }
    void add_node(Strategy s, std::size_t op, std::uint64_t stake, std::uint32_t kbps) {
        NodeRecord r;
        r.noise_key = crypto::X25519KeyPair::generate(rng).public_key;
        r.endpoints = {{"203.0.113.1", static_cast<std::uint16_t>(1 + nodes.size())}};
        r.region = "DE";
        r.expires_at = 1ull << 40;
        r.sign(operators[op], chain);
        node_index[r.noise_key] = nodes.size();
        nodes.push_back(Node{s, r.noise_key, op, stake, kbps, true});
        send(operators[op], TxKind::register_node, NodePayload{r});
        send(operators[op], TxKind::stake, StakePayload{r.noise_key, stake});
    }

    void setup() {
        Params p;
        p.epoch_blocks = E;
        p.max_nodes_per_operator = 64;
        IncentiveParams& ip = p.incentives;
        ip.emission_per_epoch = 1'000 * unit;
        ip.emission_halving_epochs = 100'000;
        ip.saturation_stake = 5'000 * unit;
        ip.probers_per_node = 3;
        ip.usage_price_per_mib = 10'000;
        state = State(chain, p);
        for (std::size_t i = 0; i < opt.validators; ++i) {
            validators.push_back(crypto::PrivateKey::generate(rng));
            CONET_ASSERT(state.credit(validators.back().address(), 1'000 * unit));
        }
        std::vector<crypto::Address> members;
        for (const auto& v : validators) members.push_back(v.address());
        std::sort(members.begin(), members.end());
        state.set_genesis_validators(members, 0);

        const std::size_t n = opt.nodes;
        const auto count = [n](double share) { return static_cast<std::size_t>(static_cast<double>(n) * share); };
        for (std::size_t i = 0; i < count(0.10); ++i)
            add_node(Strategy::intermittent, add_operator(), node_stake, full_kbps);
        for (std::size_t i = 0; i < count(0.05); ++i)
            add_node(Strategy::offline_claiming, add_operator(), node_stake, full_kbps);
        // The swarm: 50 nodes of one operator with the stake and capacity of one large node.
        const std::size_t swarm = add_operator();
        for (int i = 0; i < 50; ++i) add_node(Strategy::sybil_swarm, swarm, node_stake / 10, full_kbps * 5 / 50);
        add_node(Strategy::one_large, add_operator(), 5 * node_stake, full_kbps * 5);
        // Self-dealing: an entry and an exit of one operator, and its fake user paying through them.
        const std::size_t dealer = add_operator();
        add_node(Strategy::self_dealing, dealer, node_stake, full_kbps);
        add_node(Strategy::self_dealing, dealer, node_stake, full_kbps);
        fake_user = crypto::PrivateKey::generate(rng);
        // The lying prober's friend: 5 offline nodes validator 0 reports as good.
        const std::size_t friend_op = add_operator();
        for (int i = 0; i < 5; ++i) add_node(Strategy::liar_friend, friend_op, node_stake, full_kbps);
        while (nodes.size() < n) add_node(Strategy::honest, add_operator(), node_stake, full_kbps);
        // The fake user's prepaid comes from the dealer's own balance.
        const crypto::PrivateKey& d = operators[dealer];
        send(d, TxKind::transfer, TransferPayload{fake_user->address(), 200'000 * unit});
        block();
        send(*fake_user, TxKind::deposit, AmountPayload{100'000 * unit});
        block();
        while (!ends_epoch(height + 1, E)) block();
        block();  // stake counts from the epoch after it was added
    }

    ProbeResult measure(const Node& n) const {
        if (!n.online) return ProbeResult{false, 0, 0};
        return ProbeResult{true, 40, n.kbps};
    }

    void epoch() {
        const std::uint64_t e = epoch_of(height + 1, E);
        const IncentiveParams& ip = state.params().incentives;
        // Who runs this epoch.
        for (auto& n : nodes) {
            switch (n.strategy) {
                case Strategy::intermittent: n.online = coin() % 10 < 6; break;
                case Strategy::offline_claiming:
                case Strategy::liar_friend: n.online = false; break;
                default: n.online = true;
            }
            StrategyResult& r = results[n.strategy];
            r.cost += static_cast<double>(n.stake) * capital_rate;
            if (n.online) r.cost += fixed_cost + cost_per_kbps * n.kbps;
            // A jailed node's operator unjails it when it runs again.
            if (state.node(n.key)->service.jailed && n.online)
                send(operators[n.op], TxKind::unjail, NodeKeyPayload{n.key});
        }
        // Every prober reports what it measured of its assigned nodes; validator 0 lies for its friend.
        const auto& members = state.validator_set().members;
        const crypto::Hash256 seed = state.epoch_info().seed;
        std::map<crypto::Address, std::vector<ProbeEntry>> reports;
        for (const auto& n : nodes) {
            if (state.node(n.key)->service.jailed && !n.online) continue;
            ProbeResult truth = measure(n);
            for (const auto& prober : assigned_probers(seed, n.key, members, ip.probers_per_node)) {
                ProbeResult said = truth;
                if (n.strategy == Strategy::liar_friend && prober == validators[0].address())
                    said = ProbeResult{true, 40, full_kbps};
                reports[prober].push_back(ProbeEntry{n.key, said});
            }
        }
        for (const auto& v : validators) {
            auto it = reports.find(v.address());
            if (it == reports.end()) continue;
            for (std::size_t at = 0; at < it->second.size(); at += ProbeReportPayload::max_entries) {
                ProbeReportPayload p{e, {}};
                for (std::size_t i = at; i < std::min(it->second.size(), at + ProbeReportPayload::max_entries); ++i)
                    p.entries.push_back(it->second[i]);
                send(v, TxKind::probe_report, p);
            }
        }
        // The self-dealer's fake user "uses" 100 MiB through its own entry and exit, and the exit claims it.
        const Node* entry = nullptr;
        const Node* exit = nullptr;
        for (const auto& n : nodes)
            if (n.strategy == Strategy::self_dealing) (entry ? exit : entry) = &n;
        const std::uint64_t bytes = 100ull << 20;
        const ReceiptFields f{chain, exit->key, entry->key, e, bytes};
        const ClaimedReceipt receipt{fake_user->address(), entry->key, bytes,
                                     crypto::sign_hash(*fake_user, f.digest())};
        send(operators[exit->op], TxKind::usage_claim, UsageClaimPayload{exit->key, e, {receipt}});
        const double paid = static_cast<double>(*usage_cost(bytes, ip.usage_price_per_mib));
        StrategyResult& dealer = results[Strategy::self_dealing];
        dealer.earned -= paid;  // out of its own pocket (the fake user's prepaid)...
        dealer.cost += carry_cost_per_mib * 100;

        const auto balance = [&](const crypto::Address& a) {
            const Account* acc = state.account(a);
            return acc ? static_cast<double>(acc->balance) : 0.0;
        };
        std::map<crypto::Address, double> before;
        for (const auto& o : operators) before[o.address()] = balance(o.address());
        block();
        while (!ends_epoch(height + 1, E)) block();
        block();  // the epoch's end: scores and rewards
        // ...and back into its operator's balance, with the rewards (fees were charged as sent).
        for (const auto& n : nodes) {
            const crypto::Address a = operators[n.op].address();
            auto it = before.find(a);
            if (it == before.end()) continue;
            results[n.strategy].earned += balance(a) - it->second;
            before.erase(it);  // an operator's nodes share one balance: counted once
        }
    }
};

const char* name_of(Strategy s) {
    switch (s) {
        case Strategy::honest: return "honest";
        case Strategy::intermittent: return "intermittent";
        case Strategy::offline_claiming: return "offline but claiming";
        case Strategy::sybil_swarm: return "sybil swarm (50 small nodes)";
        case Strategy::one_large: return "one large node (the swarm's stake and capacity)";
        case Strategy::self_dealing: return "self-dealing";
        case Strategy::liar_friend: return "a prober that lies for its friends";
    }
    return "?";
}

const char* what_of(Strategy s) {
    switch (s) {
        case Strategy::honest: return "online every epoch, 12 Mbit/s, 1,000 CONET staked";
        case Strategy::intermittent: return "online in 60 % of epochs; unjails when it comes back";
        case Strategy::offline_claiming: return "never serves; would say it does (nothing asks it)";
        case Strategy::sybil_swarm: return "one operator, 50 nodes of 100 CONET and 1.2 Mbit/s each";
        case Strategy::one_large: return "one node of 5,000 CONET and 60 Mbit/s (honest)";
        case Strategy::self_dealing:
            return "an entry and an exit of one operator; its own fake user pays 100 MiB a epoch through them";
        case Strategy::liar_friend: return "5 offline nodes; 1 of the 20 probers reports them good";
    }
    return "?";
}

}  // namespace

StudyResult run_incentive_study(const StudyOptions& options) {
    CONET_ASSERT(options.nodes >= 200 && options.validators >= 3);
    Study s(options);
    s.setup();
    // Setup costs nothing in the table: it is the same for every strategy.
    s.results.clear();
    for (std::uint64_t i = 0; i < options.epochs; ++i) {
        s.epoch();
        if (options.progress) options.progress(i + 1, options.epochs);
    }
    StudyResult out;
    out.epochs = options.epochs;
    out.nodes = s.nodes.size();
    for (const auto& n : s.nodes) ++s.results[n.strategy].nodes;
    for (auto& [strategy, r] : s.results) {
        r.name = name_of(strategy);
        r.what = what_of(strategy);
        r.honest = strategy == Strategy::honest || strategy == Strategy::one_large;
        out.strategies.push_back(r);
    }
    out.honest_per_cost = s.results[Strategy::honest].per_cost();
    for (const auto& r : out.strategies)
        if (!r.honest && r.per_cost() >= out.honest_per_cost) out.violations.push_back(r.name);
    return out;
}

std::string StudyResult::table() const {
    std::string t =
        "| strategy | nodes | earned (CONET) | cost (CONET) | earned per unit of cost | vs honest |\n"
        "|---|---:|---:|---:|---:|---:|\n";
    char line[512];
    for (const auto& r : strategies) {
        std::snprintf(line, sizeof line, "| %s | %zu | %.1f | %.1f | %.3f | %.2fx |\n", r.name.c_str(), r.nodes,
                      r.earned / static_cast<double>(unit), r.cost / static_cast<double>(unit), r.per_cost(),
                      honest_per_cost > 0 ? r.per_cost() / honest_per_cost : 0.0);
        t += line;
    }
    return t;
}

}  // namespace conet::sim
