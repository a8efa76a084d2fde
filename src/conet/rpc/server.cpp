#include "conet/rpc/server.hpp"

#include <chrono>
#include <functional>
#include <map>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "conet/rpc/outbox.hpp"
#include "conet/web/web.hpp"

namespace conet::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace websocket = beast::websocket;
using std::chrono::milliseconds;

namespace {
constexpr std::size_t max_header_bytes = 16 * 1024;
}  // namespace

/// One WebSocket client: its subscriptions and its outgoing messages, which
/// only its writer coroutine sends.
struct WsSession {
    WsSession(const asio::any_io_executor& ex, std::uint64_t max_outbox_bytes) : outbox(max_outbox_bytes), wake(ex) {}
    std::map<std::string, std::string> subscriptions;  ///< id -> topic
    Outbox outbox;
    net::Signal wake;
    bool closing = false;         ///< no more reads or writes; the socket is being torn down
    bool want_close = false;      ///< send a close frame once the outbox is empty (lifetime over)
    std::function<void()> abort;  ///< cancels pending socket operations; set while the socket lives

    /// Ends the session: wakes the writer and fails any read or write in progress.
    void shut() {
        closing = true;
        wake.notify();
        if (abort) abort();
    }
    /// Asks the writer to say goodbye with a close frame after what is queued.
    void expire() {
        want_close = true;
        wake.notify();
    }
};

HttpServer::HttpServer(asio::io_context& io, const Dispatcher& dispatcher, const util::Limits& limits)
    : m_io(io), m_dispatcher(dispatcher), m_limits(limits), m_admission(limits) {}

util::Result<net::tcp::endpoint, net::ListenFailure> HttpServer::start(const net::tcp::endpoint& at) {
    auto listener = net::Listener::open(m_io.get_executor(), at, {.backoff_ms = m_limits.accept_backoff_ms});
    if (!listener) return util::unexpected(listener.error());
    m_listener = std::move(*listener);
    m_listener->start([this](net::tcp::socket s) { on_accept(std::move(s)); },
                      [this](const boost::system::error_code&) { ++m_stats.accept_errors; });
    return m_listener->local_endpoint();
}

void HttpServer::stop() {
    if (m_listener) m_listener->close();
    for (auto& w : m_sockets)
        if (auto ws = w.lock()) ws->shut();
}

std::size_t HttpServer::subscribers() const {
    std::size_t n = 0;
    for (const auto& w : m_sockets)
        if (auto ws = w.lock(); ws && !ws->closing) n += ws->subscriptions.size();
    return n;
}

ServerStats HttpServer::stats() const {
    ServerStats s = m_stats;
    s.admission = m_admission.stats();
    return s;
}

