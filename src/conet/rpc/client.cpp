#include "conet/rpc/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace conet::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

namespace {

/// One HTTP/1.1 exchange with `url`; returns the response body.
util::Result<std::string, std::string> exchange(const std::string& url, http::verb verb, std::string body,
                                                std::uint32_t timeout_ms) {
    constexpr std::string_view scheme = "http://";
    if (url.rfind(scheme, 0) != 0) return util::unexpected(std::string("URL must start with http://"));
    const std::string rest = url.substr(scheme.size());
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    if (colon == std::string::npos) return util::unexpected(std::string("URL needs a port: ") + url);
    std::string host = authority.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const std::string port = authority.substr(colon + 1);

    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (!ec) stream.connect(results, ec);
    if (ec) return util::unexpected("cannot reach " + url + ": " + ec.message());

    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, authority);
    if (verb == http::verb::post) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
    }
    req.prepare_payload();
    http::write(stream, req, ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    if (!ec) http::read(stream, buffer, parser, ec);
    if (ec) return util::unexpected("request to " + url + " failed: " + ec.message());
    return std::move(parser.get().body());
}

}  // namespace

util::Result<json::value, std::string> get_json(const std::string& url, std::uint32_t timeout_ms) {
    auto body = exchange(url, http::verb::get, {}, timeout_ms);
    if (!body) return util::unexpected(body.error());
    boost::system::error_code ec;
    json::value doc = json::parse(*body, ec);
    if (ec) return util::unexpected(url + " did not answer JSON");
    return doc;
}

util::Result<json::value, RpcError> call(const std::string& url, std::string_view method, json::array params,
                                         std::uint32_t timeout_ms) {
    auto body = exchange(
        url, http::verb::post,
        json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}, {"id", 1}}),
        timeout_ms);
    if (!body) return util::unexpected(RpcError{internal_error, "RPC " + body.error()});
    boost::system::error_code pec;
    const json::value doc = json::parse(*body, pec);
    if (pec || !doc.is_object()) return util::unexpected(RpcError{internal_error, "RPC answer is not JSON-RPC"});
    if (const auto* err = doc.get_object().if_contains("error")) {
        RpcError e;
        if (const auto* c = err->is_object() ? err->get_object().if_contains("code") : nullptr; c && c->is_int64())
            e.code = static_cast<int>(c->get_int64());
        if (const auto* m = err->is_object() ? err->get_object().if_contains("message") : nullptr; m && m->is_string())
            e.message = std::string(m->get_string());
        return util::unexpected(std::move(e));
    }
    const auto* result = doc.get_object().if_contains("result");
    if (!result) return util::unexpected(RpcError{internal_error, "RPC answer has no result"});
    return *result;
}

}  // namespace conet::rpc
