#pragma once
/// JSON-RPC over HTTP/1.1 (Boost.Beast): POST / with a JSON body; keep-alive;
/// request size, header and time limits; a bounded number of connections.
/// The same port upgrades GET / to a WebSocket that takes the same requests
/// as text messages plus `conet_subscribe(topic)` / `conet_unsubscribe(id)`;
/// `publish(topic, v)` pushes `conet_subscription` notifications. A subscriber
/// that falls `max_queued_messages` behind is disconnected.

#include <memory>
#include <vector>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "conet/net/asio.hpp"
#include "conet/rpc/jsonrpc.hpp"

namespace conet::rpc {

struct ServerLimits {
    std::size_t max_connections = 256;
    std::uint32_t request_timeout_ms = 30'000;
    std::size_t max_subscriptions = 16;  ///< per WebSocket
    std::size_t max_queued_messages = 1024;
};

struct WsSession;

class HttpServer {
public:
    HttpServer(boost::asio::io_context& io, const Dispatcher& dispatcher, ServerLimits limits = {});
    util::Result<net::tcp::endpoint, std::string> start(const net::tcp::endpoint& at);
    void stop();
    /// Sends `result` to every WebSocket subscribed to `topic` (io thread).
    void publish(std::string_view topic, const json::value& result);
    /// Subscriptions on open WebSockets.
    std::size_t subscribers() const;

private:
    net::awaitable<void> accept_loop();
    net::awaitable<void> session(net::tcp::socket socket);
    net::awaitable<void> websocket(boost::beast::tcp_stream stream,
                                   boost::beast::http::request<boost::beast::http::string_body> req);
    std::string handle_ws_message(WsSession& ws, std::string_view text);

    boost::asio::io_context& m_io;
    const Dispatcher& m_dispatcher;
    ServerLimits m_limits;
    net::tcp::acceptor m_acceptor;
    std::size_t m_connections = 0;
    std::vector<std::weak_ptr<WsSession>> m_sockets;
    std::uint64_t m_next_subscription = 1;
};

}  // namespace conet::rpc
