#pragma once
/// JSON-RPC over HTTP/1.1 (Boost.Beast): POST / with a JSON body; keep-alive;
/// request size, header and time limits. The same port upgrades GET / to a
/// WebSocket that takes the same requests as text messages plus
/// `conet_subscribe(topic)` / `conet_unsubscribe(id)`; `publish(topic, v)`
/// pushes `conet_subscription` notifications.
///
/// Budgets (all from util::Limits, see docs/rpc.md "Limits"):
/// - connections in total and per source address; a connection over either
///   is closed at once (RST) and counted, never queued;
/// - an HTTP connection waits at most `rpc_idle_timeout_ms` for the next
///   request and `rpc_request_timeout_ms` to receive it or send the answer;
/// - a WebSocket that receives nothing (not even a pong to our ping) for
///   `rpc_idle_timeout_ms` is closed, and every WebSocket is closed after
///   `ws_max_lifetime_ms` whatever it does (clients reconnect);
/// - what is queued for one WebSocket is counted in bytes held; past
///   `ws_max_outbox_bytes` the client is cut off.

#include <memory>
#include <vector>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "conet/net/asio.hpp"
#include "conet/net/listener.hpp"
#include "conet/rpc/admission.hpp"
#include "conet/rpc/jsonrpc.hpp"
#include "conet/util/limits.hpp"
#include "conet/web/web.hpp"

namespace conet::rpc {

/// What the server refused or cut short, for tests and metrics.
struct ServerStats {
    AdmissionStats admission;
    std::uint64_t accept_errors = 0;  ///< accept() failed for lack of descriptors or memory, each followed by a pause
    std::uint64_t ws_expired = 0;     ///< WebSockets closed at the end of their lifetime
    std::uint64_t ws_cut_off = 0;     ///< WebSockets cut off for queuing more than their byte budget
};

struct WsSession;

class HttpServer {
public:
    /// Uses the RPC section of `limits` (copied).
    HttpServer(boost::asio::io_context& io, const Dispatcher& dispatcher, const util::Limits& limits = {});
    /// Host names, besides 127.0.0.1, localhost, [::1] and the address a
    /// client connected to, under which GET / serves the explorer (docs/web.md).
    void set_web_hosts(std::vector<std::string> names) { m_web_hosts = std::move(names); }
    util::Result<net::tcp::endpoint, net::ListenFailure> start(const net::tcp::endpoint& at);
    void stop();
    /// Sends `result` to every WebSocket subscribed to `topic` (io thread).
    void publish(std::string_view topic, const json::value& result);
    /// Subscriptions on open WebSockets.
    std::size_t subscribers() const;
    /// Open connections (HTTP and WebSocket).
    std::size_t connections() const { return m_admission.open(); }
    ServerStats stats() const;

private:
    void on_accept(net::tcp::socket s);
    net::awaitable<void> session(net::tcp::socket socket);
    net::awaitable<void> websocket(boost::beast::tcp_stream stream,
                                   boost::beast::http::request<boost::beast::http::string_body> req);
    std::string handle_ws_message(WsSession& ws, std::string_view text);
    void serve_page(boost::beast::http::response<boost::beast::http::string_body>& res,
                    const boost::beast::http::request<boost::beast::http::string_body>& req, const web::Asset& asset,
                    const net::tcp::socket& socket) const;

    boost::asio::io_context& m_io;
    const Dispatcher& m_dispatcher;
    const util::Limits m_limits;
    Admission m_admission;
    ServerStats m_stats;
    std::vector<std::weak_ptr<WsSession>> m_sockets;
    std::uint64_t m_next_subscription = 1;
    std::vector<std::string> m_web_hosts;
    std::unique_ptr<net::Listener> m_listener;  ///< last: gone first, with its handler that uses the above
};

}  // namespace conet::rpc
