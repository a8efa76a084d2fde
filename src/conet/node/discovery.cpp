#include "conet/node/discovery.hpp"

#include <map>

#include "conet/ledger/state.hpp"
#include "conet/node/header_check.hpp"
#include "conet/rpc/client.hpp"
#include "conet/rpc/proof_json.hpp"
#include "conet/util/hex.hpp"

namespace conet::node {

namespace json = boost::json;

namespace {

constexpr std::uint64_t page_size = 500;
constexpr std::size_t max_relays = 10'000;

std::string rpc_error(const rpc::RpcError& e) {
    return e.message.empty() ? "RPC error" : e.message;
}

template <std::size_t N>
std::optional<util::ByteArray<N>> hex_field(const json::value& v) {
    if (!v.is_string()) return std::nullopt;
    auto b = util::from_hex_fixed<N>(v.get_string());
    if (!b) return std::nullopt;
    return *b;
}

}  // namespace

util::Result<ledger::Directory, std::string> discover_relays(const std::string& url, const ledger::Genesis& genesis,
                                                             std::uint64_t now_unix, std::vector<std::string>& refused,
                                                             std::uint64_t max_header_age_s) {
    std::map<std::uint64_t, ledger::Header> headers;
    auto head = verified_header(url, genesis, std::nullopt);
    if (!head) return util::unexpected(head.error());
    if (head->time_unix + max_header_age_s < now_unix)
        return util::unexpected("head block " + std::to_string(head->height) + " is stale (" +
                                std::to_string(now_unix - head->time_unix) + " s old)");
    headers[head->height] = *head;

    std::vector<crypto::X25519Public> keys;
    for (std::uint64_t offset = 0; keys.size() < max_relays;) {
        auto page = rpc::call(url, "conet_listNodes", {json::value(offset), json::value(page_size)});
        if (!page) return util::unexpected("conet_listNodes: " + rpc_error(page.error()));
        const auto* nodes = page->is_object() ? page->as_object().if_contains("nodes") : nullptr;
        if (!nodes || !nodes->is_array()) return util::unexpected(std::string("conet_listNodes: malformed answer"));
        for (const auto& n : nodes->get_array()) {
            const auto* rec = n.is_object() ? n.get_object().if_contains("record") : nullptr;
            const auto* key = rec && rec->is_object() ? rec->get_object().if_contains("noise_key") : nullptr;
            if (auto k = key ? hex_field<32>(*key) : std::nullopt) keys.push_back(*k);
        }
        if (nodes->get_array().size() < page_size) break;
        offset += page_size;
    }

    std::vector<ledger::NodeRecord> accepted;
    for (const auto& key : keys) {
        const std::string name = util::to_hex(util::ByteView(key).first(4));
        auto r = rpc::call(url, "conet_getNode", {json::value(util::to_hex(key))});
        if (!r || !r->is_object()) {
            refused.push_back(name + ": no answer");
            continue;
        }
        try {
            const std::uint64_t height = r->at("height").to_number<std::uint64_t>();
            if (height < head->height) {
                refused.push_back(name + ": proof from block " + std::to_string(height) + ", older than the head");
                continue;
            }
            if (!headers.count(height)) {
                auto h = verified_header(url, genesis, height);
                if (!h) {
                    refused.push_back(name + ": " + h.error());
                    continue;
                }
                headers[height] = *h;
            }
            const ledger::Header& header = headers[height];
            auto encoded = util::from_hex(r->at("record_encoded").as_string());
            auto record = encoded ? codec::decode<ledger::NodeRecord>(*encoded)
                                  : codec::Result<ledger::NodeRecord>(util::unexpected(codec::CodecError::bad_value));
            if (!record || record->noise_key != key) {
                refused.push_back(name + ": malformed record");
                continue;
            }
            const ledger::NodeEntry entry{*record, r->at("stake").to_number<std::uint64_t>()};
            auto proof = rpc::proof_from_json(r->at("proof"));
            if (!proof) throw std::runtime_error("bad proof");
            if (!ledger::smt_verify(header.state_root, ledger::State::node_key(key),
                                    ledger::State::node_value_hash(entry), *proof)) {
                refused.push_back(name + ": Merkle proof does not match the certified state root");
                continue;
            }
            if (auto ok = record->verify(genesis.chain_id, now_unix); !ok) {
                refused.push_back(name + ": " + std::string(ledger::describe(ok.error())));
                continue;
            }
            accepted.push_back(std::move(*record));
        } catch (const std::exception&) {
            refused.push_back(name + ": malformed answer");
        }
    }
    return ledger::Directory(std::move(accepted));
}

util::Result<ledger::Directory, std::string> discover_relays(const std::vector<std::string>& urls,
                                                             const ledger::Genesis& genesis, std::uint64_t now_unix,
                                                             std::vector<std::string>& refused,
                                                             std::uint64_t max_header_age_s) {
    std::map<crypto::X25519Public, ledger::NodeRecord> union_;
    std::string errors;
    bool any = false;
    for (const auto& url : urls) {
        auto d = discover_relays(url, genesis, now_unix, refused, max_header_age_s);
        if (!d) {
            errors += (errors.empty() ? "" : "; ") + url + ": " + d.error();
            continue;
        }
        any = true;
        for (const auto& r : d->records()) {
            auto [it, fresh] = union_.try_emplace(r.noise_key, r);
            if (!fresh && r.expires_at > it->second.expires_at) it->second = r;
        }
    }
    if (!any) return util::unexpected(errors);
    std::vector<ledger::NodeRecord> records;
    for (auto& [k, r] : union_) records.push_back(std::move(r));
    return ledger::Directory(std::move(records));
}

}  // namespace conet::node
