#pragma once
/// A small blocking JSON-RPC 2.0 client over HTTP, for the command line and
/// start-up paths (never on an io thread).
///
/// Every call has a real deadline covering name resolution, connect, sending
/// the request and receiving the whole answer: the operations run
/// asynchronously on a private io_context that is never run past the
/// deadline, so a dead or silent endpoint costs at most the timeout. A call
/// can also be cancelled from another thread (e.g. at shutdown).

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "conet/rpc/jsonrpc.hpp"
#include "conet/util/limits.hpp"

namespace conet::rpc {

inline constexpr std::uint32_t default_client_timeout_ms =
    static_cast<std::uint32_t>(util::Limits{}.rpc_client_timeout_ms);
/// Largest answer body accepted (a full conet_listNodes page is far smaller).
inline constexpr std::size_t max_answer_bytes = 64u << 20;

struct CallOptions {
    std::uint32_t timeout_ms = default_client_timeout_ms;
    /// A second, absolute deadline (e.g. for a series of calls); the earlier one applies.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    /// Polled a few times a second from the calling thread; true abandons the call.
    std::function<bool()> cancelled;
};

/// Calls `method` at `url` ("http://host:port[/path]"). Returns the result,
/// or an RpcError carrying the server's error object or a transport failure
/// (whose message names the URL and, for a deadline, what was under way).
util::Result<json::value, RpcError> call(const std::string& url, std::string_view method, json::array params,
                                         std::uint32_t timeout_ms = default_client_timeout_ms);
util::Result<json::value, RpcError> call(const std::string& url, std::string_view method, json::array params,
                                         const CallOptions& options);

/// GETs `url` and parses the body as JSON (status endpoints).
util::Result<json::value, std::string> get_json(const std::string& url,
                                                std::uint32_t timeout_ms = default_client_timeout_ms);

}  // namespace conet::rpc
