#include "conet/proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>

#include "conet/proxy/http.hpp"
#include "conet/proxy/socks.hpp"
#include "conet/web/web.hpp"

namespace conet::proxy {

using namespace boost::asio::experimental::awaitable_operators;
using net::EndReason;

namespace {

constexpr std::size_t max_request_bytes = max_http_head_bytes + 1024;

Socks5Reply socks5_code(EndReason r) {
    switch (r) {
        case EndReason::exit_policy:
        case EndReason::payment_required:
        case EndReason::balance_exhausted: return Socks5Reply::not_allowed;
        case EndReason::resolve_failed:
        case EndReason::host_unreachable: return Socks5Reply::host_unreachable;
        case EndReason::connection_refused: return Socks5Reply::connection_refused;
        case EndReason::timeout: return Socks5Reply::ttl_expired;
        default: return Socks5Reply::general_failure;
    }
}

std::string http_error(EndReason r) {
    const std::string body = "conet proxy: " + std::string(net::describe(r)) + "\n";
    if (r == EndReason::timeout) return http_response(504, "Gateway Timeout", "text/plain", body);
    if (r == EndReason::payment_required || r == EndReason::balance_exhausted)
        return http_response(402, "Payment Required", "text/plain", body);
    return http_response(502, "Bad Gateway", "text/plain", body);
}

}  // namespace

/// The bytes received so far, and a way to get more before a deadline.
class RequestReader {
public:
    RequestReader(tcp::socket& s, std::chrono::steady_clock::time_point deadline)
        : m_socket(s), m_timer(s.get_executor()) {
        m_timer.expires_at(deadline);
    }
    util::ByteView data() const { return {m_buf.data(), m_have}; }
    /// Reads more; false on EOF, error, timeout or a request over the limit.
    awaitable<bool> more() {
        if (m_have >= max_request_bytes) co_return false;
        auto r = co_await (m_socket.async_read_some(asio::buffer(m_buf.data() + m_have, max_request_bytes - m_have),
                                                    net::use_nothrow) ||
                           m_timer.async_wait(net::use_nothrow));
        if (r.index() == 1) co_return false;
        auto [ec, n] = std::get<0>(r);
        if (ec || n == 0) co_return false;
        m_have += n;
        co_return true;
    }
    /// Drops the first n bytes (a parsed message).
    void consume(std::size_t n) {
        std::memmove(m_buf.data(), m_buf.data() + n, m_have - n);
        m_have -= n;
    }

private:
    tcp::socket& m_socket;
    asio::steady_timer m_timer;
    std::array<std::uint8_t, max_request_bytes> m_buf{};
    std::size_t m_have = 0;
};

namespace {

template <class T, class F>
awaitable<Parsed<T>> read_message(RequestReader& reader, F parse) {
    for (;;) {
        auto p = parse(reader.data());
        if (p.status != ParseStatus::incomplete) co_return p;
        if (!co_await reader.more()) co_return Parsed<T>::bad("incomplete request");
    }
}

awaitable<void> write_all(tcp::socket& s, util::ByteView data) {
    co_await asio::async_write(s, asio::buffer(data.data(), data.size()), net::use_nothrow);
}

awaitable<void> write_text(tcp::socket& s, const std::string& text) {
    co_await write_all(s, util::as_bytes(text));
}

}  // namespace

ProxyServer::ProxyServer(asio::io_context& io, ProxyOptions options, Client& client)
    : m_io(io), m_options(std::move(options)), m_client(client) {}

ProxyServer::~ProxyServer() {
    stop();
}

util::Result<tcp::endpoint, net::ListenFailure> ProxyServer::start() {
    auto listener = net::Listener::open(m_io.get_executor(), m_options.listen);
    if (!listener) return util::unexpected(listener.error());
    m_listener = std::move(*listener);
    m_bound = m_listener->local_endpoint();
    m_listener->start([this](tcp::socket s) { on_accept(std::move(s)); });
    return m_bound;
}

void ProxyServer::stop() {
    if (m_stopped) return;
    m_stopped = true;
    if (m_listener) m_listener->close();
}

std::string ProxyServer::pac(const tcp::endpoint& local) const {
    const auto addr = m_bound.address().is_unspecified() ? local.address() : m_bound.address();
    const ledger::Endpoint self{addr.to_string(), m_bound.port()};
    const std::string hp = self.to_string();  // brackets an IPv6 address
    return "function FindProxyForURL(url, host) {\n  return \"SOCKS5 " + hp + "; SOCKS " + hp + "; PROXY " + hp +
           "\";\n}\n";
}

void ProxyServer::on_accept(tcp::socket socket) {
    if (m_connections >= m_options.max_connections) return;  // closes the socket
    ++m_connections;
    asio::co_spawn(
        m_io, [this, s = std::move(socket)]() mutable { return serve(std::move(s)); },
        [this](std::exception_ptr) { --m_connections; });
}

/// The proxy's own pages: the PAC file, the user's dashboard (docs/web.md),
/// its /status and POST /route, which changes hops and exit region.
awaitable<void> ProxyServer::serve_local(tcp::socket& socket, const HttpRequest& req, RequestReader& reader) {
    boost::system::error_code ec;
    const tcp::endpoint local = socket.local_endpoint(ec);
    if (req.method == "GET" && (req.target == "/pac" || req.target == "/proxy.pac")) {
        // Any Host: the PAC file holds only the address the client just
        // reached, so a rebinding page learns nothing from it, and browsers
        // fetch it under whatever name the user typed (docs/path-selection.md).
        co_await write_text(socket, http_response(200, "OK", "application/x-ns-proxy-autoconfig", pac(local)));
        co_return;
    }
    if (!host_is_local(req, ec ? std::string() : local.address().to_string(), m_options.allowed_hosts)) {
        co_await write_text(socket, http_response(403, "Forbidden", "text/plain",
                                                  "conet proxy: " + std::string(web::foreign_host_message)));
        co_return;
    }
    const auto json_answer = [](int status, const boost::json::value& v) {
        return http_response(status, status == 200 ? "OK" : "Bad Request", "application/json",
                             boost::json::serialize(v) + "\n", "Cache-Control: no-store\r\n");
    };
    if (req.method == "GET" && req.target == "/status") {
        co_await write_text(socket, json_answer(200, m_client.status()));
    } else if (req.target == "/route") {
        co_await write_text(socket, co_await change_route(req, reader));
    } else if (const auto* asset = req.method == "GET" ? web::find(web::Page::user, req.target) : nullptr) {
        co_await write_text(socket,
                            http_response(200, "OK", asset->content_type, asset->body, web::security_headers()));
    } else {
        co_await write_text(socket, http_response(404, "Not Found", "text/plain",
                                                  "conet proxy: try / (the dashboard), /pac or /status\n"));
    }
}

/// POST /route {"hops": 2|3, "exit_region": "DE"|""}: a page of another site
/// cannot send it (a JSON body needs a CORS preflight this proxy never
/// grants, and its Origin must be the page's own).
awaitable<std::string> ProxyServer::change_route(const HttpRequest& req, RequestReader& reader) {
    namespace json = boost::json;
    const auto refuse = [](int status, std::string_view why) {
        return http_response(status,
                             status == 405   ? "Method Not Allowed"
                             : status == 403 ? "Forbidden"
                                             : "Bad Request",
                             "application/json", json::serialize(json::object{{"error", why}}) + "\n");
    };
    if (req.method != "POST") co_return refuse(405, "POST a JSON object {\"hops\", \"exit_region\"} to /route");
    if (!header_value(req, "Content-Type").starts_with("application/json"))
        co_return refuse(400, "the body must be JSON (Content-Type: application/json)");
    if (const auto origin = header_value(req, "Origin"); !origin.empty()) {
        const auto host = header_value(req, "Host");
        if (origin != "http://" + std::string(host)) co_return refuse(403, "cross-origin requests are refused");
    }
    std::size_t length = 0;
    const auto cl = header_value(req, "Content-Length");
    const auto [end, err] = std::from_chars(cl.data(), cl.data() + cl.size(), length);
    if (cl.empty() || err != std::errc() || end != cl.data() + cl.size() || length > 1024)
        co_return refuse(400, "a Content-Length of at most 1024 bytes is required");
    while (reader.data().size() < length)
        if (!co_await reader.more()) co_return refuse(400, "the body ended early");
    const auto body = reader.data().first(length);
    boost::system::error_code jec;
    const json::value v = json::parse(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()), jec);
    const json::object* o = jec ? nullptr : v.if_object();
    const json::value* hops = o ? o->if_contains("hops") : nullptr;
    const json::value* region = o ? o->if_contains("exit_region") : nullptr;
    if (!hops || !hops->is_int64() || !region || !region->is_string())
        co_return refuse(400, "expected {\"hops\": 2 or 3, \"exit_region\": \"DE\" or \"\"}");
    auto changed = m_client.set_route(static_cast<std::size_t>(std::max<std::int64_t>(0, hops->as_int64())),
                                      std::string(region->as_string()));
    if (!changed) co_return refuse(400, describe(changed.error()));
    co_return http_response(200, "OK", "application/json", json::serialize(m_client.status()) + "\n",
                            "Cache-Control: no-store\r\n");
}

