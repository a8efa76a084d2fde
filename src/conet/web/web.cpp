#include "conet/web/web.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace conet::web {

// Written by embed.cmake from assets/: each file's name and text.
struct EmbeddedFile {
    std::string_view name;
    std::string_view text;
};
extern const std::span<const EmbeddedFile> embedded_files;

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view type_of(std::string_view name) {
    if (name.ends_with(".html")) return "text/html; charset=utf-8";
    if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
    if (name.ends_with(".css")) return "text/css; charset=utf-8";
    if (name.ends_with(".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

std::string_view page_name(Page page) {
    switch (page) {
        case Page::user: return "user";
        case Page::operator_: return "operator";
        case Page::explorer: return "explorer";
    }
    return "";
}

/// Files shared by every page.
constexpr std::array<std::string_view, 3> common_files{"common.css", "common.js", "favicon.svg"};

struct Table {
    std::array<std::array<Asset, 8>, 3> assets{};
    std::array<std::array<std::string_view, 8>, 3> names{};
    std::array<std::size_t, 3> count{};
};

const Table& table() {
    static const Table t = [] {
        Table out;
        for (const Page page : {Page::user, Page::operator_, Page::explorer}) {
            const auto i = static_cast<std::size_t>(page);
            const std::string prefix = std::string(page_name(page)) + ".";
            for (const auto& f : embedded_files) {
                const bool shared = std::find(common_files.begin(), common_files.end(), f.name) != common_files.end();
                if (!shared && !f.name.starts_with(prefix)) continue;
                out.names[i].at(out.count[i]) = f.name;
                out.assets[i].at(out.count[i]) = Asset{type_of(f.name), f.text};
                ++out.count[i];
            }
        }
        return out;
    }();
    return t;
}

}  // namespace

const Asset* find(Page page, std::string_view target) {
    if (const auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);
    const auto i = static_cast<std::size_t>(page);
    std::string_view name;
    std::string html;
    if (target == "/" || target == "/index.html") {
        html = std::string(page_name(page)) + ".html";
        name = html;
    } else if (target.starts_with("/assets/")) {
        name = target.substr(8);
        if (name.ends_with(".html")) return nullptr;  // a page only at "/"
    } else {
        return nullptr;
    }
    const auto& t = table();
    for (std::size_t k = 0; k < t.count[i]; ++k)
        if (t.names[i][k] == name) return &t.assets[i][k];
    return nullptr;
}

std::string content_security_policy(std::string_view extra_connect) {
    std::string csp =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'";
    if (!extra_connect.empty()) {
        csp += ' ';
        csp += extra_connect;
    }
    csp += "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    return csp;
}

std::vector<std::pair<std::string, std::string>> security_header_fields(std::string_view extra_connect) {
    return {{"Content-Security-Policy", content_security_policy(extra_connect)},
            {"X-Content-Type-Options", "nosniff"},
            {"X-Frame-Options", "DENY"},
            {"Referrer-Policy", "no-referrer"},
            {"Cache-Control", "no-store"}};
}

std::string security_headers(std::string_view extra_connect) {
    std::string out;
    for (const auto& [name, value] : security_header_fields(extra_connect)) out += name + ": " + value + "\r\n";
    return out;
}

bool host_allowed(std::string_view host, std::string_view local_address, std::span<const std::string> allowed_names) {
    std::string_view port;
    if (!host.empty() && host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos) return false;
        port = host.substr(close + 1);
        host = host.substr(1, close - 1);
        if (!port.empty() && port.front() != ':') return false;
    } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
        port = host.substr(colon);
        host = host.substr(0, colon);
        if (host.find(':') != std::string_view::npos) return false;  // a bare IPv6 address: not a valid Host
    }
    if (!port.empty()) {
        port.remove_prefix(1);
        if (port.empty() || port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return false;
    }
    if (host.empty()) return false;
    if (host == "127.0.0.1" || host == "::1" || iequals(host, "localhost")) return true;
    if (!local_address.empty() && iequals(host, local_address)) return true;
    return std::any_of(allowed_names.begin(), allowed_names.end(),
                       [&](const std::string& n) { return !n.empty() && iequals(host, n); });
}

}  // namespace conet::web
