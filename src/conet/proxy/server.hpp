#pragma once
/// The user's local proxy port: SOCKS5, SOCKS4/4a, HTTP CONNECT and
/// absolute-URI HTTP on one listening socket, plus GET /pac and GET /status.
/// Destinations go to the exit unresolved: the proxy never does DNS for them.

#include "conet/proxy/client.hpp"

namespace conet::proxy {

struct ProxyOptions {
    tcp::endpoint listen{boost::asio::ip::make_address("127.0.0.1"), 1080};
    std::size_t max_connections = 16384;
    std::uint32_t request_timeout_ms = 30'000;  ///< to receive a complete request
};

class ProxyServer {
public:
    ProxyServer(asio::io_context& io, ProxyOptions options, Client& client);
    ~ProxyServer();

    util::Result<tcp::endpoint, std::string> start();
    void stop();
    std::string pac() const;

private:
    awaitable<void> accept_loop();
    awaitable<void> serve(tcp::socket socket);

    asio::io_context& m_io;
    ProxyOptions m_options;
    Client& m_client;
    tcp::acceptor m_acceptor;
    tcp::endpoint m_bound;
    std::size_t m_connections = 0;
    bool m_stopped = false;
};

}  // namespace conet::proxy
