#include "conet/node/header_check.hpp"

#include <map>
#include <mutex>

#include "conet/rpc/client.hpp"
#include "conet/rpc/proof_json.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

namespace {

/// Sets already proven, by genesis (its JSON's hash) and epoch: the genesis
/// set and at most this many more, the latest (an older epoch's set is
/// proven again from genesis when asked for).
constexpr std::size_t max_proven_sets = 64;

struct ProvenSets {
    std::mutex mutex;
    std::map<std::string, std::map<std::uint64_t, std::vector<crypto::Address>>> by_genesis;
};

ProvenSets& proven_sets() {
    static ProvenSets sets;
    return sets;
}

}  // namespace

util::Result<std::vector<crypto::Address>, std::string> verified_validator_set(const std::string& url,
                                                                               const ledger::Genesis& genesis,
                                                                               std::uint64_t epoch,
                                                                               const rpc::CallOptions& call) {
    const std::uint64_t E = genesis.params.epoch_blocks;
    if (epoch == 0 || E == 0 || genesis.params.validator_slots == 0) return genesis.validators;
    const auto digest = crypto::keccak256(util::as_bytes(genesis.to_json()));
    const std::string id(util::as_chars(util::ByteView(digest)));
    std::uint64_t from = 0;
    {
        std::lock_guard lock(proven_sets().mutex);
        auto& sets = proven_sets().by_genesis[id];
        if (sets.empty()) sets[0] = genesis.validators;
        auto it = sets.upper_bound(epoch);
        from = std::prev(it)->first;
        if (from == epoch) return std::prev(it)->second;
    }
    // Each next epoch's set: stored by the block that ended the epoch before
    // it, whose header the set before certified.
    for (std::uint64_t e = from + 1; e <= epoch; ++e) {
        auto r = rpc::call(url, "conet_getValidatorSet", {json::value(e)}, call);
        if (!r)
            return util::unexpected("conet_getValidatorSet " + std::to_string(e) + ": " +
                                    (r.error().message.empty() ? std::string("RPC error") : r.error().message));
        ledger::ValidatorSet set{e, {}};
        std::optional<ledger::SmtProof> proof;
        try {
            const auto& members = r->at("members").as_array();
            if (members.empty() || members.size() > ledger::max_validators)
                return util::unexpected(std::string("validator set: malformed answer"));
            for (const auto& m : members) {
                auto a = crypto::Address::parse(m.as_string());
                if (!a) return util::unexpected(std::string("validator set: malformed answer"));
                set.members.push_back(*a);
            }
            proof = rpc::proof_from_json(r->at("proof"));
        } catch (const std::exception&) {
            return util::unexpected(std::string("validator set: malformed answer"));
        }
        if (!proof) return util::unexpected(std::string("validator set: malformed proof"));
        auto boundary = verified_header(url, genesis, e * E, call);
        if (!boundary) return util::unexpected("validator set of epoch " + std::to_string(e) + ": " + boundary.error());
        if (!ledger::smt_verify(boundary->state_root, ledger::State::validator_set_key(),
                                ledger::State::validator_set_value_hash(set), *proof))
            return util::unexpected("validator set of epoch " + std::to_string(e) +
                                    " refused: its proof does not match the certified state root of block " +
                                    std::to_string(e * E));
        std::lock_guard lock(proven_sets().mutex);
        auto& sets = proven_sets().by_genesis[id];
        sets[e] = set.members;
        // Past the bound, forget the oldest but epoch 0, this one and the one
        // below it (the next step of a walk needs them).
        for (auto it = std::next(sets.begin()); sets.size() > max_proven_sets + 1 && it != sets.end();)
            it = it->first + 1 < e || it->first > e ? sets.erase(it) : std::next(it);
        if (e == epoch) return set.members;
    }
    return util::unexpected(std::string("validator set: no epoch to prove"));  // unreachable: from < epoch
}

util::Result<ledger::Header, std::string> verified_header(const std::string& url, const ledger::Genesis& genesis,
                                                          std::optional<std::uint64_t> height,
                                                          const rpc::CallOptions& call) {
    json::array params;
    if (height) params.push_back(json::value(*height));
    auto r = rpc::call(url, "conet_getHeader", std::move(params), call);
    if (!r)
        return util::unexpected("conet_getHeader: " +
                                (r.error().message.empty() ? std::string("RPC error") : r.error().message));
    try {
        auto encoded = util::from_hex(r->at("header").at("encoded").as_string());
        if (!encoded) return util::unexpected(std::string("header: bad encoding"));
        auto header = codec::decode<ledger::Header>(*encoded);
        if (!header) return util::unexpected(std::string("header: undecodable"));
        if (header->chain_id != genesis.chain_id) return util::unexpected(std::string("header: another chain"));
        if (height && header->height != *height) return util::unexpected(std::string("header: wrong height"));
        if (header->height == 0) {  // genesis is trusted as the file we hold says it is
            auto state = genesis.state();
            if (!state || genesis.header(*state).hash() != header->hash())
                return util::unexpected(std::string("header: not our genesis block"));
            return *header;
        }
        auto cert = rpc::certificate_from_json(r->at("certificate"));
        auto again = rpc::reproposal_from_json(r->as_object().if_contains("certificate_reproposal"));
        if (!cert || !again) return util::unexpected(std::string("header: malformed certificate"));
        cert->reproposal = *again;
        // A block finalized because a descendant was carries no certificate of
        // its own: the headers up to the first certified descendant prove it.
        ledger::Header certified = *header;
        const json::value* chain = r->as_object().if_contains("finalized_by");
        if (cert->empty() && chain && chain->is_array()) {
            if (chain->get_array().empty() || chain->get_array().size() > max_finality_chain)
                return util::unexpected(std::string("header: malformed finality chain"));
            for (const auto& link : chain->get_array()) {
                auto enc = util::from_hex(link.at("encoded").as_string());
                auto next = enc ? codec::decode<ledger::Header>(*enc)
                                : codec::Result<ledger::Header>(util::unexpected(codec::CodecError::bad_value));
                if (!next || next->parent != certified.hash() || next->height != certified.height + 1 ||
                    next->chain_id != certified.chain_id)
                    return util::unexpected(
                        std::string("header certificate refused: the finality chain does not link"));
                certified = *next;
                if (const json::value* c = link.as_object().if_contains("certificate")) {
                    cert = rpc::certificate_from_json(*c);
                    auto link_again = rpc::reproposal_from_json(link.as_object().if_contains("certificate_reproposal"));
                    if (!cert || !link_again) return util::unexpected(std::string("header: malformed certificate"));
                    cert->reproposal = *link_again;
                    break;
                }
            }
        }
        // An epoch's last block always carries a certificate of its own, so a
        // finality chain never leaves the header's epoch (and a set is never
        // needed to prove itself).
        const std::uint64_t epoch = ledger::epoch_of(certified.height, genesis.params.epoch_blocks);
        if (epoch != ledger::epoch_of(header->height, genesis.params.epoch_blocks))
            return util::unexpected(std::string("header certificate refused: the finality chain leaves the epoch"));
        auto set = verified_validator_set(url, genesis, epoch, call);
        if (!set) return util::unexpected(set.error());
        if (auto ok = ledger::verify_certificate(certified, *cert, *set, genesis.params.epoch_blocks); !ok)
            return util::unexpected("header certificate refused: " + std::string(ledger::describe(ok.error())));
        return *header;
    } catch (const std::exception&) {
        return util::unexpected(std::string("header: malformed answer"));
    }
}

}  // namespace conet::node
