#pragma once
/// JSON-RPC over HTTP/1.1 (Boost.Beast): POST / with a JSON body; keep-alive;
/// request size, header and time limits; a bounded number of connections.

#include "conet/net/asio.hpp"
#include "conet/rpc/jsonrpc.hpp"

namespace conet::rpc {

struct ServerLimits {
    std::size_t max_connections = 256;
    std::uint32_t request_timeout_ms = 30'000;
};

class HttpServer {
public:
    HttpServer(boost::asio::io_context& io, const Dispatcher& dispatcher, ServerLimits limits = {});
    util::Result<net::tcp::endpoint, std::string> start(const net::tcp::endpoint& at);
    void stop();

private:
    net::awaitable<void> accept_loop();
    net::awaitable<void> session(net::tcp::socket socket);

    boost::asio::io_context& m_io;
    const Dispatcher& m_dispatcher;
    ServerLimits m_limits;
    net::tcp::acceptor m_acceptor;
    std::size_t m_connections = 0;
};

}  // namespace conet::rpc
