#include "conet/node/incentives_rpc.hpp"

#include "conet/ledger/chain.hpp"
#include "conet/node/rpc_params.hpp"
#include "conet/rpc/proof_json.hpp"

namespace conet::node {

namespace json = boost::json;
using rpc::RpcError;
using MethodResult = util::Result<json::value, RpcError>;
using rpc_params::address_param;
using rpc_params::given;
using rpc_params::u64_param;

json::object epoch_summary_json(const ledger::EpochSummary& s) {
    return json::object{{"epoch", s.epoch},
                        {"emission", s.emission},
                        {"node_pool", s.node_pool},
                        {"validator_pool", s.validator_pool},
                        {"fund", s.fund},
                        {"minted", s.minted},
                        {"not_minted", s.emission - s.minted},
                        {"nodes_measured", s.nodes_measured},
                        {"nodes_paid", s.nodes_paid}};
}

json::object reward_record_json(const ledger::RewardRecord& r) {
    return json::object{{"epoch", r.epoch},
                        {"node_reward", r.node_reward},
                        {"validator_reward", r.validator_reward},
                        {"fund_reward", r.fund_reward},
                        {"total", r.node_reward + r.validator_reward + r.fund_reward}};
}

namespace {

json::object incentive_params_json(const ledger::IncentiveParams& p) {
    json::object o = ledger::incentives_to_json(p);
    o["fund_share_bps"] = p.fund_share_bps();
    return o;
}

json::value node_score_json(const ledger::State& s, const crypto::X25519Public& key, const ledger::NodeEntry& n) {
    const ledger::NodeService& svc = n.service;
    const ledger::Tier tier = ledger::tier_of(svc.score_bps);
    json::array probers;
    for (const auto& a : ledger::assigned_probers(s.epoch_info().seed, key, s.validator_set().members,
                                                  s.params().incentives.probers_per_node))
        probers.push_back(json::value(a.to_string()));
    json::array reported;
    if (svc.probe_epoch == s.epoch_info().epoch)
        for (const auto& [a, r] : svc.probes) reported.push_back(json::value(a.to_string()));
    json::object out{{"node", util::to_hex(key)},
                     {"operator", n.record.operator_address.to_string()},
                     {"region", n.record.region},
                     {"stake", n.stake},
                     {"jailed", svc.jailed},
                     {"failed_epochs", svc.failed_epochs},
                     {"probers", svc.jailed ? json::array{} : std::move(probers)},
                     {"reported_this_epoch", std::move(reported)}};
    if (svc.scored) {
        out["last"] = json::object{{"epoch", svc.scored_epoch},
                                   {"reports", svc.reports},
                                   {"score_bps", svc.score_bps},
                                   {"tier", svc.reports == 0 ? "unmeasured" : ledger::tier_name(tier)},
                                   {"multiplier_bps", ledger::tier_multiplier_bps(tier)},
                                   {"reward", svc.reward}};
    } else {
        out["last"] = nullptr;
    }
    return out;
}

}  // namespace

void register_incentive_methods(rpc::Dispatcher& d, const ledger::BlockStore& store) {
    d.add("conet_getEpoch", [&store](const json::value& p) -> MethodResult {
        const ledger::State& s = store.state();
        const ledger::EpochInfo& info = s.epoch_info();
        if (given(p, 0)) {
            auto e = u64_param(p, 0, "an epoch");
            if (!e) return util::unexpected(e.error());
            auto summary = store.epoch_summary(*e);
            if (!summary)
                return util::unexpected(RpcError{rpc::not_found, "epoch " + std::to_string(*e) +
                                                                     " has not been paid (the current epoch is " +
                                                                     std::to_string(info.epoch) + ")"});
            return json::value(epoch_summary_json(*summary));
        }
        const std::uint64_t E = s.params().epoch_blocks;
        const ledger::Account* fund = s.account(ledger::developer_fund_address());
        json::object out{{"epoch", info.epoch},
                         {"epoch_blocks", E},
                         {"first_height", E == 0 ? 1 : info.epoch * E + 1},
                         {"last_height", E == 0 ? json::value(nullptr) : json::value((info.epoch + 1) * E)},
                         {"head", store.head().height},
                         {"seed", util::to_hex_prefixed(info.seed)},
                         {"emission", ledger::epoch_emission(s.params().incentives, info.epoch)},
                         {"incentives", incentive_params_json(s.params().incentives)},
                         {"developer_fund", json::object{{"address", ledger::developer_fund_address().to_string()},
                                                         {"balance", fund ? fund->balance : 0}}},
                         {"validators", s.validator_set().members.size()},
                         {"nodes", s.nodes().size()}};
        out["last"] = info.last ? json::value(epoch_summary_json(*info.last)) : json::value(nullptr);
        // The votes this epoch's blocks carried so far: the validator pool's weights at its end.
        json::array votes;
        for (const auto& [a, n] : info.votes) votes.push_back(json::object{{"validator", a.to_string()}, {"votes", n}});
        out["votes"] = std::move(votes);
        return json::value(std::move(out));
    });
    d.add("conet_getScores", [&store](const json::value& p) -> MethodResult {
        const std::uint64_t offset = given(p, 0) ? u64_param(p, 0, "an offset").value_or(0) : 0;
        const std::uint64_t limit = std::min<std::uint64_t>(
            given(p, 1) ? u64_param(p, 1, "a limit").value_or(max_listed_scores) : max_listed_scores,
            max_listed_scores);
        const ledger::State& s = store.state();
        json::array nodes;
        std::uint64_t i = 0;
        for (const auto& [k, n] : s.nodes()) {
            if (i++ < offset) continue;
            if (nodes.size() >= limit) break;
            nodes.push_back(node_score_json(s, k, n));
        }
        return json::value(json::object{{"epoch", s.epoch_info().epoch},
                                        {"head", store.head().height},
                                        {"nodes", std::move(nodes)},
                                        {"total", s.nodes().size()}});
    });
    d.add("conet_getGrants", [&store](const json::value& p) -> MethodResult {
        // [id?]: one grant with its proof, or all (open first, at most 500).
        const ledger::State& s = store.state();
        const auto grant_json = [&](const crypto::Hash256& id, const ledger::Grant& g) {
            json::array approvals;
            for (const auto& a : g.approvals) approvals.push_back(json::value(a.to_string()));
            const auto [approving, total] = s.grant_support(g);
            return json::object{{"id", util::to_hex_prefixed(id)},
                                {"recipient", g.proposal.recipient.to_string()},
                                {"amount", g.proposal.amount},
                                {"reference", g.proposal.reference},
                                {"expiry_epoch", g.proposal.expiry_epoch},
                                {"proposer", g.proposer.to_string()},
                                {"proposed_epoch", g.proposed_epoch},
                                {"status", ledger::grant_status_name(g.status)},
                                {"closed_epoch", g.closed_epoch},
                                {"approvals", std::move(approvals)},
                                {"approving_validators", approving},
                                {"voting_validators", total}};
        };
        const ledger::Account* fund = s.account(ledger::developer_fund_address());
        json::object out{{"fund", json::object{{"address", ledger::developer_fund_address().to_string()},
                                               {"balance", fund ? fund->balance : 0}}},
                         {"epoch", s.epoch_info().epoch},
                         {"head", store.head().height}};
        if (given(p, 0)) {
            auto id = rpc_params::hex_param<32>(p, 0, "a grant id (32-byte hex)");
            if (!id) return util::unexpected(id.error());
            const ledger::Grant* g = s.grant(*id);
            if (!g) return util::unexpected(RpcError{rpc::not_found, "no grant " + util::to_hex_prefixed(*id)});
            out["grant"] = grant_json(*id, *g);
            out["state_root"] = util::to_hex_prefixed(store.head().state_root);
            out["proof"] = rpc::proof_to_json(store.tree().prove(ledger::State::grant_key(*id)));
            return json::value(std::move(out));
        }
        json::array grants;
        for (const bool open : {true, false})
            for (const auto& [id, g] : s.grants())
                if ((g.status == ledger::Grant::Status::open) == open && grants.size() < max_listed_scores)
                    grants.push_back(grant_json(id, g));
        out["grants"] = std::move(grants);
        out["total"] = s.grants().size();
        return json::value(std::move(out));
    });
    d.add("conet_getRewards", [&store](const json::value& p) -> MethodResult {
        // [address?, epoch?]: one address's latest reward with its proof, or
        // what it (or everyone) received in one epoch, from the store's history.
        const ledger::State& s = store.state();
        std::optional<crypto::Address> address;
        if (given(p, 0)) {
            auto a = address_param(p, 0);
            if (!a) return util::unexpected(a.error());
            address = *a;
        }
        std::optional<std::uint64_t> epoch;
        if (given(p, 1)) {
            auto e = u64_param(p, 1, "an epoch");
            if (!e) return util::unexpected(e.error());
            epoch = *e;
        }
        if (address && !epoch) {
            const ledger::RewardRecord* r = s.reward(*address);
            const auto proof = store.tree().prove(ledger::State::reward_key(*address));
            return json::value(json::object{{"address", address->to_string()},
                                            {"latest", r ? json::value(reward_record_json(*r)) : json::value(nullptr)},
                                            {"height", store.head().height},
                                            {"state_root", util::to_hex_prefixed(store.head().state_root)},
                                            {"proof", rpc::proof_to_json(proof)}});
        }
        if (!epoch) {
            if (!s.epoch_info().last)
                return util::unexpected(RpcError{rpc::not_found, "no epoch has been paid yet (the current epoch is " +
                                                                     std::to_string(s.epoch_info().epoch) + ")"});
            epoch = s.epoch_info().last->epoch;
        }
        auto summary = store.epoch_summary(*epoch);
        if (!summary)
            return util::unexpected(RpcError{rpc::not_found, "epoch " + std::to_string(*epoch) +
                                                                 " has not been paid (the current epoch is " +
                                                                 std::to_string(s.epoch_info().epoch) + ")"});
        json::array paid;
        if (address) {
            if (auto r = store.reward_at(*epoch, *address)) {
                json::object o = reward_record_json(*r);
                o["address"] = address->to_string();
                paid.push_back(std::move(o));
            }
        } else {
            for (const auto& [a, r] : store.rewards_of_epoch(*epoch, max_listed_scores)) {
                json::object o = reward_record_json(r);
                o["address"] = a.to_string();
                paid.push_back(std::move(o));
            }
        }
        json::object out{{"epoch", *epoch}, {"summary", epoch_summary_json(*summary)}, {"rewards", std::move(paid)}};
        // The usage fees it earned from that epoch's traffic, claimed so far (they go to its balance).
        if (address) out["usage_fees"] = store.usage_fees(*epoch, *address);
        return json::value(std::move(out));
    });
    // A node's score, tier and reward in each epoch it was scored, newest first.
    d.add("conet_getNodeHistory", [&store](const json::value& p) -> MethodResult {
        auto node = rpc_params::hex_param<32>(p, 0, "the node's 32-byte hex Noise key");
        if (!node) return util::unexpected(node.error());
        constexpr std::uint64_t max_epochs = 100;
        const std::uint64_t limit =
            std::min<std::uint64_t>(given(p, 1) ? u64_param(p, 1, "a limit").value_or(20) : 20, max_epochs);
        json::array epochs;
        for (const auto& e : store.score_history(*node, limit)) {
            const auto tier = ledger::tier_of(e.score_bps);
            epochs.push_back(json::object{{"epoch", e.epoch},
                                          {"reports", e.reports},
                                          {"score_bps", e.score_bps},
                                          {"tier", e.reports == 0 ? "unmeasured" : ledger::tier_name(tier)},
                                          {"multiplier_bps", ledger::tier_multiplier_bps(tier)},
                                          {"reward", e.reward},
                                          {"failed_epochs", e.failed_epochs},
                                          {"jailed", e.jailed}});
        }
        return json::value(
            json::object{{"node", util::to_hex(*node)}, {"head", store.head().height}, {"epochs", std::move(epochs)}});
    });
    // What an exit has been paid for: the usage claimed of (payer, entry) pairs in one epoch.
    d.add("conet_getUsage", [&store](const json::value& p) -> MethodResult {
        auto exit = rpc_params::hex_param<32>(p, 0, "the exit's 32-byte hex Noise key");
        if (!exit) return util::unexpected(exit.error());
        auto epoch = u64_param(p, 1, "an epoch");
        if (!epoch) return util::unexpected(epoch.error());
        const json::value* pairs = rpc_params::param(p, 2);
        if (!pairs || !pairs->is_array() || pairs->get_array().size() > ledger::UsageClaimPayload::max_receipts)
            return util::unexpected(rpc_params::bad_params("param 2 must be an array of at most " +
                                                           std::to_string(ledger::UsageClaimPayload::max_receipts) +
                                                           " [payer address, entry key] pairs"));
        const ledger::State& s = store.state();
        json::array out;
        for (const auto& pair : pairs->get_array()) {
            const json::array* a = pair.if_array();
            auto payer = a && a->size() == 2 && a->at(0).is_string()
                             ? crypto::Address::parse(a->at(0).get_string())
                             : crypto::KeyResult<crypto::Address>(util::unexpected(crypto::KeyError::bad_address));
            auto entry =
                a && a->size() == 2 && a->at(1).is_string()
                    ? util::from_hex_fixed<32>(a->at(1).get_string())
                    : util::Result<util::ByteArray<32>, util::HexError>(util::unexpected(util::HexError::bad_digit));
            if (!payer || !entry)
                return util::unexpected(rpc_params::bad_params("each pair must be [payer address, entry key hex]"));
            const ledger::UsageRecord* r = s.usage_record(*epoch, *exit, *payer, *entry);
            out.push_back(r ? r->bytes : 0);
        }
        return json::value(json::object{{"epoch", *epoch}, {"claimed", std::move(out)}, {"head", store.head().height}});
    });
}

}  // namespace conet::node