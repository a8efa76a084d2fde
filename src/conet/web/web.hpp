#pragma once
/// The web dashboards every CONET binary serves (docs/web.md): the pages and
/// their scripts, compiled into the binary, and the rules each server applies
/// to them — which Host names a page answers to (DNS rebinding) and the
/// headers it is sent with (a strict Content-Security-Policy). I/O-free: the
/// proxy, the node's status port and the RPC server each carry these out.

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace conet::web {

enum class Page { user, operator_, explorer };

struct Asset {
    std::string_view content_type;
    std::string_view body;
};

/// The file `target` names for `page`: "/" is the page itself, "/assets/…"
/// its styles and scripts (those of another page are not served). A query
/// string is ignored. nullptr when there is no such file.
const Asset* find(Page page, std::string_view target);

/// The response headers (without the final blank line, each ending "\r\n")
/// every dashboard file is sent with: its Content-Security-Policy — scripts,
/// styles and connections only to the page's own origin plus
/// `extra_connect` (e.g. "http://127.0.0.1:8545 ws://127.0.0.1:8545", for an
/// operator page reading its node's RPC) — no framing, no referrer, no caching.
std::string security_headers(std::string_view extra_connect = {});
/// The same headers as (name, value) pairs, for servers that set fields one by one.
std::vector<std::pair<std::string, std::string>> security_header_fields(std::string_view extra_connect = {});
/// The same Content-Security-Policy value alone.
std::string content_security_policy(std::string_view extra_connect = {});

/// DNS-rebinding defence: `host` is the request's one Host header value; it
/// must name 127.0.0.1, localhost, [::1], `local_address` (the IP literal the
/// client connected to, unbracketed) or one of `allowed_names`
/// (case-insensitive), with or without a port. A web page whose name an
/// attacker re-pointed at 127.0.0.1 sends its own name and is refused.
bool host_allowed(std::string_view host, std::string_view local_address,
                  std::span<const std::string> allowed_names = {});

/// The body of the 403 a refused Host gets.
inline constexpr std::string_view foreign_host_message =
    "forbidden: this page answers only to Host 127.0.0.1, localhost, [::1], the address you connected to, or a "
    "name configured for it (DNS-rebinding guard)\n";

}  // namespace conet::web
