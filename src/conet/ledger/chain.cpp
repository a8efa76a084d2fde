#include "conet/ledger/chain.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "conet/util/assert.hpp"

namespace conet::ledger {

namespace json = boost::json;

std::string_view describe(BlockError e) {
    switch (e) {
        case BlockError::wrong_chain: return "block is for another chain";
        case BlockError::wrong_height: return "block height is not parent + 1";
        case BlockError::wrong_parent: return "block does not extend the parent";
        case BlockError::wrong_view: return "block view does not follow its parent's";
        case BlockError::time_went_backwards: return "block time is before its parent's";
        case BlockError::bad_tx_root: return "transaction root does not match";
        case BlockError::transaction_rejected: return "a transaction in the block is invalid";
        case BlockError::bad_state_root: return "state root does not match";
        case BlockError::bad_certificate: return "certificate does not carry a validator quorum";
        case BlockError::bad_parent_certificate:
            return "parent certificate does not match the header, is misplaced or does not carry a quorum";
    }
    return "unknown block error";
}

namespace {

util::Result<std::uint64_t, std::string> get_u64(const json::object& o, std::string_view key, bool required,
                                                 std::uint64_t fallback = 0) {
    const json::value* v = o.if_contains(key);
    if (!v) {
        if (required) return util::unexpected(std::string("missing \"").append(key).append("\""));
        return fallback;
    }
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    return util::unexpected(std::string("\"").append(key).append("\" must be a non-negative integer"));
}

util::Result<IncentiveParams, std::string> incentives_from_json(const json::object& o) {
    IncentiveParams p;
    const auto u32 = [&](std::string_view key, std::uint32_t& out) -> std::string {
        auto v = get_u64(o, key, false, out);
        if (!v) return v.error();
        if (*v > ~std::uint32_t{0}) return std::string("\"").append(key).append("\" is too large");
        out = static_cast<std::uint32_t>(*v);
        return {};
    };
    for (auto [key, field] : {std::pair<std::string_view, std::uint64_t*>{"emission_per_epoch", &p.emission_per_epoch},
                              {"emission_halving_epochs", &p.emission_halving_epochs},
                              {"saturation_stake", &p.saturation_stake},
                              {"usage_price_per_mib", &p.usage_price_per_mib}}) {
        auto v = get_u64(o, key, false, *field);
        if (!v) return util::unexpected(v.error());
        *field = *v;
    }
    for (auto [key, field] : {std::pair<std::string_view, std::uint32_t*>{"node_share_bps", &p.node_share_bps},
                              {"validator_share_bps", &p.validator_share_bps},
                              {"probers_per_node", &p.probers_per_node},
                              {"probe_target_kbps", &p.probe_target_kbps},
                              {"probe_target_rtt_ms", &p.probe_target_rtt_ms},
                              {"jail_after_failed_epochs", &p.jail_after_failed_epochs},
                              {"slash_bps", &p.slash_bps},
                              {"usage_protocol_bps", &p.usage_protocol_bps},
                              {"usage_entry_bps", &p.usage_entry_bps}})
        if (auto err = u32(key, *field); !err.empty()) return util::unexpected(err);
    if (p.probers_per_node > max_validators)
        return util::unexpected("\"probers_per_node\" is at most " + std::to_string(max_validators));
    if (auto err = p.check(); !err.empty()) return util::unexpected("incentives: " + err);
    return p;
}

}  // namespace

boost::json::object incentives_to_json(const IncentiveParams& p) {
    return json::object{{"emission_per_epoch", p.emission_per_epoch},
                        {"emission_halving_epochs", p.emission_halving_epochs},
                        {"node_share_bps", p.node_share_bps},
                        {"validator_share_bps", p.validator_share_bps},
                        {"saturation_stake", p.saturation_stake},
                        {"probers_per_node", p.probers_per_node},
                        {"probe_target_kbps", p.probe_target_kbps},
                        {"probe_target_rtt_ms", p.probe_target_rtt_ms},
                        {"jail_after_failed_epochs", p.jail_after_failed_epochs},
                        {"slash_bps", p.slash_bps},
                        {"usage_price_per_mib", p.usage_price_per_mib},
                        {"usage_protocol_bps", p.usage_protocol_bps},
                        {"usage_entry_bps", p.usage_entry_bps}};
}

util::Result<Genesis, std::string> Genesis::from_json(std::string_view text) {
    boost::system::error_code ec;
    const json::value doc = json::parse(text, ec);
    if (ec || !doc.is_object()) return util::unexpected(std::string("genesis is not a JSON object"));
    const json::object& o = doc.get_object();
    Genesis g;
    auto chain = get_u64(o, "chain_id", true);
    if (!chain) return util::unexpected(chain.error());
    g.chain_id = *chain;
    auto time = get_u64(o, "time", false);
    if (!time) return util::unexpected(time.error());
    g.time_unix = *time;
    const json::value* vals = o.if_contains("validators");
    if (!vals || !vals->is_array() || vals->get_array().empty() || vals->get_array().size() > max_validators)
        return util::unexpected(std::string("\"validators\" must be a non-empty array of addresses"));
    for (const auto& v : vals->get_array()) {
        auto a = v.is_string() ? crypto::Address::parse(v.get_string())
                               : crypto::KeyResult<crypto::Address>(util::unexpected(crypto::KeyError::bad_address));
        if (!a) return util::unexpected(std::string("bad validator address"));
        // One key listed twice would count twice towards the quorum size.
        if (std::find(g.validators.begin(), g.validators.end(), *a) != g.validators.end())
            return util::unexpected("validator listed twice: " + a->to_string());
        g.validators.push_back(*a);
    }
    if (const json::value* bal = o.if_contains("balances")) {
        if (!bal->is_object()) return util::unexpected(std::string("\"balances\" must be an object"));
        for (const auto& [k, v] : bal->get_object()) {
            auto a = crypto::Address::parse(k);
            if (!a) return util::unexpected("bad address in balances: " + std::string(k));
            json::object tmp{{"amount", v}};
            auto amount = get_u64(tmp, "amount", true);
            if (!amount) return util::unexpected("bad amount for " + std::string(k));
            // Keys differing only in case name one account: both would be credited,
            // and to_json could not write them back.
            for (const auto& [seen, ignored] : g.balances)
                if (seen == *a) return util::unexpected("address listed twice in balances: " + a->to_string());
            g.balances.emplace_back(*a, *amount);
        }
    }
    auto stake = get_u64(o, "validator_stake", false);
    if (!stake) return util::unexpected(stake.error());
    g.validator_stake = *stake;
    if (const json::value* p = o.if_contains("params")) {
        if (!p->is_object()) return util::unexpected(std::string("\"params\" must be an object"));
        const auto& po = p->get_object();
        auto min_fee = get_u64(po, "min_fee", false, g.params.min_fee);
        auto unbonding = get_u64(po, "unbonding_blocks", false, g.params.unbonding_blocks);
        auto delay = get_u64(po, "withdraw_delay_blocks", false, g.params.withdraw_delay_blocks);
        auto epochs = get_u64(po, "epoch_blocks", false, 0);
        auto slots = get_u64(po, "validator_slots", false, 0);
        auto min_stake = get_u64(po, "min_validator_stake", false, g.params.min_validator_stake);
        if (!min_fee || !unbonding || !delay || !epochs || !slots || !min_stake)
            return util::unexpected(std::string("bad params"));
        if (*slots > max_validators)
            return util::unexpected("\"validator_slots\" is at most " + std::to_string(max_validators));
        if (*slots > 0 && *epochs == 0)
            return util::unexpected(
                std::string("\"validator_slots\" needs \"epoch_blocks\": sets change at epoch ends"));
        if (*slots > 0 && g.validator_stake < std::max<std::uint64_t>(*min_stake, 1))
            return util::unexpected(std::string(
                "\"validator_stake\" must be at least \"min_validator_stake\" with validator slots: unbonded "
                "genesis validators would lose their seats to the first bond"));
        if (const json::value* inc = po.if_contains("incentives")) {
            if (!inc->is_object()) return util::unexpected(std::string("\"incentives\" must be an object"));
            auto parsed = incentives_from_json(inc->get_object());
            if (!parsed) return util::unexpected(parsed.error());
            if (*epochs == 0 && parsed->emission_per_epoch > 0)
                return util::unexpected(
                    std::string("\"incentives\" need \"epoch_blocks\": rewards are paid at epoch ends"));
            g.params.incentives = *parsed;
        }
        g.params.epoch_blocks = *epochs;
        g.params.validator_slots = *slots;
        g.params.min_validator_stake = *min_stake;
        g.params.min_fee = *min_fee;
        g.params.unbonding_blocks = *unbonding;
        g.params.withdraw_delay_blocks = *delay;
    }
    return g;
}

std::string Genesis::to_json() const {
    json::array vals;
    for (const auto& v : validators) vals.push_back(json::value(v.to_string()));
    json::object bal;
    for (const auto& [a, amount] : balances) bal[a.to_string()] = amount;
    json::object p{{"min_fee", params.min_fee},
                   {"unbonding_blocks", params.unbonding_blocks},
                   {"withdraw_delay_blocks", params.withdraw_delay_blocks}};
    if (params.epoch_blocks > 0) p["epoch_blocks"] = params.epoch_blocks;
    if (params.validator_slots > 0) {
        p["validator_slots"] = params.validator_slots;
        p["min_validator_stake"] = params.min_validator_stake;
    }
    if (params.incentives != IncentiveParams{}) p["incentives"] = incentives_to_json(params.incentives);
    json::object o{{"chain_id", chain_id},
                   {"time", time_unix},
                   {"validators", std::move(vals)},
                   {"balances", std::move(bal)},
                   {"params", std::move(p)}};
    if (validator_stake > 0) o["validator_stake"] = validator_stake;
    return json::serialize(o) + "\n";
}

util::Result<State, std::string> Genesis::state() const {
    State s(chain_id, params);
    Amount128 total = 0;
    for (const auto& [a, amount] : balances) {
        total += amount;
        // The whole supply must fit in a u64 so no account can ever overflow.
        if (total > ~std::uint64_t{0}) return util::unexpected(std::string("total supply exceeds 2^64 - 1"));
        if (!s.credit(a, amount)) return util::unexpected(std::string("balance overflow"));
    }
    if (params.validator_slots > 0 && validator_stake < std::max<std::uint64_t>(params.min_validator_stake, 1))
        return util::unexpected(std::string("validator_stake is below min_validator_stake"));
    total += static_cast<Amount128>(validator_stake) * validators.size();
    if (total > ~std::uint64_t{0}) return util::unexpected(std::string("total supply exceeds 2^64 - 1"));
    if (auto err = params.incentives.check(); !err.empty()) return util::unexpected("incentives: " + err);
    // Halving emission mints less than 2 · emission · halving epochs in all:
    // with it the supply must still fit in a u64, so no balance can overflow.
    // (Compared by division: 2 · E · H itself may not fit even 128 bits.)
    const Amount128 room = ~std::uint64_t{0} - static_cast<std::uint64_t>(total);
    const Amount128 emission = params.incentives.emission_per_epoch;
    if (emission > 0 && params.incentives.emission_halving_epochs > room / (2 * emission))
        return util::unexpected(std::string("genesis supply plus all future emission exceeds 2^64 - 1"));
    s.set_genesis_validators(validators, validator_stake);
    return s;
}

Header Genesis::header(const State& genesis_state) const {
    Header h;
    h.chain_id = chain_id;
    h.height = 0;
    h.time_unix = time_unix;
    h.state_root = genesis_state.state_root();
    return h;
}

namespace {

util::Result<void, BlockError> check_structure(const State& state, const Header& parent, const Block& block) {
    const Header& h = block.header;
    if (h.chain_id != state.chain_id()) return util::unexpected(BlockError::wrong_chain);
    if (h.height != parent.height + 1) return util::unexpected(BlockError::wrong_height);
    if (h.parent != parent.hash()) return util::unexpected(BlockError::wrong_parent);
    if (h.parent_view != parent.view || h.view <= parent.view) return util::unexpected(BlockError::wrong_view);
    if (h.time_unix < parent.time_unix) return util::unexpected(BlockError::time_went_backwards);
    if (transactions_root(block.transactions) != h.tx_root) return util::unexpected(BlockError::bad_tx_root);
    if (block.parent_certificate.hash() != h.parent_certificate)
        return util::unexpected(BlockError::bad_parent_certificate);
    return {};
}

/// A block may carry a certificate of its parent only within the parent's
/// epoch (the set in `state` is then the parent's), and it must verify.
bool carries_parent_certificate(std::uint64_t parent_height, std::uint64_t height, std::uint64_t epoch_blocks) {
    return parent_height > 0 && epoch_of(parent_height, epoch_blocks) == epoch_of(height, epoch_blocks);
}

util::Result<void, BlockError> check_parent_certificate(const State& state, const Header& parent, const Block& block) {
    if (block.parent_certificate.empty()) return {};
    const std::uint64_t epoch_blocks = state.params().epoch_blocks;
    if (!carries_parent_certificate(parent.height, block.header.height, epoch_blocks) ||
        !verify_parent_certificate(parent, block.parent_certificate, state.validator_set().members, epoch_blocks))
        return util::unexpected(BlockError::bad_parent_certificate);
    return {};
}

util::Result<void, BlockError> execute(State& state, const Block& block, const Mempool* known) {
    const Header& h = block.header;
    State next = state;
    const BlockContext ctx{h.height, h.time_unix, h.proposer, h.parent};
    next.count_votes(block.parent_certificate.votes);
    for (const auto& tx : block.transactions)
        if (!next.apply(tx, ctx, known ? known->sender_of(tx.hash()) : nullptr))
            return util::unexpected(BlockError::transaction_rejected);
    next.end_block(ctx);
    if (next.state_root() != h.state_root) return util::unexpected(BlockError::bad_state_root);
    state = std::move(next);
    return {};
}

}  // namespace

util::Result<void, BlockError> apply_block(State& state, const Header& parent, const Block& block) {
    if (auto r = check_structure(state, parent, block); !r) return r;
    if (auto r = check_parent_certificate(state, parent, block); !r) return r;
    const std::uint64_t epoch_blocks = state.params().epoch_blocks;
    CONET_ASSERT(state.validator_set().epoch == epoch_of(block.header.height, epoch_blocks));
    if (!verify_certificate(block.header, block.certificate, state.validator_set().members, epoch_blocks))
        return util::unexpected(BlockError::bad_certificate);
    return execute(state, block, nullptr);
}

util::Result<void, BlockError> execute_block(State& state, const Header& parent, const Block& block,
                                             const Mempool* known) {
    if (auto r = check_structure(state, parent, block); !r) return r;
    if (auto r = check_parent_certificate(state, parent, block); !r) return r;
    return execute(state, block, known);
}

std::pair<Block, State> build_block(const State& state, const Header& parent, const Mempool& mempool,
                                    std::uint64_t time_unix, const crypto::PrivateKey& proposer, std::size_t max_txs) {
    const std::uint64_t epoch_blocks = state.params().epoch_blocks;
    ParentCertificate parent_cert;
    if (carries_parent_certificate(parent.height, parent.height + 1, epoch_blocks)) {
        parent_cert.kind = VoteType::finalize;
        parent_cert.votes.push_back(parent_vote(parent, VoteType::finalize, 0, proposer, epoch_blocks));
    }
    auto built = build_unsigned_block(state, parent, mempool, time_unix, proposer.address(), parent.view + 1, max_txs,
                                      std::move(parent_cert));
    built.first.certificate.votes.push_back(finalize_vote(built.first.header, 0, proposer, epoch_blocks));
    return built;
}

std::pair<Block, State> build_unsigned_block(const State& state, const Header& parent, const Mempool& mempool,
                                             std::uint64_t time_unix, const crypto::Address& proposer,
                                             std::uint64_t view, std::size_t max_txs,
                                             ParentCertificate parent_certificate) {
    Block b;
    b.header.chain_id = state.chain_id();
    b.header.height = parent.height + 1;
    b.header.view = view;
    b.header.parent_view = parent.view;
    b.header.parent = parent.hash();
    b.header.time_unix = std::max(time_unix, parent.time_unix);
    b.header.proposer = proposer;
    // Only a certificate every validator will accept is carried: none across
    // an epoch, and none that does not verify (the engine's certificates
    // always should; a bug there must cost the votes' reward, not the block).
    if (!carries_parent_certificate(parent.height, b.header.height, state.params().epoch_blocks) ||
        !verify_parent_certificate(parent, parent_certificate, state.validator_set().members,
                                   state.params().epoch_blocks))
        parent_certificate = {};
    b.parent_certificate = std::move(parent_certificate);
    b.header.parent_certificate = b.parent_certificate.hash();
    State next = state;
    const BlockContext ctx{b.header.height, b.header.time_unix, b.header.proposer, b.header.parent};
    next.count_votes(b.parent_certificate.votes);
    std::size_t payload_bytes = 0;
    for (auto& s : mempool.select(state, max_txs)) {
        if (payload_bytes + s.tx.payload.size() > max_block_payload_bytes) continue;  // the next block takes it
        if (next.apply(s.tx, ctx, &s.sender)) {
            payload_bytes += s.tx.payload.size();
            b.transactions.push_back(std::move(s.tx));
        }
    }
    next.end_block(ctx);
    b.header.tx_root = transactions_root(b.transactions);
    b.header.state_root = next.state_root();
    return {std::move(b), std::move(next)};
}

}  // namespace conet::ledger
