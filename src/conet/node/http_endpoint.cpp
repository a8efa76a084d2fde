#include "conet/node/http_endpoint.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "conet/proxy/http.hpp"
#include "conet/web/web.hpp"

namespace conet::node {

using namespace boost::asio::experimental::awaitable_operators;
namespace asio = boost::asio;

namespace {
constexpr std::size_t max_connections = 64;
constexpr auto request_timeout = std::chrono::seconds(10);
}  // namespace

HttpEndpoint::HttpEndpoint(asio::io_context& io, Handler handler, std::vector<std::string> allowed_hosts)
    : m_io(io), m_handler(std::move(handler)), m_allowed_hosts(std::move(allowed_hosts)) {}

util::Result<net::tcp::endpoint, net::ListenFailure> HttpEndpoint::start(const net::tcp::endpoint& at) {
    auto listener = net::Listener::open(m_io.get_executor(), at, {.backlog = 16});
    if (!listener) return util::unexpected(listener.error());
    m_listener = std::move(*listener);
    m_listener->start([this](net::tcp::socket s) {
        if (m_connections >= max_connections) return;  // the socket closes here
        ++m_connections;
        asio::co_spawn(
            m_io, [this, s = std::move(s)]() mutable { return serve(std::move(s)); },
            [this](std::exception_ptr) { --m_connections; });
    });
    return m_listener->local_endpoint();
}

void HttpEndpoint::stop() {
    if (m_listener) m_listener->close();
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
        } else if (lec || !proxy::host_is_local(head.value, local.address().to_string(), m_allowed_hosts)) {
            // DNS rebinding: a web page re-pointed at this port sends its own name.
            reply = {403, "text/plain", std::string(web::foreign_host_message)};
        } else {
            reply = m_handler(head.value.target);
        }
        const std::string out = proxy::http_response(reply.status,
                                                     reply.status == 200   ? "OK"
                                                     : reply.status == 403 ? "Forbidden"
                                                     : reply.status == 404 ? "Not Found"
                                                                           : "Bad Request",
                                                     reply.content_type, reply.body, reply.headers);
        co_await asio::async_write(s, asio::buffer(out), net::use_nothrow);
        co_return;
    }
}

}  // namespace conet::node
