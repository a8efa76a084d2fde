#include "conet/node/http_endpoint.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "conet/proxy/http.hpp"

namespace conet::node {

using namespace boost::asio::experimental::awaitable_operators;
namespace asio = boost::asio;

namespace {
constexpr std::size_t max_connections = 64;
constexpr auto request_timeout = std::chrono::seconds(10);
}  // namespace

HttpEndpoint::HttpEndpoint(asio::io_context& io, Handler handler)
    : m_io(io), m_handler(std::move(handler)), m_acceptor(io) {}

util::Result<net::tcp::endpoint, std::string> HttpEndpoint::start(const net::tcp::endpoint& at) {
    boost::system::error_code ec;
    m_acceptor.open(at.protocol(), ec);
    if (!ec) m_acceptor.set_option(net::tcp::acceptor::reuse_address(true), ec);
    if (!ec) m_acceptor.bind(at, ec);
    if (!ec) m_acceptor.listen(16, ec);
    if (ec)
        return util::unexpected("cannot listen on " + at.address().to_string() + ":" + std::to_string(at.port()) +
                                ": " + ec.message());
    asio::co_spawn(m_io, accept_loop(), asio::detached);
    return m_acceptor.local_endpoint();
}

void HttpEndpoint::stop() {
    boost::system::error_code ec;
    m_acceptor.close(ec);
}

net::awaitable<void> HttpEndpoint::accept_loop() {
    for (;;) {
        auto [ec, s] = co_await m_acceptor.async_accept(net::use_nothrow);
        if (ec == asio::error::operation_aborted || !m_acceptor.is_open()) co_return;
        if (ec || m_connections >= max_connections) continue;
        ++m_connections;
        asio::co_spawn(
            m_io, [this, s = std::move(s)]() mutable { return serve(std::move(s)); },
            [this](std::exception_ptr) { --m_connections; });
    }
}

net::awaitable<void> HttpEndpoint::serve(net::tcp::socket s) {
    std::string buf;
    buf.resize(proxy::max_http_head_bytes);
    std::size_t have = 0;
    asio::steady_timer timer(m_io);
    timer.expires_after(request_timeout);
    for (;;) {
        auto r = co_await (s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), net::use_nothrow) ||
                           timer.async_wait(net::use_nothrow));
        if (r.index() == 1) co_return;
        auto [ec, n] = std::get<0>(r);
        if (ec) co_return;
        have += n;
        auto head = proxy::parse_http_head(util::as_bytes(std::string_view(buf.data(), have)));
        if (head.status == proxy::ParseStatus::incomplete && have < buf.size()) continue;
        HttpReply reply;
        boost::system::error_code lec;
        const auto local = s.local_endpoint(lec);
        if (head.status != proxy::ParseStatus::done || head.value.method != "GET") {
            reply = {400, "text/plain", "bad request\n"};
        } else if (lec || !proxy::host_is_local(head.value, local.address().to_string())) {
            // DNS rebinding: a web page re-pointed at this port sends its own name.
            reply = {403, "text/plain", "forbidden: Host must be this node's address or localhost\n"};
        } else {
            reply = m_handler(head.value.target);
        }
        const std::string out = proxy::http_response(reply.status,
                                                     reply.status == 200   ? "OK"
                                                     : reply.status == 403 ? "Forbidden"
                                                     : reply.status == 404 ? "Not Found"
                                                                           : "Bad Request",
                                                     reply.content_type, reply.body);
        co_await asio::async_write(s, asio::buffer(out), net::use_nothrow);
        co_return;
    }
}

}  // namespace conet::node
