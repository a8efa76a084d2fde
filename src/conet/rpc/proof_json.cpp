#include "conet/rpc/proof_json.hpp"

#include <boost/json.hpp>

#include "conet/util/hex.hpp"

namespace conet::rpc {

namespace json = boost::json;

namespace {

std::optional<ledger::Hash256> hash_field(const json::value& v) {
    if (!v.is_string()) return std::nullopt;
    auto b = util::from_hex_fixed<32>(v.get_string());
    if (!b) return std::nullopt;
    return *b;
}

}  // namespace

json::value proof_to_json(const ledger::SmtProof& p) {
    json::array sib;
    for (const auto& s : p.siblings) sib.push_back(json::value(util::to_hex_prefixed(s)));
    json::value leaf = nullptr;
    if (p.leaf)
        leaf = json::object{{"key", util::to_hex_prefixed(p.leaf->first)},
                            {"value_hash", util::to_hex_prefixed(p.leaf->second)}};
    return json::object{{"siblings", std::move(sib)}, {"leaf", std::move(leaf)}};
}

std::optional<ledger::SmtProof> proof_from_json(const json::value& v) {
    const auto* o = v.if_object();
    const auto* siblings = o ? o->if_contains("siblings") : nullptr;
    const auto* leaf = o ? o->if_contains("leaf") : nullptr;
    if (!siblings || !siblings->is_array() || !leaf || siblings->get_array().size() > 256) return std::nullopt;
    ledger::SmtProof proof;
    for (const auto& s : siblings->get_array()) {
        auto h = hash_field(s);
        if (!h) return std::nullopt;
        proof.siblings.push_back(*h);
    }
    if (leaf->is_object()) {
        const auto* k = leaf->get_object().if_contains("key");
        const auto* h = leaf->get_object().if_contains("value_hash");
        auto key = k ? hash_field(*k) : std::nullopt;
        auto hash = h ? hash_field(*h) : std::nullopt;
        if (!key || !hash) return std::nullopt;
        proof.leaf = {*key, *hash};
    } else if (!leaf->is_null()) {
        return std::nullopt;
    }
    return proof;
}

}  // namespace conet::rpc
