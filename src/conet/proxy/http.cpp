#include "conet/proxy/http.hpp"

#include <algorithm>
#include <cctype>

#include "conet/web/web.hpp"

namespace conet::proxy {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

Parsed<HttpRequest> parse_http_head(util::ByteView in) {
    using P = Parsed<HttpRequest>;
    const std::string_view text = util::as_chars(in);
    const std::size_t end = text.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (text.size() > max_http_head_bytes) return P::bad("request head too large");
        // Reject garbage early rather than waiting for 16 KiB of it.
        for (char c : text.substr(0, std::min<std::size_t>(text.size(), 16)))
            if (c != ' ' && c != '/' && c != '\r' && c != '\n' && !is_token_char(c) && c != ':')
                return P::bad("not an HTTP request");
        return P::more();
    }
    if (end > max_http_head_bytes) return P::bad("request head too large");
    std::string_view head = text.substr(0, end);
    const std::size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    HttpRequest req;
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return P::bad("malformed request line");
    req.method = std::string(line.substr(0, sp1));
    req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    req.version = std::string(line.substr(sp2 + 1));
    if (req.method.empty() || !std::all_of(req.method.begin(), req.method.end(), is_token_char))
        return P::bad("malformed method");
    if (req.target.empty() || req.target.find_first_of(" \t") != std::string::npos) return P::bad("malformed target");
    if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") return P::bad("unsupported HTTP version");
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        std::size_t eol = head.find("\r\n", pos);
        if (eol == std::string_view::npos) eol = head.size();
        const std::string_view h = head.substr(pos, eol - pos);
        const std::size_t colon = h.find(':');
        if (colon == std::string_view::npos || colon == 0) return P::bad("malformed header");
        const std::string_view name = h.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_token_char)) return P::bad("malformed header name");
        if (req.headers.size() >= max_http_headers) return P::bad("too many headers");
        req.headers.emplace_back(std::string(name), std::string(trim(h.substr(colon + 1))));
        pos = eol + 2;
    }
    return P::ok(std::move(req), end + 4);
}

std::string_view describe(HttpError e) {
    switch (e) {
        case HttpError::bad_authority: return "bad authority (host:port or [v6]:port)";
        case HttpError::bad_port: return "bad port";
        case HttpError::bad_host: return "bad host";
        case HttpError::not_http: return "only http:// absolute URIs can be proxied (use CONNECT for TLS)";
        case HttpError::credentials_in_uri: return "credentials in URI";
    }
    return "bad request";
}

util::Result<net::Target, HttpError> parse_authority(std::string_view a, std::uint16_t default_port) {
    std::string host;
    std::string_view port_text;
    if (!a.empty() && a.front() == '[') {
        const std::size_t close = a.find(']');
        if (close == std::string_view::npos) return util::unexpected(HttpError::bad_authority);
        host = std::string(a.substr(1, close - 1));
        if (close + 1 < a.size()) {
            if (a[close + 1] != ':') return util::unexpected(HttpError::bad_authority);
            port_text = a.substr(close + 2);
        }
    } else {
        const std::size_t colon = a.rfind(':');
        host = std::string(a.substr(0, colon));
        if (colon != std::string_view::npos) port_text = a.substr(colon + 1);
    }
    unsigned port = default_port;
    if (!port_text.empty() || (port_text.empty() && default_port == 0)) {
        port = 0;
        if (port_text.empty() || port_text.size() > 5) return util::unexpected(HttpError::bad_port);
        for (char c : port_text) {
            if (c < '0' || c > '9') return util::unexpected(HttpError::bad_port);
            port = port * 10 + unsigned(c - '0');
        }
    }
    if (port == 0 || port > 65535) return util::unexpected(HttpError::bad_port);
    if (!net::valid_host(host)) return util::unexpected(HttpError::bad_host);
    return net::Target{std::move(host), static_cast<std::uint16_t>(port)};
}

util::Result<Forward, HttpError> rewrite_absolute(const HttpRequest& req) {
    constexpr std::string_view scheme = "http://";
    if (req.target.size() <= scheme.size() || !iequals(req.target.substr(0, scheme.size()), scheme))
        return util::unexpected(HttpError::not_http);
    const std::string_view rest = std::string_view(req.target).substr(scheme.size());
    const std::size_t slash = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos) return util::unexpected(HttpError::credentials_in_uri);
    auto target = parse_authority(authority, 80);
    if (!target) return util::unexpected(target.error());
    std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (path.front() != '/') path = "/" + path;
    std::string head = req.method + " " + path + " " + req.version + "\r\n";
    bool has_host = false;
    for (const auto& [name, value] : req.headers) {
        if (iequals(name, "Proxy-Connection") || iequals(name, "Proxy-Authorization") || iequals(name, "Connection") ||
            iequals(name, "Keep-Alive"))
            continue;
        if (iequals(name, "Host")) has_host = true;
        head += name + ": " + value + "\r\n";
    }
    if (!has_host) head += "Host: " + std::string(authority) + "\r\n";
    head += "Connection: close\r\n\r\n";
    return Forward{std::move(*target), std::move(head)};
}

std::string_view header_value(const HttpRequest& req, std::string_view name) {
    for (const auto& [k, v] : req.headers)
        if (iequals(k, name)) return v;
    return {};
}

bool host_is_local(const HttpRequest& req, std::string_view local_address, std::span<const std::string> allowed_names) {
    const std::string* value = nullptr;
    for (const auto& [name, v] : req.headers) {
        if (!iequals(name, "Host")) continue;
        if (value) return false;  // two Host headers: ambiguous, refused
        value = &v;
    }
    return value && web::host_allowed(*value, local_address, allowed_names);
}

std::string http_response(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    out += "Content-Type: " + std::string(content_type) + "\r\n";
    out += extra_headers;
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";
    out += body;
    return out;
}

}  // namespace conet::proxy
