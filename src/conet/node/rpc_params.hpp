#pragma once
/// Reading JSON-RPC positional parameters, with invalid_params errors that
/// name the parameter and what it must be.

#include "conet/crypto/keys.hpp"
#include "conet/rpc/jsonrpc.hpp"
#include "conet/util/hex.hpp"

namespace conet::node::rpc_params {

inline rpc::RpcError bad_params(std::string why) {
    return {rpc::invalid_params, std::move(why)};
}

/// The i-th parameter, or null when absent.
inline const boost::json::value* param(const boost::json::value& params, std::size_t i) {
    const auto* a = params.if_array();
    return a && i < a->size() ? &(*a)[i] : nullptr;
}

/// Absent parameters and JSON null count as not given.
inline bool given(const boost::json::value& params, std::size_t i) {
    const boost::json::value* v = param(params, i);
    return v && !v->is_null();
}

inline util::Result<std::uint64_t, rpc::RpcError> u64_param(const boost::json::value& params, std::size_t i,
                                                            const char* what) {
    const boost::json::value* v = param(params, i);
    if (v && v->is_uint64()) return v->get_uint64();
    if (v && v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    return util::unexpected(bad_params(std::string("param ") + std::to_string(i) + " must be " + what));
}

template <std::size_t N>
util::Result<util::ByteArray<N>, rpc::RpcError> hex_param(const boost::json::value& params, std::size_t i,
                                                          const char* what) {
    const boost::json::value* v = param(params, i);
    if (v && v->is_string())
        if (auto b = util::from_hex_fixed<N>(v->get_string())) return *b;
    return util::unexpected(bad_params(std::string("param ") + std::to_string(i) + " must be " + what));
}

inline util::Result<crypto::Address, rpc::RpcError> address_param(const boost::json::value& params, std::size_t i) {
    const boost::json::value* v = param(params, i);
    if (v && v->is_string())
        if (auto a = crypto::Address::parse(v->get_string())) return *a;
    return util::unexpected(bad_params("param " + std::to_string(i) + " must be an address"));
}

}  // namespace conet::node::rpc_params
