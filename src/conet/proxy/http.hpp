#pragma once
/// HTTP proxy requests (I/O-free): the request head, CONNECT authority-form and
/// absolute-URI requests rewritten to origin-form for the destination.

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "conet/net/cell.hpp"
#include "conet/proxy/parse.hpp"

namespace conet::proxy {

inline constexpr std::size_t max_http_head_bytes = 16 * 1024;
inline constexpr std::size_t max_http_headers = 100;

struct HttpRequest {
    std::string method;
    std::string target;   ///< as sent: authority, absolute URI or origin path
    std::string version;  ///< "HTTP/1.1"
    std::vector<std::pair<std::string, std::string>> headers;
};

/// The value of the request's first header `name` (case-insensitive), or empty.
std::string_view header_value(const HttpRequest& req, std::string_view name);

/// Parses up to the blank line; the body (if any) starts at `consumed`.
Parsed<HttpRequest> parse_http_head(util::ByteView in);

/// Why a request's destination was refused (the proxy answers 400 with it).
enum class HttpError { bad_authority, bad_port, bad_host, not_http, credentials_in_uri };
std::string_view describe(HttpError e);

/// "host:port" or "[v6]:port" (CONNECT).
util::Result<net::Target, HttpError> parse_authority(std::string_view authority, std::uint16_t default_port);

/// An absolute-URI request ("GET http://host:port/path HTTP/1.1"): the
/// destination and the head to send it (origin-form, no proxy headers,
/// "Connection: close").
struct Forward {
    net::Target target;
    std::string head;
};
util::Result<Forward, HttpError> rewrite_absolute(const HttpRequest& req);

/// DNS-rebinding defence for the proxy's own pages (/status): the request
/// must carry exactly one Host header, naming 127.0.0.1, localhost, [::1],
/// `local_address` (the IP literal the client connected to, unbracketed) or
/// one of `allowed_names` (case-insensitive), with or without a port. A web
/// page whose name an attacker re-pointed at 127.0.0.1 sends its own name
/// and is refused.
bool host_is_local(const HttpRequest& req, std::string_view local_address,
                   std::span<const std::string> allowed_names = {});

/// A whole response with "Connection: close"; `extra_headers` are lines each ending "\r\n".
std::string http_response(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers = {});

}  // namespace conet::proxy
