#include "conet/sim/ledger_app.hpp"

#include "conet/crypto/random.hpp"
#include "conet/util/assert.hpp"

namespace conet::sim {

namespace {
constexpr std::uint64_t ledger_chain_id = 77;
constexpr std::uint64_t wallet_balance = 1'000'000'000'000ULL;
constexpr std::uint64_t fee = 1;
}  // namespace

LedgerWorld LedgerWorld::make(std::uint64_t seed, std::uint32_t validator_keys, std::uint32_t seats,
                              std::uint32_t wallets, std::uint64_t epoch_blocks) {
    crypto::SeededRng rng(seed ^ 0x6c656467ULL);
    ledger::Genesis g;
    g.params.epoch_blocks = epoch_blocks;
    g.chain_id = ledger_chain_id;
    g.time_unix = 1'700'000'000;
    std::vector<crypto::Address> proposers;
    std::vector<crypto::PrivateKey> keys, vkeys;
    for (std::uint32_t i = 0; i < validator_keys; ++i) {
        vkeys.push_back(crypto::PrivateKey::generate(rng));
        proposers.push_back(vkeys.back().address());
        if (i < seats) g.validators.push_back(proposers.back());
        g.balances.emplace_back(proposers.back(), wallet_balance);
    }
    if (epoch_blocks > 0) {
        g.params.validator_slots = seats;
        g.params.min_validator_stake = seat_stake;
        g.params.unbonding_blocks = 4 * epoch_blocks;
        g.validator_stake = seat_stake;
    }
    for (std::uint32_t i = 0; i < wallets; ++i) {
        keys.push_back(crypto::PrivateKey::generate(rng));
        g.balances.emplace_back(keys.back().address(), wallet_balance);
    }
    std::vector<crypto::PrivateKey> operators;
    if (epoch_blocks > 0) {
        g.params.incentives.emission_per_epoch = emission;
        g.params.incentives.emission_halving_epochs = 1'000;
        g.params.incentives.probers_per_node = 2;
        g.params.incentives.jail_after_failed_epochs = 2;
        g.params.incentives.usage_price_per_mib = LedgerWorld::usage_price;
        for (std::uint32_t j = 0; j < relay_count; ++j) {
            operators.push_back(crypto::PrivateKey::generate(rng));
            g.balances.emplace_back(operators.back().address(), wallet_balance);
        }
    }
    auto state = g.state();
    CONET_ASSERT(state.has_value());
    // The relays are registered and staked in the simulated genesis state
    // itself (every node starts from this world's state, not from g.state()).
    std::vector<crypto::X25519Public> relays;
    const ledger::BlockContext genesis_block{0, g.time_unix, proposers.front(), {}};
    for (std::uint32_t j = 0; j < operators.size(); ++j) {
        ledger::NodeRecord r;
        r.noise_key = crypto::X25519KeyPair::generate(rng).public_key;
        r.endpoints = {{"10.0.0." + std::to_string(j + 1), 443}};
        r.region = j % 2 ? "US" : "DE";
        r.expires_at = g.time_unix + 365 * 24 * 3600;
        r.sign(operators[j], g.chain_id);
        relays.push_back(r.noise_key);
        const auto reg = ledger::make_transaction(operators[j], g.chain_id, 0, fee, ledger::TxKind::register_node,
                                                  ledger::NodePayload{r});
        const auto stake = ledger::make_transaction(operators[j], g.chain_id, 1, fee, ledger::TxKind::stake,
                                                    ledger::StakePayload{r.noise_key, 1'000u * (j + 1)});
        for (const auto& tx : {reg, stake}) {
            auto applied = state->apply(tx, genesis_block);
            CONET_ASSERT(applied && !applied->reverted);
        }
    }
    std::optional<crypto::PrivateKey> user, poor_user;
    if (epoch_blocks > 0) {
        user = crypto::PrivateKey::generate(rng);
        CONET_ASSERT(state->credit(user->address(), 2 * user_prepaid));
        const auto deposit = ledger::make_transaction(*user, g.chain_id, 0, fee, ledger::TxKind::deposit,
                                                      ledger::AmountPayload{user_prepaid});
        auto applied = state->apply(deposit, genesis_block);
        CONET_ASSERT(applied && !applied->reverted);
        poor_user = crypto::PrivateKey::generate(rng);
        CONET_ASSERT(state->credit(poor_user->address(), 2 * poor_prepaid));
        const auto poor_deposit = ledger::make_transaction(*poor_user, g.chain_id, 0, fee, ledger::TxKind::deposit,
                                                           ledger::AmountPayload{poor_prepaid});
        applied = state->apply(poor_deposit, genesis_block);
        CONET_ASSERT(applied && !applied->reverted);
    }
    ledger::Header header = g.header(*state);
    const ledger::Amount128 supply = state->total_supply();
    LedgerWorld w{std::move(g), std::move(*state), header, std::move(keys), std::move(proposers), std::move(vkeys)};
    w.relays = std::move(relays);
    w.relay_operators = std::move(operators);
    w.user = std::move(user);
    w.poor_user = std::move(poor_user);
    w.genesis_supply = supply;
    w.seed = seed;
    return w;
}

bool LedgerWorld::relay_up(std::size_t j, std::uint64_t epoch) const {
    const std::uint64_t h =
        (seed ^ 0x72656c6179ULL) * 0x9E3779B97F4A7C15ULL + j * 0xBF58476D1CE4E5B9ULL + epoch * 0x94D049BB133111EBULL;
    return ((h ^ (h >> 29)) * 0x2545F4914F6CDD1DULL >> 60) % 4 != 0;
}

LedgerSimApp::LedgerSimApp(std::uint32_t node, const LedgerWorld& world, FinalizedHook on_finalized, ForkHook on_fork)
    : m_node(node),
      m_world(world),
      m_on_finalized(std::move(on_finalized)),
      m_on_fork(std::move(on_fork)),
      m_candidates({}, nullptr, world.genesis.params.epoch_blocks),
      m_final_headers{world.genesis_header},
      m_final_state(world.genesis_state) {}

util::Result<void, std::string> LedgerSimApp::open(runtime::Storage& storage) {
    if (on_validator_set) on_validator_set(m_node, m_final_state.validator_set());
    auto replay = runtime::Journal::open(storage, chain_file_name);
    if (!replay) return util::unexpected(replay.error().message);
    for (const auto& bytes : replay->records) {
        auto b = codec::decode<ledger::Block>(bytes);
        if (!b) return util::unexpected(replay->journal.path() + ": a final block that does not decode");
        ledger::State next = m_final_state;
        if (auto r = ledger::execute_block(next, m_final_headers.back(), *b); !r)
            return util::unexpected(replay->journal.path() +
                                    ": a final block that does not apply: " + std::string(ledger::describe(r.error())));
        if (auto broken = check_block(m_final_state, *b, next); !broken.empty())
            return util::unexpected(replay->journal.path() + ": " + broken);
        m_final_state = std::move(next);
        if (ledger::ends_epoch(b->header.height, m_world.genesis.params.epoch_blocks) && on_validator_set)
            on_validator_set(m_node, m_final_state.validator_set());
        if (ledger::ends_epoch(b->header.height, m_world.genesis.params.epoch_blocks) && !m_world.relays.empty())
            if (auto broken = check_epoch_paid(m_final_state); !broken.empty())
                return util::unexpected(replay->journal.path() + ": " + broken);
        if (m_world.user)
            if (auto broken = check_usage(m_final_state); !broken.empty())
                return util::unexpected(replay->journal.path() + ": " + broken);
        m_final_headers.push_back(b->header);
        m_final_blocks[b->header.hash()] = bytes;
        m_tip_view = b->header.view;
    }
    m_journal.emplace(std::move(replay->journal));
    return m_epoch_ends.open(storage);
}

std::uint64_t LedgerSimApp::epoch() const {
    const std::uint64_t h = height(), e = m_world.genesis.params.epoch_blocks;
    return ledger::epoch_of(h, e) + (ledger::ends_epoch(h, e) ? 1 : 0);
}

std::optional<consensus::Certificate> LedgerSimApp::epoch_end(std::uint64_t e) const {
    if (e >= epoch()) return std::nullopt;
    return m_epoch_ends.get(e);
}

void LedgerSimApp::submit_forged_probe_report(std::uint64_t seq) {
    // A relay's operator vouches for its own relay, or a validator not
    // assigned to a relay vouches for it: both up, with perfect figures.
    // The ledger must revert both (check_probes).
    const ledger::State& s = m_final_state;
    const std::uint64_t epoch = s.epoch_info().epoch;
    const std::size_t j = (seq / 20) % m_world.relays.size();
    const crypto::PrivateKey* signer = &m_world.relay_operators[j];
    if ((seq / 20) % 2 == 1) {
        signer = nullptr;
        for (const auto& key : m_world.validator_keys)
            if (!ledger::is_assigned_prober(s.epoch_info().seed, m_world.relays[j], s.validator_set().members,
                                            s.params().incentives.probers_per_node, key.address())) {
                signer = &key;
                break;
            }
        if (!signer) return;
    }
    const ledger::ProbeReportPayload report{epoch, {{m_world.relays[j], ledger::ProbeResult{true, 1, 1'000'000}}}};
    auto tx = ledger::make_transaction(*signer, ledger_chain_id, m_mempool.next_nonce(signer->address(), s), fee,
                                       ledger::TxKind::probe_report, report);
    (void)m_mempool.admit(tx, s);
}

std::string LedgerSimApp::check_probes(const ledger::State& after) const {
    // Only assigned probers' reports count, and here they tell the truth.
    const std::uint64_t epoch = after.epoch_info().epoch;
    for (std::size_t j = 0; j < m_world.relays.size(); ++j) {
        const ledger::NodeEntry* n = after.node(m_world.relays[j]);
        if (!n || n->service.probe_epoch != epoch) continue;
        for (const auto& [prober, r] : n->service.probes) {
            if (!ledger::is_assigned_prober(after.epoch_info().seed, m_world.relays[j], after.validator_set().members,
                                            after.params().incentives.probers_per_node, prober))
                return "relay " + std::to_string(j) + " holds a report from " + prober.to_string() +
                       ", not one of its probers, in epoch " + std::to_string(epoch);
            if (r.reachable != m_world.relay_up(j, epoch))
                return "relay " + std::to_string(j) + " holds a false report in epoch " + std::to_string(epoch);
        }
    }
    return {};
}

void LedgerSimApp::submit_unjails() {
    // An operator whose relay was jailed brings it back once it serves again.
    const ledger::State& s = m_final_state;
    for (std::size_t j = 0; j < m_world.relays.size(); ++j) {
        const ledger::NodeEntry* n = s.node(m_world.relays[j]);
        if (!n || !n->service.jailed || !m_world.relay_up(j, s.epoch_info().epoch)) continue;
        const crypto::PrivateKey& op = m_world.relay_operators[j];
        auto tx = ledger::make_transaction(op, ledger_chain_id, m_mempool.next_nonce(op.address(), s), fee,
                                           ledger::TxKind::unjail, ledger::NodeKeyPayload{m_world.relays[j]});
        (void)m_mempool.admit(tx, s);
    }
}

void LedgerSimApp::submit_probe_report(std::uint64_t seq) {
    submit_unjails();
    if ((seq / 5) % 4 == 1) return submit_forged_probe_report(seq);
    // A validator reports what it measured of the relays assigned to it this
    // epoch: the truth (relay_up); the ledger takes each report only once.
    const std::size_t k = (seq / 5) % m_world.validator_keys.size();
    const crypto::PrivateKey& key = m_world.validator_keys[k];
    const ledger::State& s = m_final_state;
    const std::uint64_t epoch = s.epoch_info().epoch;
    ledger::ProbeReportPayload report{epoch, {}};
    for (std::size_t j = 0; j < m_world.relays.size(); ++j) {
        const ledger::NodeEntry* n = s.node(m_world.relays[j]);
        if (!n || n->service.jailed ||
            !ledger::is_assigned_prober(s.epoch_info().seed, m_world.relays[j], s.validator_set().members,
                                        s.params().incentives.probers_per_node, key.address()))
            continue;
        bool reported = false;
        if (n->service.probe_epoch == epoch)
            for (const auto& [prober, r] : n->service.probes) reported |= prober == key.address();
        if (reported) continue;
        const bool up = m_world.relay_up(j, epoch);
        report.entries.push_back(
            {m_world.relays[j],
             ledger::ProbeResult{up, up ? 20 + static_cast<std::uint32_t>(j) : 0, up ? 20'000u : 0}});
    }
    if (report.entries.empty()) return;
    const ledger::Account* acc = s.account(key.address());
    std::uint64_t& next = m_next_nonce[m_world.wallets.size() + k];
    next = std::max(next, acc ? acc->nonce : 0);
    auto tx = ledger::make_transaction(key, ledger_chain_id, next, fee, ledger::TxKind::probe_report, report);
    if (m_mempool.admit(tx, s)) ++next;
}

void LedgerSimApp::submit_usage_claim(std::uint64_t seq) {
    const ledger::State& s = m_final_state;
    const std::uint64_t epoch = s.epoch_info().epoch;
    const crypto::X25519Public& exit = m_world.relays[0];
    const crypto::X25519Public& entry = m_world.relays[1];
    const bool forged = (seq / 5) % 4 == 3;
    // Real receipts wander below max_real_usage (a lower one than was paid is a replay and reverts).
    const std::uint64_t bytes = forged ? 1'000ull << 20 : (1 + (seq * 2654435761ULL >> 7) % 97) << 20;
    const ledger::ReceiptFields f{s.chain_id(), exit, entry, epoch, bytes};
    const crypto::PrivateKey& signer = forged ? m_world.wallets[0] : *m_world.user;
    const ledger::ClaimedReceipt r{m_world.user->address(), entry, bytes, crypto::sign_hash(signer, f.digest())};
    const crypto::PrivateKey& op = m_world.relay_operators[0];
    const ledger::Account* acc = s.account(op.address());
    std::uint64_t& next = m_next_nonce[1'000'000];
    next = std::max(next, acc ? acc->nonce : 0);
    auto tx = ledger::make_transaction(op, ledger_chain_id, next, fee, ledger::TxKind::usage_claim,
                                       ledger::UsageClaimPayload{exit, epoch, {r}});
    if (m_mempool.admit(tx, s)) ++next;
}

std::string LedgerSimApp::check_usage(const ledger::State& after) {
    const std::uint64_t next = after.epoch_info().epoch;
    for (std::uint64_t back = 0; back <= std::min<std::uint64_t>(next, 2); ++back) {
        const std::uint64_t e = next - back;
        const ledger::UsageRecord* rec =
            after.usage_record(e, m_world.relays[0], m_world.user->address(), m_world.relays[1]);
        if (!rec) continue;
        if (rec->bytes > LedgerWorld::max_real_usage) return "a forged receipt was paid in epoch " + std::to_string(e);
        std::uint64_t& claimed = m_claimed[e];
        if (rec->bytes < claimed) return "claimed usage of epoch " + std::to_string(e) + " went down";
        claimed = rec->bytes;
    }
    std::uint64_t spent = 0;
    for (const auto& [e, b] : m_claimed) spent += *ledger::usage_cost(b, LedgerWorld::usage_price);
    const ledger::Account* user = after.account(m_world.user->address());
    if (!user || user->prepaid != LedgerWorld::user_prepaid - spent)
        return "the user's prepaid balance did not fall by exactly the claimed usage's cost";
    return {};
}

std::string LedgerSimApp::check_block(const ledger::State& before, const ledger::Block& b, const ledger::State& after) {
    if (auto broken = check_votes(before, b, after); !broken.empty()) return broken;
    if (m_world.relays.empty()) return {};
    if (auto broken = check_grants(before, after); !broken.empty()) return broken;
    return check_probes(after);
}

void LedgerSimApp::report_double_sign(std::uint64_t epoch, std::uint32_t key, const consensus::Subject& a,
                                      const consensus::Subject& b) {
    CONET_ASSERT(key < m_world.validator_keys.size());
    const auto vote = [&](const consensus::Subject& s) {
        ledger::SignedVote v;
        v.type = static_cast<ledger::VoteType>(static_cast<std::uint8_t>(s.kind));
        v.view = s.proposal.view;
        v.parent_view = s.proposal.parent_view;
        v.parent = s.proposal.parent;
        v.digest = s.proposal.digest;
        v.sign(m_world.validator_keys[key], ledger_chain_id, epoch);
        return v;
    };
    const ledger::EvidencePayload evidence{epoch, vote(a), vote(b)};
    CONET_ASSERT(ledger::double_signer(ledger_chain_id, evidence).has_value());
    const crypto::PrivateKey& self = m_world.validator_keys[m_node];
    auto tx = ledger::make_transaction(self, ledger_chain_id, m_mempool.next_nonce(self.address(), m_final_state), fee,
                                       ledger::TxKind::evidence, evidence);
    (void)m_mempool.admit(tx, m_final_state);  // a nonce taken meanwhile loses it: other nodes report too
}

std::string LedgerSimApp::check_votes(const ledger::State& before, const ledger::Block& b, const ledger::State& after) {
    for (const auto& [a, bond] : after.bonds())
        if (bond.tombstoned && m_slashed.insert(a).second && on_slashed) on_slashed(m_node, a);
    const auto& members = before.validator_set().members;
    for (const auto& v : b.parent_certificate.votes) ++m_votes[members.at(v.validator)];
    if (!ledger::ends_epoch(b.header.height, m_world.genesis.params.epoch_blocks)) {
        const auto& counted = after.epoch_info().votes;
        if (!std::equal(counted.begin(), counted.end(), m_votes.begin(), m_votes.end(),
                        [](const auto& x, const auto& y) { return x.first == y.first && x.second == y.second; }))
            return "the ledger's vote count differs from the votes its final blocks carry";
        return {};
    }
    for (const auto& m : after.validator_set().members)
        if (const ledger::ValidatorBond* bond = after.bond(m); bond && bond->tombstoned)
            return "the next epoch's set seats " + m.to_string() + ", slashed for double-signing";
    // The epoch's last block: each validator is paid for exactly the votes
    // the epoch's blocks carried, ⌊pool · votes / Σ votes⌋, nobody else is.
    const auto& last = after.epoch_info().last;
    if (!last) return "an epoch's last block recorded no payment";
    if (!after.epoch_info().votes.empty()) return "the vote count was not reset at the epoch's end";
    // A validator slashed for double-signing is paid nothing for its votes.
    const auto slashed = [&](const crypto::Address& a) {
        const ledger::ValidatorBond* bond = after.bond(a);
        return bond && bond->tombstoned;
    };
    std::uint64_t total = 0;
    for (const auto& [a, n] : m_votes) total += slashed(a) ? 0 : n;
    for (const auto& [a, n] : m_votes) {
        const ledger::RewardRecord* r = after.reward(a);
        const std::uint64_t want =
            slashed(a) ? 0
                       : static_cast<std::uint64_t>(static_cast<ledger::Amount128>(last->validator_pool) * n / total);
        const std::uint64_t got = r && r->epoch == last->epoch ? r->validator_reward : 0;
        if (got != want)
            return "validator " + a.to_string() + " was paid " + std::to_string(got) + " for " + std::to_string(n) +
                   " of " + std::to_string(total) + " votes in epoch " + std::to_string(last->epoch) + ", not " +
                   std::to_string(want);
    }
    for (const auto& [a, r] : after.rewards())
        if (r.epoch == last->epoch && r.validator_reward > 0 && !m_votes.contains(a))
            return "validator " + a.to_string() + " was paid in epoch " + std::to_string(last->epoch) +
                   " without a vote on the ledger";
    m_validators_paid = 0;
    for (const auto& [a, n] : m_votes) {
        const ledger::RewardRecord* r = after.reward(a);
        m_validators_paid += r && r->epoch == last->epoch && r->validator_reward > 0;
    }
    m_votes.clear();
    return {};
}

std::string LedgerSimApp::check_epoch_paid(const ledger::State& after) {
    const auto& last = after.epoch_info().last;
    if (!last) return "an epoch's last block recorded no payment";
    m_minted += last->minted;
    if (last->minted > last->emission) return "an epoch minted more than its emission";
    if (after.total_supply() != m_world.genesis_supply + m_minted)
        return "the supply is not the genesis supply plus what the epochs minted";
    const std::uint32_t jail_after = after.params().incentives.jail_after_failed_epochs;
    for (std::size_t j = 0; j < m_world.relays.size(); ++j) {
        const ledger::NodeEntry* n = after.node(m_world.relays[j]);
        if (!n) return "a relay left the registry";
        if (n->service.scored_epoch != last->epoch) return "a relay was not scored at its epoch's end";
        const std::string relay = "relay " + std::to_string(j);
        if (!m_world.relay_up(j, last->epoch) && n->service.reward != 0)
            return relay + " earned in epoch " + std::to_string(last->epoch) + " while it was down";
        // Jailing: only after failing `jail_after` measured epochs in a row,
        // the last of them this one; a jailed relay earns nothing until its
        // operator unjails it (submit_unjails), and then it earns again.
        if (n->service.jailed && n->service.reward != 0)
            return relay + " earned in epoch " + std::to_string(last->epoch) + " while jailed";
        const bool was_jailed = m_jailed.contains(j);
        if (n->service.jailed && !was_jailed) {
            if (m_world.relay_up(j, last->epoch) || n->service.failed_epochs < jail_after)
                return relay + " was jailed in epoch " + std::to_string(last->epoch) + " after " +
                       std::to_string(n->service.failed_epochs) + " failed epochs (it was " +
                       (m_world.relay_up(j, last->epoch) ? "up" : "down") + ")";
            m_jailed.insert(j);
            ++m_jailings;
        } else if (!n->service.jailed && was_jailed) {
            m_jailed.erase(j);
            ++m_unjailings;
        }
    }
    if (on_epoch_paid) on_epoch_paid(m_node, *last, m_validators_paid, m_jailings, m_unjailings, m_grants_paid);
    return {};
}

const crypto::Address& LedgerWorld::grant_recipient() {
    static const crypto::Address a = [] {
        const crypto::Hash256 h = crypto::keccak256(util::as_bytes(std::string_view("CONET sim grant recipient")));
        crypto::Address out;
        std::copy(h.begin() + 12, h.end(), out.bytes.begin());
        return out;
    }();
    return a;
}

void LedgerSimApp::submit_grant_step(std::uint64_t seq) {
    // A validator proposes a grant when none is open; the others approve the
    // open one, one at a time. Now and then a proposal asks for more than
    // the fund will hold soon, or expires before enough approve.
    const ledger::State& s = m_final_state;
    const std::uint64_t epoch = s.epoch_info().epoch;
    const auto& members = s.validator_set().members;
    const crypto::PrivateKey* key = nullptr;
    const std::size_t k = (seq / 10) % m_world.validator_keys.size();
    const ledger::Grant* open = nullptr;
    crypto::Hash256 open_id{};
    for (const auto& [id, g] : s.grants())
        if (g.status == ledger::Grant::Status::open) {
            open = &g;
            open_id = id;
            break;
        }
    std::optional<ledger::Transaction> tx;
    if (!open) {
        key = &m_world.validator_keys[k];
        const bool greedy = (seq / 10) % 7 == 6;
        const ledger::GrantProposal p{LedgerWorld::grant_recipient(), greedy ? LedgerWorld::emission * 1'000 : 10'000,
                                      "sim grant " + std::to_string(seq), epoch + 3};
        tx = ledger::make_transaction(*key, ledger_chain_id, m_mempool.next_nonce(key->address(), s), fee,
                                      ledger::TxKind::grant_propose, p);
    } else {
        for (const auto& m : members)
            if (!std::binary_search(open->approvals.begin(), open->approvals.end(), m)) {
                const auto it = std::find(m_world.proposers.begin(), m_world.proposers.end(), m);
                key = &m_world.validator_keys[static_cast<std::size_t>(it - m_world.proposers.begin())];
                break;
            }
        if (!key) return;
        tx = ledger::make_transaction(*key, ledger_chain_id, m_mempool.next_nonce(key->address(), s), fee,
                                      ledger::TxKind::grant_vote, ledger::GrantVotePayload{open_id, true});
    }
    (void)m_mempool.admit(*tx, s);
}

std::string LedgerSimApp::check_grants(const ledger::State& before, const ledger::State& after) {
    // Each grant is paid at most once, only with more than 2/3 of the seats
    // approving, to its recipient; the recipient holds exactly what was paid.
    for (const auto& [id, g] : after.grants()) {
        const ledger::Grant* was = before.grant(id);
        const bool paid_now =
            g.status == ledger::Grant::Status::paid && (!was || was->status != ledger::Grant::Status::paid);
        if (was && was->status != ledger::Grant::Status::open && was->status != g.status)
            return "a closed grant changed its status";
        if (g.status == ledger::Grant::Status::expired && (!was || was->status == ledger::Grant::Status::open) &&
            g.closed_epoch < g.proposal.expiry_epoch)
            return "a grant expired before its expiry epoch";
        if (!paid_now) continue;
        std::size_t approving = 0, seats = 0;
        for (const auto& m : before.validator_set().members) {
            if (const ledger::ValidatorBond* b = before.bond(m); b && b->tombstoned) continue;
            ++seats;
            approving += std::binary_search(g.approvals.begin(), g.approvals.end(), m);
        }
        if (approving * 3 <= seats * 2)
            return "a grant was paid with " + std::to_string(approving) + " of " + std::to_string(seats) +
                   " seats approving";
        m_granted += g.proposal.amount;
        ++m_grants_paid;
    }
    const ledger::Account* r = after.account(LedgerWorld::grant_recipient());
    if ((r ? r->balance : 0) != m_granted)
        return "the grant recipient holds " + std::to_string(r ? r->balance : 0) + ", not the " +
               std::to_string(m_granted) + " its paid grants sum to";
    return {};
}

void LedgerSimApp::submit_poor_usage() {
    // Relay 0's exit meter (relay/usage_meter.hpp, the exit's own core) serves
    // the poor user 1 MiB per step through relay 1, takes its receipt and
    // claims on the ledger; the ledger's records and balance settle it, as
    // the exit's claimer does.
    const ledger::State& s = m_final_state;
    const std::uint64_t epoch = s.epoch_info().epoch;
    const crypto::X25519Public& exit = m_world.relays[0];
    const crypto::X25519Public& entry = m_world.relays[1];
    const crypto::PrivateKey& poor = *m_world.poor_user;
    constexpr std::uint64_t MiB = 1u << 20;
    constexpr std::uint64_t circuit = 1;
    if (!m_meter) {
        relay::MeterConfig c;
        c.chain_id = s.chain_id();
        c.exit = exit;
        c.price_per_mib = LedgerWorld::usage_price;
        c.credit_bytes = 4 * MiB;
        m_meter.emplace(c);
    }
    relay::UsageMeter& meter = *m_meter;
    const auto receipt = [&](std::uint64_t e, std::uint64_t bytes) {
        const ledger::ReceiptFields f{s.chain_id(), exit, entry, e, bytes};
        return codec::encode(ledger::ReceiptMessage{e, entry, bytes, crypto::sign_hash(poor, f.digest())});
    };
    if (meter.epoch() != epoch) {
        meter.set_epoch(epoch);
        meter.forget_before(epoch == 0 ? 0 : epoch - 1);
        std::erase_if(m_poor_receipted, [&](const auto& kv) { return kv.first + 1 < epoch; });
        m_poor_unreceipted = 0;  // a new epoch forgives what was carried without a receipt
    }
    if (meter.circuits_bound() == 0) {
        // The proxy's empty receipt at circuit build binds the circuit to the wallet.
        if (!meter.on_receipt(circuit, receipt(epoch, 0))) m_on_fork(m_node, "the exit refused an empty receipt");
    }
    std::vector<ledger::UsageClaimPayload> settled;
    std::uint64_t owed = 0;
    for (const auto& [e, bytes] : m_poor_receipted) {
        const ledger::UsageRecord* rec = s.usage_record(e, exit, poor.address(), entry);
        const std::uint64_t paid = rec ? rec->bytes : 0;
        if (rec) settled.push_back(ledger::UsageClaimPayload{exit, e, {{poor.address(), entry, rec->bytes, {}}}});
        const std::uint64_t cost = *ledger::usage_cost(bytes, LedgerWorld::usage_price);
        const std::uint64_t cost_paid = *ledger::usage_cost(paid, LedgerWorld::usage_price);
        owed += cost > cost_paid ? cost - cost_paid : 0;
    }
    const std::uint64_t balance = s.claimable(poor.address());
    meter.settle(settled, {{poor.address(), balance}});
    // The exit serves exactly while what the user owes — its receipts beyond
    // what was claimed, and the bytes it carried without one — is covered by
    // the balance the ledger shows.
    const auto check = [&](relay::MeterVerdict got, std::uint64_t unreceipted) {
        const std::uint64_t due = owed + *ledger::usage_cost(unreceipted, LedgerWorld::usage_price);
        const relay::MeterVerdict want =
            due > balance ? relay::MeterVerdict::balance_exhausted : relay::MeterVerdict::ok;
        if (got == want) return true;
        m_on_fork(m_node, "the exit's meter says " + std::to_string(static_cast<int>(got)) + " to a user owing " +
                              std::to_string(due) + " with " + std::to_string(balance) + " left");
        return false;
    };
    if (!check(meter.verdict(poor.address()), m_poor_unreceipted)) return;
    if (meter.verdict(poor.address()) == relay::MeterVerdict::ok) {
        // A MiB goes through; the proxy signs for it unless the exit cut it off on the way.
        const auto v = meter.on_bytes(circuit, MiB, relay::UsageMeter::Clock::time_point{});
        if (!check(v, m_poor_unreceipted + MiB)) return;
        if (v == relay::MeterVerdict::ok) {
            std::uint64_t& bytes = m_poor_receipted[epoch];
            if (!meter.on_receipt(circuit, receipt(epoch, bytes + MiB)))
                return m_on_fork(m_node, "the exit refused a paying user's receipt");
            bytes += MiB;
        } else {
            m_poor_unreceipted += MiB;
        }
    }
    // The user sees the exit's RESET balance_exhausted (SOCKS reply 2, HTTP 402).
    if (meter.verdict(poor.address()) == relay::MeterVerdict::balance_exhausted) ++m_cut_offs;
    const crypto::PrivateKey& op = m_world.relay_operators[0];
    std::uint64_t& next = m_next_nonce[1'000'000];
    const ledger::Account* acc = s.account(op.address());
    next = std::max(next, acc ? acc->nonce : 0);
    for (std::uint64_t e : {epoch == 0 ? epoch : epoch - 1, epoch})
        for (const auto& claim : meter.claims(e)) {
            auto tx = ledger::make_transaction(op, ledger_chain_id, next, fee, ledger::TxKind::usage_claim, claim);
            if (m_mempool.admit(tx, s)) ++next;
        }
}

void LedgerSimApp::submit(std::uint64_t seq) {
    if (m_node == 0 && m_world.poor_user && seq % 10 == 8) return submit_poor_usage();
    if (!m_world.relays.empty() && seq % 10 == 1) return submit_grant_step(seq);
    if (!m_world.relays.empty() && seq % 5 == 2) return submit_probe_report(seq);
    if (m_world.user && seq % 5 == 3) return submit_usage_claim(seq);
    if (m_world.genesis.params.validator_slots > 0 && seq % 5 == 4) {
        // A validator adds to its bond, now and then a lot: the largest bonds
        // change places, and so the sets. (Bonds only grow here: with bonds
        // below the minimum a set could be smaller than the simulation's n,
        // whose Byzantine count it sized for; unbonding is tested elsewhere.)
        const std::size_t k = (seq / 5) % m_world.validator_keys.size();
        const crypto::PrivateKey& key = m_world.validator_keys[k];
        const ledger::Account* acc = m_final_state.account(key.address());
        std::uint64_t& next = m_next_nonce[m_world.wallets.size() + k];
        next = std::max(next, acc ? acc->nonce : 0);
        const std::uint64_t h = seq * 2654435761ULL;
        const std::uint64_t amount = (1 + h % LedgerWorld::seat_stake) * ((h >> 20) % 4 == 0 ? 4 : 1);
        auto tx = ledger::make_transaction(key, ledger_chain_id, next, fee, ledger::TxKind::validator_bond,
                                           ledger::BondPayload{amount, {}});
        if (m_mempool.admit(tx, m_final_state)) ++next;
        return;
    }
    const std::size_t w = seq % m_world.wallets.size();
    const crypto::PrivateKey& key = m_world.wallets[w];
    const ledger::Account* acc = m_final_state.account(key.address());
    std::uint64_t& next = m_next_nonce[w];
    next = std::max(next, acc ? acc->nonce : 0);
    const ledger::TransferPayload pay{m_world.wallets[(w + 1) % m_world.wallets.size()].address(), 1 + seq % 7};
    auto tx = ledger::make_transaction(key, ledger_chain_id, next, fee, ledger::TxKind::transfer, pay);
    if (m_mempool.admit(tx, m_final_state)) ++next;
}

std::optional<consensus::BlockInfo> LedgerSimApp::receive(util::ByteView bytes) {
    auto h = m_candidates.receive(bytes, tip());
    if (!h) return std::nullopt;
    return consensus::BlockInfo{h->hash(), h->view, h->parent_view, h->parent,
                                ledger::epoch_of(h->height, m_world.genesis.params.epoch_blocks)};
}

std::optional<util::Bytes> LedgerSimApp::block(const Hash256& digest) const {
    if (const auto* e = m_candidates.find(digest)) return e->bytes;
    if (auto it = m_final_blocks.find(digest); it != m_final_blocks.end()) return it->second;
    return std::nullopt;
}

consensus::VerifyResult LedgerSimApp::verify(std::uint64_t epoch, const consensus::Proposal& p) {
    using consensus::Verdict;
    Hash256 missing{};
    switch (m_candidates.verify(epoch, p.view, p.parent_view, p.parent, p.digest, tip(), missing)) {
        case ledger::Candidates::Verdict::valid: return {Verdict::valid, {}};
        case ledger::Candidates::Verdict::missing:
            // A final block below the tip is never missing: the proposal leaves the final chain.
            if (m_final_blocks.contains(missing)) return {Verdict::invalid, {}};
            return {Verdict::missing_parent, missing};
        case ledger::Candidates::Verdict::invalid: break;
    }
    return {Verdict::invalid, {}};
}

ledger::ParentCertificate LedgerSimApp::parent_certificate(std::uint64_t epoch, const consensus::Proposal& p,
                                                           const consensus::Certificate* cert) const {
    // The simulator's consensus signs with its fast scheme (or keys of its
    // own): the same validators' votes are signed again with their ledger
    // keys, so the ledger verifies and counts exactly who voted.
    ledger::ParentCertificate out;
    const ledger::ValidatorSet& set = m_final_state.validator_set();
    if (!cert || set.epoch != epoch) return out;
    const ledger::Header* parent = nullptr;
    if (const auto* e = m_candidates.find(p.parent)) parent = &e->block.header;
    if (m_final_headers.back().hash() == p.parent) parent = &m_final_headers.back();
    if (!parent) return out;
    out.kind =
        cert->subject.kind == consensus::VoteKind::notarize ? ledger::VoteType::notarize : ledger::VoteType::finalize;
    for (const auto& [index, sig] : cert->votes) {
        CONET_ASSERT(index < set.members.size());
        const auto key = std::find(m_world.proposers.begin(), m_world.proposers.end(), set.members[index]);
        CONET_ASSERT(key != m_world.proposers.end());
        out.votes.push_back(ledger::parent_vote(*parent, out.kind, index,
                                                m_world.validator_keys[key - m_world.proposers.begin()],
                                                m_world.genesis.params.epoch_blocks));
    }
    return out;
}

std::optional<Hash256> LedgerSimApp::build(std::uint64_t epoch, const consensus::Proposal& p, std::uint64_t unix_ms,
                                           const consensus::Certificate* parent_certificate) {
    if (build_invalid) {
        // A lie about the state: every honest validator refuses it.
        auto d =
            m_candidates.build(epoch, p.view, p.parent_view, p.parent, tip(), m_mempool, unix_ms / 1000,
                               m_world.proposers[m_node], this->parent_certificate(epoch, p, parent_certificate), 64);
        if (!d || *d == p.parent) return d;  // a re-proposal carries no state to lie about
        ledger::Block b = m_candidates.find(*d)->block;
        b.header.state_root[0] ^= 1;
        return m_candidates.keep(std::move(b), std::nullopt);
    }
    return m_candidates.build(epoch, p.view, p.parent_view, p.parent, tip(), m_mempool, unix_ms / 1000,
                              m_world.proposers[m_node], this->parent_certificate(epoch, p, parent_certificate), 64);
}

std::optional<Hash256> LedgerSimApp::build_conflicting(const consensus::Proposal& p) {
    const auto* e = m_candidates.find(p.digest);
    if (!e || p.digest == p.parent) return std::nullopt;
    // The same slot, one second later and without transactions: a second valid block.
    ledger::Mempool empty;
    return m_candidates.build(ledger::epoch_of(e->block.header.height, m_world.genesis.params.epoch_blocks), p.view,
                              p.parent_view, p.parent, tip(), empty, e->block.header.time_unix + 1,
                              m_world.proposers[m_node], e->block.parent_certificate, 0);
}

std::optional<Hash256> LedgerSimApp::finalize(std::uint64_t epoch, const consensus::Certificate& cert) {
    auto path = m_candidates.path_to(cert.subject.proposal.digest, tip());
    if (path.verdict == ledger::Candidates::Verdict::missing && !m_final_blocks.contains(path.missing) &&
        path.missing != m_final_headers.front().hash())
        return path.missing;
    if (path.verdict != ledger::Candidates::Verdict::valid) {
        m_on_fork(m_node,
                  "a finalization certificate names a block that leaves the final chain or fails the "
                  "ledger's checks");
        return std::nullopt;
    }
    const std::uint64_t E = m_world.genesis.params.epoch_blocks;
    const ledger::State* before = &m_final_state;
    for (const auto* c : path.blocks) {
        const std::uint64_t height = c->block.header.height;
        if (auto broken = check_block(*before, c->block, *c->after); !broken.empty()) m_on_fork(m_node, broken);
        before = &*c->after;
        if (ledger::epoch_of(height, E) != epoch) {
            m_on_fork(m_node, "a certificate of epoch " + std::to_string(epoch) + " finalizes block " +
                                  std::to_string(height) + " of another epoch");
            return std::nullopt;
        }
        if (ledger::ends_epoch(height, E)) {
            if (auto r = m_epoch_ends.record(epoch, cert); !r) {
                m_on_fork(m_node, r.error());
                return std::nullopt;
            }
        }
        if (auto r = m_journal->append(c->bytes); !r) {
            m_on_fork(m_node, r.error().message);
            return std::nullopt;
        }
        const Hash256 d = c->block.header.hash();
        m_final_headers.push_back(c->block.header);
        if (ledger::ends_epoch(height, E) && on_validator_set) on_validator_set(m_node, c->after->validator_set());
        if (ledger::ends_epoch(height, E) && !m_world.relays.empty())
            if (auto broken = check_epoch_paid(*c->after); !broken.empty()) m_on_fork(m_node, broken);
        if (m_world.user)
            if (auto broken = check_usage(*c->after); !broken.empty()) m_on_fork(m_node, broken);
        m_final_blocks[d] = c->bytes;
        m_tip_view = c->block.header.view;
        Final fin{c->block.header.height, d, ledger::epoch_of(c->block.header.height, E), {}};
        for (const auto& tx : c->block.transactions) fin.txs.push_back(tx.hash());
        m_on_finalized(m_node, fin);
    }
    if (!path.blocks.empty()) m_final_state = *path.blocks.back()->after;
    if (auto r = m_journal->sync(); !r) m_on_fork(m_node, r.error().message);
    m_mempool.prune(m_final_state);
    m_candidates.prune(m_tip_view);
    return std::nullopt;
}

}  // namespace conet::sim
