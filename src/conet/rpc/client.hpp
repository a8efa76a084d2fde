#pragma once
/// A small blocking JSON-RPC 2.0 client over HTTP, for the command line and
/// start-up paths (never on an io thread).

#include <string>

#include "conet/rpc/jsonrpc.hpp"

namespace conet::rpc {

/// Calls `method` at `url` ("http://host:port[/path]"). Returns the result,
/// or an RpcError carrying the server's error object or a transport failure.
util::Result<json::value, RpcError> call(const std::string& url, std::string_view method, json::array params,
                                         std::uint32_t timeout_ms = 10'000);

/// GETs `url` and parses the body as JSON (status endpoints).
util::Result<json::value, std::string> get_json(const std::string& url, std::uint32_t timeout_ms = 10'000);

}  // namespace conet::rpc
