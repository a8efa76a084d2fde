#pragma once
/// JSON-RPC 2.0 (I/O-free): parses a request body (single or batch), calls
/// registered methods and builds spec-conforming responses and error objects.
/// Notifications (no "id") are executed and get no response.

#include <functional>
#include <map>
#include <string>

#include <boost/json.hpp>

#include "conet/util/result.hpp"

namespace conet::rpc {

namespace json = boost::json;

inline constexpr std::size_t max_request_bytes = 1 << 20;
inline constexpr std::size_t max_batch = 100;

/// Standard error codes (JSON-RPC 2.0 §5.1) and ours (-32000..-32099).
enum ErrorCode : int {
    parse_error = -32700,
    invalid_request = -32600,
    method_not_found = -32601,
    invalid_params = -32602,
    internal_error = -32603,
    not_found = -32001,
    rejected = -32002,  ///< e.g. a transaction the mempool refused
};

struct RpcError {
    int code = internal_error;
    std::string message;
};

using Method = std::function<util::Result<json::value, RpcError>(const json::value& params)>;

class Dispatcher {
public:
    void add(std::string name, Method method) { m_methods[std::move(name)] = std::move(method); }
    /// The response body for a request body; empty when nothing is to be sent
    /// (only notifications).
    std::string handle(std::string_view body) const;

private:
    json::value handle_one(const json::value& request) const;
    std::map<std::string, Method, std::less<>> m_methods;
};

json::value error_response(const json::value& id, int code, std::string_view message);

}  // namespace conet::rpc
