#include "conet/rpc/jsonrpc.hpp"

#include <algorithm>
#include <cmath>

namespace conet::rpc {

json::value error_response(const json::value& id, int code, std::string_view message) {
    return json::object{{"jsonrpc", "2.0"}, {"error", json::object{{"code", code}, {"message", message}}}, {"id", id}};
}

json::value Dispatcher::handle_one(const json::value& request) const {
    const json::object* o = request.if_object();
    const json::value null_id = nullptr;
    if (!o) return error_response(null_id, invalid_request, "request must be an object");
    const json::value* id = o->if_contains("id");
    const bool valid_id = !id || id->is_null() || id->is_string() || id->is_int64() || id->is_uint64();
    const json::value& reply_id = (id && valid_id) ? *id : null_id;
    const json::value* version = o->if_contains("jsonrpc");
    const json::value* method = o->if_contains("method");
    const json::value* params = o->if_contains("params");
    if (!valid_id || !version || *version != "2.0" || !method || !method->is_string() ||
        (params && !params->is_array() && !params->is_object()))
        return error_response(reply_id, invalid_request, "invalid JSON-RPC 2.0 request");
    auto it = m_methods.find(std::string_view(method->get_string()));
    json::value result;
    if (it == m_methods.end()) {
        result = error_response(reply_id, method_not_found, "method not found: " + std::string(method->get_string()));
    } else {
        auto r = it->second(params ? *params : json::value(json::array{}));
        result = r ? json::value(json::object{{"jsonrpc", "2.0"}, {"result", std::move(*r)}, {"id", reply_id}})
                   : error_response(reply_id, r.error().code, r.error().message);
    }
    if (!id) return nullptr;  // a notification: no response
    return result;
}

namespace {

/// A number JSON cannot carry back: Boost.JSON reads 1e777 as infinity and
/// would write it as `Infinity`, which is no JSON (found by fuzz_rpc).
bool has_non_finite(const json::value& v) {
    if (const double* d = v.if_double()) return !std::isfinite(*d);
    if (const json::array* a = v.if_array())
        return std::any_of(a->begin(), a->end(), [](const json::value& e) { return has_non_finite(e); });
    if (const json::object* o = v.if_object())
        return std::any_of(o->begin(), o->end(), [](const auto& kv) { return has_non_finite(kv.value()); });
    return false;
}

}  // namespace

std::string Dispatcher::handle(std::string_view body) const {
    if (body.size() > max_request_bytes)
        return json::serialize(error_response(nullptr, invalid_request, "request too large"));
    boost::system::error_code ec;
    json::parse_options opts;
    opts.max_depth = 32;
    const json::value doc = json::parse(body, ec, {}, opts);
    if (ec) return json::serialize(error_response(nullptr, parse_error, "parse error: " + ec.message()));
    if (has_non_finite(doc))
        return json::serialize(error_response(nullptr, parse_error, "parse error: number out of range"));
    if (const json::array* batch = doc.if_array()) {
        if (batch->empty()) return json::serialize(error_response(nullptr, invalid_request, "empty batch"));
        if (batch->size() > max_batch)
            return json::serialize(error_response(nullptr, invalid_request, "batch too large"));
        json::array out;
        for (const auto& r : *batch) {
            json::value v = handle_one(r);
            if (!v.is_null()) out.push_back(std::move(v));
        }
        return out.empty() ? std::string() : json::serialize(out);
    }
    json::value v = handle_one(doc);
    return v.is_null() ? std::string() : json::serialize(v);
}

}  // namespace conet::rpc
