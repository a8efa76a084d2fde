#include "conet/rpc/client.hpp"

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace conet::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

/// How often a waiting call looks at its cancel predicate.
constexpr milliseconds poll_interval{50};

struct Target {
    std::string host;  ///< without IPv6 brackets
    std::string port;
    std::string authority;
    std::string path;
};

util::Result<Target, std::string> parse_url(const std::string& url) {
    constexpr std::string_view scheme = "http://";
    if (url.rfind(scheme, 0) != 0) return util::unexpected(std::string("URL must start with http://"));
    const std::string rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    Target t;
    t.authority = rest.substr(0, slash);
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = t.authority.rfind(':');
    if (colon == std::string::npos) return util::unexpected(std::string("URL needs a port: ") + url);
    t.host = t.authority.substr(0, colon);
    if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
    t.port = t.authority.substr(colon + 1);
    std::uint16_t port = 0;
    const auto [end, ec] = std::from_chars(t.port.data(), t.port.data() + t.port.size(), port);
    if (ec != std::errc() || end != t.port.data() + t.port.size() || port == 0)
        return util::unexpected(std::string("URL has a bad port: ") + url);
    return t;
}

/// Why a wait ended early.
enum class Stop { none, deadline, cancelled };

Stop should_stop(Clock::time_point deadline, const CallOptions& o) {
    if (Clock::now() >= deadline) return Stop::deadline;
    if (o.cancelled && o.cancelled()) return Stop::cancelled;
    return Stop::none;
}

/// Resolves a host name on a thread of its own: getaddrinfo cannot be
/// cancelled, so a lookup that never returns is abandoned at the deadline
/// (its thread finishes on its own) instead of blocking the caller.
util::Result<std::vector<tcp::endpoint>, Stop> resolve(const Target& t, Clock::time_point deadline,
                                                       const CallOptions& o, boost::system::error_code& error) {
    boost::system::error_code ec;
    const auto literal = asio::ip::make_address(t.host, ec);
    if (!ec) return std::vector<tcp::endpoint>{{literal, static_cast<std::uint16_t>(std::stoi(t.port))}};

    struct Lookup {
        std::mutex mutex;
        std::condition_variable done_cv;
        bool done = false;
        boost::system::error_code ec;
        std::vector<tcp::endpoint> endpoints;
    };
    auto lookup = std::make_shared<Lookup>();
    std::thread([lookup, host = t.host, port = t.port] {
        asio::io_context io;
        tcp::resolver resolver(io);
        boost::system::error_code rec;
        const auto results = resolver.resolve(host, port, rec);
        std::lock_guard lock(lookup->mutex);
        lookup->ec = rec;
        for (const auto& r : results) lookup->endpoints.push_back(r.endpoint());
        lookup->done = true;
        lookup->done_cv.notify_all();
    }).detach();
    std::unique_lock lock(lookup->mutex);
    while (!lookup->done) {
        lock.unlock();
        if (const Stop s = should_stop(deadline, o); s != Stop::none) return util::unexpected(s);
        lock.lock();
        lookup->done_cv.wait_for(lock, std::min<Clock::duration>(poll_interval, deadline - Clock::now()));
    }
    error = lookup->ec;
    return std::move(lookup->endpoints);
}