void HttpServer::publish(std::string_view topic, const json::value& result) {
    std::erase_if(m_sockets, [](const std::weak_ptr<WsSession>& w) { return w.expired(); });
    for (auto& w : m_sockets) {
        auto ws = w.lock();
        if (ws->closing || ws->want_close) continue;
        for (const auto& [id, t] : ws->subscriptions) {
            if (t != topic) continue;
            std::string note =
                json::serialize(json::object{{"jsonrpc", "2.0"},
                                             {"method", "conet_subscription"},
                                             {"params", json::object{{"subscription", id}, {"result", result}}}});
            if (!ws->outbox.push(std::move(note))) {
                ++m_stats.ws_cut_off;
                ws->shut();  // too slow: drop it rather than buffer without bound
                break;
            }
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
        if (ws.subscriptions.size() >= m_limits.ws_max_subscriptions)
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
    beast::get_lowest_layer(ws).expires_never();  // the websocket's own timeouts below take over
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = milliseconds(m_limits.rpc_request_timeout_ms);  // also bounds the closing handshake
    // Nothing received for the idle time closes the socket. Half-way through
    // we ping, so a client that only listens stays by answering with a pong.
    timeouts.idle_timeout = milliseconds(m_limits.rpc_idle_timeout_ms);
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    ws.read_message_max(max_request_bytes);
    auto [aec] = co_await ws.async_accept(req, net::use_nothrow);
    if (aec) co_return;
    auto state = std::make_shared<WsSession>(m_io.get_executor(), m_limits.ws_max_outbox_bytes);
    state->abort = [&ws] {
        boost::system::error_code ec;
        beast::get_lowest_layer(ws).socket().shutdown(net::tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(ws).cancel();
    };
    std::erase_if(m_sockets, [](const std::weak_ptr<WsSession>& w) { return w.expired(); });
    m_sockets.push_back(state);

    // The lifetime: however busy or well-behaved, the socket is closed when it
    // ends, so no client holds a slot for ever.
    // A client that does not read cannot take the close frame either: after
    // a further request timeout the socket is simply shut.
    asio::steady_timer lifetime(m_io), grace(m_io);
    lifetime.expires_after(milliseconds(m_limits.ws_max_lifetime_ms));
    lifetime.async_wait([this, &grace, weak = std::weak_ptr<WsSession>(state)](boost::system::error_code ec) {
        auto s = weak.lock();
        if (ec || !s || s->closing) return;
        ++m_stats.ws_expired;
        s->expire();
        grace.expires_after(milliseconds(m_limits.rpc_request_timeout_ms));
        grace.async_wait([weak](boost::system::error_code gec) {
            if (auto g = weak.lock(); !gec && g) g->shut();
        });
    });

    bool writer_done = false;
    net::Signal writer_exit(m_io.get_executor());
    asio::co_spawn(
        m_io,
        [&ws, state, &writer_done, &writer_exit]() -> net::awaitable<void> {
            while (!state->closing) {
                if (state->outbox.empty()) {
                    if (state->want_close) {
                        co_await ws.async_close(
                            websocket::close_reason(websocket::close_code::going_away, "connection lifetime over"),
                            net::use_nothrow);
                        break;
                    }
                    co_await state->wake.wait();
                    continue;
                }
                ws.text(true);
                auto [wec, n] = co_await ws.async_write(asio::buffer(state->outbox.front()), net::use_nothrow);
                state->outbox.pop();
                if (wec) break;
            }
            state->shut();  // a failed write or a close ends the reader too
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
        if (state->want_close) continue;  // saying goodbye: requests are no longer answered
        std::string answer = handle_ws_message(*state, text);
        if (!answer.empty() && !state->outbox.push(std::move(answer))) {
            ++m_stats.ws_cut_off;  // asks without reading the answers
            break;
        }
        state->wake.notify();
    }
    state->shut();
    lifetime.cancel();
    grace.cancel();
    while (!writer_done) co_await writer_exit.wait();
    state->abort = nullptr;
}

void HttpServer::on_accept(net::tcp::socket s) {
    boost::system::error_code rec;
    const auto remote = s.remote_endpoint(rec);
    if (rec) return;  // already gone; the socket closes here
    const auto source = remote.address();
    if (m_admission.admit(source) != Refusal::none) {
        // Refused at once, with a reset so no state lingers on our side.
        boost::system::error_code ignored;
        s.set_option(asio::socket_base::linger(true, 0), ignored);
        s.close(ignored);
        return;
    }
    asio::co_spawn(
        m_io, [this, s = std::move(s)]() mutable { return session(std::move(s)); },
        [this, source](std::exception_ptr) { m_admission.release(source); });
}

void HttpServer::serve_page(http::response<http::string_body>& res, const http::request<http::string_body>& req,
                            const web::Asset& asset, const net::tcp::socket& socket) const {
    boost::system::error_code ec;
    const auto local = socket.local_endpoint(ec);
    // Exactly one Host header, naming this node (DNS rebinding).
    const auto host = req.find(http::field::host);
    const bool one_host = host != req.end() && req.count(http::field::host) == 1;
    if (ec || !one_host || !web::host_allowed(host->value(), local.address().to_string(), m_web_hosts)) {
        res.result(http::status::forbidden);
        res.set(http::field::content_type, "text/plain");
        res.body() = std::string(web::foreign_host_message);
        return;
    }
    res.set(http::field::content_type, asset.content_type);
    for (const auto& [name, value] : web::security_header_fields()) res.set(name, value);
    res.body() = std::string(asset.body);
}

net::awaitable<void> HttpServer::session(net::tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        if (buffer.size() == 0) {
            // Between requests a keep-alive connection may wait for the idle
            // time; once the first byte is in, the request timeout applies.
            stream.expires_after(milliseconds(m_limits.rpc_idle_timeout_ms));
            auto [iec, in] = co_await stream.async_read_some(buffer.prepare(max_header_bytes), net::use_nothrow);
            if (iec) co_return;
            buffer.commit(in);
        }
        http::request_parser<http::string_body> parser;
        parser.body_limit(max_request_bytes);
        parser.header_limit(max_header_bytes);
        stream.expires_after(milliseconds(m_limits.rpc_request_timeout_ms));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, net::use_nothrow);
        if (ec) {
            if (ec == http::error::body_limit || ec == http::error::header_limit) {
                http::response<http::string_body> res{http::status::payload_too_large, 11};
                res.set(http::field::content_type, "application/json");
                res.body() = json::serialize(error_response(nullptr, invalid_request, "request too large"));
                res.prepare_payload();
                res.keep_alive(false);
                stream.expires_after(milliseconds(m_limits.rpc_request_timeout_ms));
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
        const bool rpc_path = req.target() == "/" || req.target() == "/rpc";
        if (req.method() == http::verb::options && rpc_path) {
            // CORS: any page may read the public ledger (no credentials are
            // ever involved), e.g. an operator's dashboard on its node's port.
            res.result(http::status::no_content);
            res.set(http::field::access_control_allow_origin, "*");
            res.set(http::field::access_control_allow_methods, "POST");
            res.set(http::field::access_control_allow_headers, "Content-Type");
            res.set(http::field::access_control_max_age, "600");
        } else if (req.method() == http::verb::post && rpc_path) {
            res.set(http::field::access_control_allow_origin, "*");
            res.set(http::field::content_type, "application/json");
            res.body() = m_dispatcher.handle(req.body());
            if (res.body().empty()) res.result(http::status::no_content);
        } else if (req.method() == http::verb::get && req.target() == "/health") {
            res.set(http::field::content_type, "text/plain");
            res.body() = "ok\n";
        } else if (const auto* asset =
                       req.method() == http::verb::get ? web::find(web::Page::explorer, req.target()) : nullptr) {
            serve_page(res, req, *asset, stream.socket());
        } else {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain");
            res.body() = "POST JSON-RPC 2.0 requests to /\n";
        }
        res.prepare_payload();
        // A client that does not read its answer is dropped after the request timeout.
        stream.expires_after(milliseconds(m_limits.rpc_request_timeout_ms));
        auto [wec, wn] = co_await http::async_write(stream, res, net::use_nothrow);
        if (wec || !res.keep_alive()) co_return;
    }
}

}  // namespace conet::rpc
