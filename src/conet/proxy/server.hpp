#pragma once
/// The user's local proxy port: SOCKS5, SOCKS4/4a, HTTP CONNECT and
/// absolute-URI HTTP on one listening socket, plus GET /pac and GET /status.
/// Destinations go to the exit unresolved: the proxy never does DNS for them.

#include "conet/net/listener.hpp"
#include "conet/proxy/client.hpp"

namespace conet::proxy {

struct ProxyOptions {
    tcp::endpoint listen{boost::asio::ip::make_address("127.0.0.1"), 1080};
    std::size_t max_connections = 16384;
    std::uint32_t request_timeout_ms = 30'000;  ///< to receive a complete request
    /// Host names, besides 127.0.0.1, localhost, [::1] and the address the
    /// client connected to, under which /status answers (DNS rebinding).
    std::vector<std::string> allowed_hosts;
};

struct HttpRequest;
class RequestReader;

class ProxyServer {
public:
    ProxyServer(asio::io_context& io, ProxyOptions options, Client& client);
    ~ProxyServer();

    util::Result<tcp::endpoint, net::ListenFailure> start();
    void stop();
    /// The PAC file for a client that connected to `local` (the listening
    /// address, or the address it reached when listening on 0.0.0.0 / ::).
    std::string pac(const tcp::endpoint& local) const;
    std::string pac() const { return pac(m_bound); }

private:
    void on_accept(tcp::socket socket);
    awaitable<void> serve(tcp::socket socket);
    awaitable<void> serve_local(tcp::socket& socket, const HttpRequest& req, RequestReader& reader);
    awaitable<std::string> change_route(const HttpRequest& req, RequestReader& reader);

    asio::io_context& m_io;
    ProxyOptions m_options;
    Client& m_client;
    std::unique_ptr<net::Listener> m_listener;
    tcp::endpoint m_bound;
    std::size_t m_connections = 0;
    bool m_stopped = false;
};

}  // namespace conet::proxy