awaitable<void> ProxyServer::serve(tcp::socket socket) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(m_options.request_timeout_ms);
    RequestReader reader(socket, deadline);
    if (!co_await reader.more()) co_return;
    const std::uint8_t first = reader.data()[0];

    net::Target target;
    std::string isolation;
    enum class Kind { socks5, socks4, http_connect, http_forward } kind;
    util::Bytes initial;

    if (first == socks5_version) {
        kind = Kind::socks5;
        auto greeting = co_await read_message<Socks5Greeting>(reader, parse_socks5_greeting);
        if (greeting.status != ParseStatus::done) co_return;
        reader.consume(greeting.consumed);
        const Socks5Method method = greeting.value.choose();
        const util::Bytes choice{socks5_version, static_cast<std::uint8_t>(method)};
        co_await write_all(socket, choice);
        if (method == Socks5Method::none_acceptable) co_return;
        if (method == Socks5Method::user_password) {
            auto creds = co_await read_message<Socks5Credentials>(reader, parse_socks5_credentials);
            if (creds.status != ParseStatus::done) co_return;
            reader.consume(creds.consumed);
            // Credentials only choose a circuit; every pair is accepted.
            isolation = "socks5:" + creds.value.username + "\n" + creds.value.password;
            const util::Bytes ok{0x01, 0x00};
            co_await write_all(socket, ok);
        }
        auto req = co_await read_message<SocksRequest>(reader, parse_socks5_request);
        if (req.status != ParseStatus::done) {
            if (req.error.rfind("reply:", 0) == 0)
                co_await write_all(socket, socks5_reply(static_cast<Socks5Reply>(std::stoi(req.error.substr(6)))));
            co_return;
        }
        reader.consume(req.consumed);
        target = req.value.target;
    } else if (first == socks4_version) {
        kind = Kind::socks4;
        auto req = co_await read_message<SocksRequest>(reader, parse_socks4_request);
        if (req.status != ParseStatus::done) {
            if (reader.data().size() >= 8) co_await write_all(socket, socks4_reply(false));
            co_return;
        }
        reader.consume(req.consumed);
        target = req.value.target;
        if (!req.value.user.empty()) isolation = "socks4:" + req.value.user;
    } else {
        auto head = co_await read_message<HttpRequest>(reader, parse_http_head);
        if (head.status != ParseStatus::done) {
            if (head.error != "incomplete request")
                co_await write_text(
                    socket, http_response(400, "Bad Request", "text/plain", "conet proxy: " + head.error + "\n"));
            co_return;
        }
        reader.consume(head.consumed);
        const HttpRequest& req = head.value;
        if (req.method == "CONNECT") {
            kind = Kind::http_connect;
            auto t = parse_authority(req.target, 0);
            if (!t) {
                co_await write_text(socket, http_response(400, "Bad Request", "text/plain",
                                                          "conet proxy: " + std::string(describe(t.error())) + "\n"));
                co_return;
            }
            target = *t;
        } else if (!req.target.empty() && req.target.front() == '/') {
            co_await serve_local(socket, req, reader);
            co_return;
        } else {
            kind = Kind::http_forward;
            auto fwd = rewrite_absolute(req);
            if (!fwd) {
                co_await write_text(socket, http_response(400, "Bad Request", "text/plain",
                                                          "conet proxy: " + std::string(describe(fwd.error())) + "\n"));
                co_return;
            }
            target = fwd->target;
            initial = util::to_bytes(fwd->head);
        }
    }
    // Early data the client sent after its request goes through too.
    util::append(initial, reader.data());

    auto opened = co_await m_client.open_stream(std::move(socket), target, isolation);
    tcp::socket& s = opened.stream->socket();
    if (!opened.ok) {
        switch (kind) {
            case Kind::socks5: co_await write_all(s, socks5_reply(socks5_code(opened.reason))); break;
            case Kind::socks4: co_await write_all(s, socks4_reply(false)); break;
            default: co_await write_text(s, http_error(opened.reason)); break;
        }
        opened.stream->abort();
        co_return;
    }
    switch (kind) {
        case Kind::socks5: co_await write_all(s, socks5_reply(Socks5Reply::succeeded)); break;
        case Kind::socks4: co_await write_all(s, socks4_reply(true)); break;
        case Kind::http_connect: co_await write_text(s, "HTTP/1.1 200 Connection established\r\n\r\n"); break;
        case Kind::http_forward: break;
    }
    opened.stream->start(std::move(initial));
}

}  // namespace conet::proxy
