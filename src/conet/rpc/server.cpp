#include "conet/rpc/server.hpp"

#include <deque>
#include <functional>
#include <map>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace conet::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace websocket = beast::websocket;

/// One WebSocket client: its subscriptions and its outgoing messages, which
/// only its writer coroutine sends.
struct WsSession {
    explicit WsSession(const asio::any_io_executor& ex) : wake(ex) {}
    std::map<std::string, std::string> subscriptions;  ///< id -> topic
    std::deque<std::string> outbox;
    net::Signal wake;
    bool closing = false;
    std::function<void()> abort;  ///< cancels pending socket operations; set while the socket lives

    /// Ends the session: wakes the writer and fails any read or write in progress.
    void shut() {
        closing = true;
        wake.notify();
        if (abort) abort();
    }
};

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
    for (auto& w : m_sockets)
        if (auto ws = w.lock()) ws->shut();
}

std::size_t HttpServer::subscribers() const {
    std::size_t n = 0;
    for (const auto& w : m_sockets)
        if (auto ws = w.lock(); ws && !ws->closing) n += ws->subscriptions.size();
    return n;
}

void HttpServer::publish(std::string_view topic, const json::value& result) {
    std::erase_if(m_sockets, [](const std::weak_ptr<WsSession>& w) { return w.expired(); });
    for (auto& w : m_sockets) {
        auto ws = w.lock();
        if (ws->closing) continue;
        for (const auto& [id, t] : ws->subscriptions) {
            if (t != topic) continue;
            if (ws->outbox.size() >= m_limits.max_queued_messages) {
                ws->shut();  // too slow: drop it rather than buffer without bound
                break;
            }
            ws->outbox.push_back(
                json::serialize(json::object{{"jsonrpc", "2.0"},
                                             {"method", "conet_subscription"},
                                             {"params", json::object{{"subscription", id}, {"result", result}}}}));
        }
        ws->wake.notify();
    }
}

std::string HttpServer::handle_ws_message(WsSession& ws, std::string_view text) {
    // Subscriptions belong to this connection; everything else is plain JSON-RPC.
    boost::system::error_code ec;
    const json::value doc = json::parse(text, ec);
    const json::object* req = !ec ? doc.if_object() : nullptr;
    const json::value* method = req ? req->if_contains("method") : nullptr;
    if (!method || !method->is_string() ||
        (method->get_string() != "conet_subscribe" && method->get_string() != "conet_unsubscribe"))
        return m_dispatcher.handle(text);
    const json::value id = req->contains("id") ? req->at("id") : json::value(nullptr);
    const json::value* params = req->if_contains("params");
    const json::value* first =
        params && params->is_array() && !params->get_array().empty() ? &params->get_array()[0] : nullptr;
    auto reply = [&](json::value result) {
        return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
    };
    if (method->get_string() == "conet_subscribe") {
        if (!first || !first->is_string() || first->get_string() != "newHeads")
            return json::serialize(error_response(id, invalid_params, "param 0 must be the topic \"newHeads\""));
        if (ws.subscriptions.size() >= m_limits.max_subscriptions)
            return json::serialize(error_response(id, rejected, "too many subscriptions on this connection"));
        char buf[24];
        std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(m_next_subscription++));
        ws.subscriptions[buf] = "newHeads";
        return reply(json::value(buf));
    }
    if (!first || !first->is_string())
        return json::serialize(error_response(id, invalid_params, "param 0 must be a subscription id"));
    return reply(json::value(ws.subscriptions.erase(std::string(first->get_string())) > 0));
}

net::awaitable<void> HttpServer::websocket(beast::tcp_stream stream, http::request<http::string_body> req) {
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    beast::get_lowest_layer(ws).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.keep_alive_pings = true;  // a subscriber may only listen; pings keep it alive
    ws.set_option(timeouts);
    ws.read_message_max(max_request_bytes);
    auto [aec] = co_await ws.async_accept(req, net::use_nothrow);
    if (aec) co_return;
    auto state = std::make_shared<WsSession>(m_io.get_executor());
    state->abort = [&ws] {
        boost::system::error_code ec;
        beast::get_lowest_layer(ws).socket().shutdown(net::tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(ws).cancel();
    };
    m_sockets.push_back(state);
    bool writer_done = false;
    net::Signal writer_exit(m_io.get_executor());
    asio::co_spawn(
        m_io,
        [&ws, state, &writer_done, &writer_exit]() -> net::awaitable<void> {
            while (!state->closing) {
                if (state->outbox.empty()) {
                    co_await state->wake.wait();
                    continue;
                }
                ws.text(true);
                auto [wec, n] = co_await ws.async_write(asio::buffer(state->outbox.front()), net::use_nothrow);
                state->outbox.pop_front();
                if (wec) break;
            }
            state->shut();  // a failed write ends the reader too
            writer_done = true;
            writer_exit.notify();
        },
        asio::detached);
    beast::flat_buffer buffer;
    while (!state->closing) {
        auto [rec, n] = co_await ws.async_read(buffer, net::use_nothrow);
        if (rec) break;
        const std::string text = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        std::string answer = handle_ws_message(*state, text);
        if (!answer.empty()) state->outbox.push_back(std::move(answer));
        if (state->outbox.size() > m_limits.max_queued_messages) break;
        state->wake.notify();
    }
    state->shut();
    while (!writer_done) co_await writer_exit.wait();
    state->abort = nullptr;
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
        if (websocket::is_upgrade(parser.get())) {
            co_await websocket(std::move(stream), parser.release());
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
