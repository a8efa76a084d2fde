#include "conet/node/header_check.hpp"

#include "conet/rpc/client.hpp"
#include "conet/rpc/proof_json.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

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
        if (auto ok = ledger::verify_certificate(certified, *cert, genesis.validators, genesis.params.epoch_blocks);
            !ok)
            return util::unexpected("header certificate refused: " + std::string(ledger::describe(ok.error())));
        return *header;
    } catch (const std::exception&) {
        return util::unexpected(std::string("header: malformed answer"));
    }
}

}  // namespace conet::node
