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

namespace conet::rpc {

json::value certificate_to_json(const ledger::Certificate& c) {
    json::array votes;
    for (const auto& v : c.votes)
        votes.push_back(
            json::object{{"validator", v.validator}, {"signature", util::to_hex_prefixed(v.signature.to_bytes(0))}});
    return votes;
}

json::value reproposal_to_json(const ledger::Reproposal& r) {
    return json::object{{"view", r.view}, {"parent_view", r.parent_view}};
}

std::optional<std::optional<ledger::Reproposal>> reproposal_from_json(const json::value* v) {
    if (!v || v->is_null()) return std::optional<ledger::Reproposal>{};
    const auto* o = v->if_object();
    const auto* view = o ? o->if_contains("view") : nullptr;
    const auto* parent_view = o ? o->if_contains("parent_view") : nullptr;
    if (!view || !parent_view || (!view->is_uint64() && !view->is_int64()) ||
        (!parent_view->is_uint64() && !parent_view->is_int64()))
        return std::nullopt;
    const auto u = [](const json::value& x) -> std::optional<std::uint64_t> {
        if (x.is_uint64()) return x.get_uint64();
        if (x.get_int64() < 0) return std::nullopt;
        return static_cast<std::uint64_t>(x.get_int64());
    };
    auto a = u(*view), b = u(*parent_view);
    if (!a || !b) return std::nullopt;
    return std::optional<ledger::Reproposal>(ledger::Reproposal{*a, *b});
}

std::optional<ledger::Certificate> certificate_from_json(const json::value& v) {
    const auto* a = v.if_array();
    if (!a || a->size() > ledger::max_validators) return std::nullopt;
    ledger::Certificate c;
    for (const auto& e : *a) {
        const auto* o = e.if_object();
        const auto* index = o ? o->if_contains("validator") : nullptr;
        const auto* sig = o ? o->if_contains("signature") : nullptr;
        if (!index || !sig || !sig->is_string()) return std::nullopt;
        const auto i = index->is_uint64()  ? std::optional<std::uint64_t>(index->get_uint64())
                       : index->is_int64() ? std::optional<std::uint64_t>(index->get_int64() >= 0 ? index->get_int64()
                                                                                                  : ~std::uint64_t{0})
                                           : std::nullopt;
        if (!i || *i >= ledger::max_validators) return std::nullopt;
        auto raw = util::from_hex(sig->get_string());
        if (!raw || raw->size() != 65 || (*raw)[64] > 1) return std::nullopt;
        auto s = crypto::Signature::from_bytes(*raw);
        if (!s) return std::nullopt;
        c.votes.push_back(ledger::CertificateVote{static_cast<std::uint32_t>(*i), *s});
    }
    return c;
}

}  // namespace conet::rpc
