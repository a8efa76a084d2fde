#pragma once
/// A tiny HTTP/1.1 GET endpoint for status, metrics and the operator's
/// dashboard (one response per connection). Requests are parsed by
/// proxy::parse_http_head with its limits; every path answers only to a local
/// Host (DNS rebinding, docs/web.md).

#include <functional>
#include <string>

#include "conet/net/asio.hpp"
#include "conet/net/listener.hpp"
#include "conet/util/result.hpp"

namespace conet::node {

struct HttpReply {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::string headers;  ///< extra header lines, each ending "\r\n"
};

class HttpEndpoint {
public:
    using Handler = std::function<HttpReply(const std::string& path)>;
    /// `allowed_hosts`: names it answers to besides loopback and the address reached.
    HttpEndpoint(boost::asio::io_context& io, Handler handler, std::vector<std::string> allowed_hosts = {});
    util::Result<net::tcp::endpoint, net::ListenFailure> start(const net::tcp::endpoint& at);
    void stop();

private:
    net::awaitable<void> serve(net::tcp::socket s);
    boost::asio::io_context& m_io;
    Handler m_handler;
    std::vector<std::string> m_allowed_hosts;
    std::unique_ptr<net::Listener> m_listener;
    std::size_t m_connections = 0;
};

}  // namespace conet::node