/// One HTTP/1.1 exchange with `url`; returns the response body.
util::Result<std::string, std::string> exchange(const std::string& url, http::verb verb, std::string body,
                                                const CallOptions& o) {
    auto target = parse_url(url);
    if (!target) return util::unexpected(target.error());
    const auto start = Clock::now();
    auto deadline = start + milliseconds(o.timeout_ms);
    if (o.deadline && *o.deadline < deadline) deadline = *o.deadline;
    const char* phase = "resolving the host";
    auto stopped = [&](Stop why) -> util::Result<std::string, std::string> {
        if (why == Stop::cancelled) return util::unexpected("call to " + url + " cancelled");
        const auto budget = std::chrono::duration_cast<milliseconds>(deadline - start).count();
        return util::unexpected(url + " did not answer within " + std::to_string(budget) + " ms (" + phase + ")");
    };

    boost::system::error_code ec;
    auto endpoints = resolve(*target, deadline, o, ec);
    if (!endpoints) return stopped(endpoints.error());
    if (!ec && endpoints->empty()) ec = asio::error::host_not_found;
    if (ec) return util::unexpected("cannot reach " + url + ": " + ec.message());

    http::request<http::string_body> req{verb, target->path, 11};
    req.set(http::field::host, target->authority);
    if (verb == http::verb::post) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
    }
    req.prepare_payload();
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer_bytes);

    // Declared before the stream so that it outlives every handler below.
    bool finished = false;
    boost::system::error_code failure;
    asio::io_context io;
    beast::tcp_stream stream(io);
    phase = "connecting";
    stream.async_connect(*endpoints, [&](boost::system::error_code cec, const tcp::endpoint&) {
        if (cec) {
            failure = cec;
            finished = true;
            return;
        }
        phase = "sending the request";
        http::async_write(stream, req, [&](boost::system::error_code wec, std::size_t) {
            if (wec) {
                failure = wec;
                finished = true;
                return;
            }
            phase = "waiting for the answer";
            http::async_read(stream, buffer, parser, [&](boost::system::error_code rec, std::size_t) {
                failure = rec;
                finished = true;
            });
        });
    });
    // The io_context never runs past the deadline, and between slices the
    // cancel predicate is asked; either ends the call with the socket closed.
    Stop why = Stop::none;
    while (!finished) {
        why = should_stop(deadline, o);
        if (why != Stop::none) break;
        io.run_for(std::min<Clock::duration>(poll_interval, deadline - Clock::now()));
        if (io.stopped()) io.restart();
    }
    if (!finished) {
        const char* at = phase;
        boost::system::error_code ignored;
        stream.socket().close(ignored);
        io.restart();
        io.run_for(milliseconds(100));  // the aborted handlers; nothing blocks any more
        phase = at;
        return stopped(why);
    }
    if (failure == asio::error::connection_refused || phase == std::string_view("connecting"))
        return util::unexpected("cannot reach " + url + ": " + failure.message() +
                                (failure == asio::error::connection_refused
                                     ? " (is a node serving JSON-RPC there? check the URL, and `rpc` in its node.toml)"
                                     : ""));
    if (failure) return util::unexpected("request to " + url + " failed: " + failure.message());
    return std::move(parser.get().body());
}

}  // namespace

util::Result<json::value, std::string> get_json(const std::string& url, std::uint32_t timeout_ms) {
    CallOptions o;
    o.timeout_ms = timeout_ms;
    auto body = exchange(url, http::verb::get, {}, o);
    if (!body) return util::unexpected(body.error());
    boost::system::error_code ec;
    json::value doc = json::parse(*body, ec);
    if (ec) return util::unexpected(url + " did not answer JSON");
    return doc;
}

util::Result<json::value, RpcError> call(const std::string& url, std::string_view method, json::array params,
                                         std::uint32_t timeout_ms) {
    CallOptions o;
    o.timeout_ms = timeout_ms;
    return call(url, method, std::move(params), o);
}

util::Result<json::value, RpcError> call(const std::string& url, std::string_view method, json::array params,
                                         const CallOptions& options) {
    auto body = exchange(
        url, http::verb::post,
        json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}, {"id", 1}}),
        options);
    if (!body) return util::unexpected(RpcError{internal_error, "RPC " + body.error()});
    boost::system::error_code pec;
    const json::value doc = json::parse(*body, pec);
    if (pec || !doc.is_object())
        return util::unexpected(RpcError{internal_error, "RPC answer from " + url + " is not JSON-RPC"});
    if (const auto* err = doc.get_object().if_contains("error")) {
        RpcError e;
        if (const auto* c = err->is_object() ? err->get_object().if_contains("code") : nullptr; c && c->is_int64())
            e.code = static_cast<int>(c->get_int64());
        if (const auto* m = err->is_object() ? err->get_object().if_contains("message") : nullptr; m && m->is_string())
            e.message = std::string(m->get_string());
        return util::unexpected(std::move(e));
    }
    const auto* result = doc.get_object().if_contains("result");
    if (!result) return util::unexpected(RpcError{internal_error, "RPC answer from " + url + " has no result"});
    return *result;
}

}  // namespace conet::rpc
