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
        if (!cert) return util::unexpected(std::string("header: malformed certificate"));
        if (auto ok = ledger::verify_certificate(*header, *cert, genesis.validators); !ok)
            return util::unexpected("header certificate refused: " + std::string(ledger::describe(ok.error())));
        return *header;
    } catch (const std::exception&) {
        return util::unexpected(std::string("header: malformed answer"));
    }
}

}  // namespace conet::node
