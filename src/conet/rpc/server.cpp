#include "conet/rpc/server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace conet::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

HttpServer::HttpServer(asio::io_context& io, const Dispatcher& dispatcher, ServerLimits limits)
    : m_io(io), m_dispatcher(dispatcher), m_limits(limits), m_acceptor(io) {}

util::Result<net::tcp::endpoint, std::string> HttpServer::start(const net::tcp::endpoint& at) {
    boost::system::error_code ec;
    m_acceptor.open(at.protocol(), ec);
    if (!ec) m_acceptor.set_option(net::tcp::acceptor::reuse_address(true), ec);
    if (!ec) m_acceptor.bind(at, ec);
    if (!ec) m_acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        return util::unexpected("cannot listen on " + at.address().to_string() + ":" + std::to_string(at.port()) +
                                ": " + ec.message());
    asio::co_spawn(m_io, accept_loop(), asio::detached);
    return m_acceptor.local_endpoint();
}

void HttpServer::stop() {
    boost::system::error_code ec;
    m_acceptor.close(ec);
}

net::awaitable<void> HttpServer::accept_loop() {
    for (;;) {
        auto [ec, s] = co_await m_acceptor.async_accept(net::use_nothrow);
        if (ec == asio::error::operation_aborted || !m_acceptor.is_open()) co_return;
        if (ec || m_connections >= m_limits.max_connections) continue;
        ++m_connections;
        asio::co_spawn(
            m_io, [this, s = std::move(s)]() mutable { return session(std::move(s)); },
            [this](std::exception_ptr) { --m_connections; });
    }
}

net::awaitable<void> HttpServer::session(net::tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(max_request_bytes);
        parser.header_limit(16 * 1024);
        stream.expires_after(std::chrono::milliseconds(m_limits.request_timeout_ms));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, net::use_nothrow);
        if (ec) {
            if (ec == http::error::body_limit || ec == http::error::header_limit) {
                http::response<http::string_body> res{http::status::payload_too_large, 11};
                res.set(http::field::content_type, "application/json");
                res.body() = json::serialize(error_response(nullptr, invalid_request, "request too large"));
                res.prepare_payload();
                res.keep_alive(false);
                co_await http::async_write(stream, res, net::use_nothrow);
            }
            co_return;
        }
        const auto& req = parser.get();
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.keep_alive(req.keep_alive());
        if (req.method() == http::verb::post && (req.target() == "/" || req.target() == "/rpc")) {
            res.set(http::field::content_type, "application/json");
            res.body() = m_dispatcher.handle(req.body());
            if (res.body().empty()) res.result(http::status::no_content);
        } else if (req.method() == http::verb::get && req.target() == "/health") {
            res.set(http::field::content_type, "text/plain");
            res.body() = "ok\n";
        } else {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain");
            res.body() = "POST JSON-RPC 2.0 requests to /\n";
        }
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, net::use_nothrow);
        if (wec || !res.keep_alive()) co_return;
    }
}

}  // namespace conet::rpc
