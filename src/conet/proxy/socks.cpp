#include "conet/proxy/socks.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

#include "conet/codec/codec.hpp"

namespace conet::proxy {

namespace {
constexpr std::size_t max_socks4_field_bytes = 255;
}

Socks5Method Socks5Greeting::choose() const {
    auto has = [&](Socks5Method m) {
        return std::find(methods.begin(), methods.end(), static_cast<std::uint8_t>(m)) != methods.end();
    };
    if (has(Socks5Method::user_password)) return Socks5Method::user_password;
    if (has(Socks5Method::no_auth)) return Socks5Method::no_auth;
    return Socks5Method::none_acceptable;
}

Parsed<Socks5Greeting> parse_socks5_greeting(ByteView in) {
    using P = Parsed<Socks5Greeting>;
    if (in.empty()) return P::more();
    if (in[0] != socks5_version) return P::bad("not SOCKS5");
    if (in.size() < 2) return P::more();
    const std::size_t n = in[1];
    if (n == 0) return P::bad("SOCKS5 greeting offers no methods");
    if (in.size() < 2 + n) return P::more();
    return P::ok({{in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n)}}, 2 + n);
}

Parsed<Socks5Credentials> parse_socks5_credentials(ByteView in) {
    using P = Parsed<Socks5Credentials>;
    if (in.empty()) return P::more();
    if (in[0] != 0x01) return P::bad("bad RFC 1929 version");
    if (in.size() < 2) return P::more();
    const std::size_t ulen = in[1];
    if (in.size() < 2 + ulen + 1) return P::more();
    const std::size_t plen = in[2 + ulen];
    if (in.size() < 3 + ulen + plen) return P::more();
    Socks5Credentials c;
    c.username.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(ulen));
    c.password.assign(in.begin() + 3 + static_cast<std::ptrdiff_t>(ulen),
                      in.begin() + 3 + static_cast<std::ptrdiff_t>(ulen + plen));
    return P::ok(std::move(c), 3 + ulen + plen);
}

Parsed<SocksRequest> parse_socks5_request(ByteView in) {
    using P = Parsed<SocksRequest>;
    if (in.size() < 4) return P::more();
    if (in[0] != socks5_version || in[2] != 0) return P::bad("malformed SOCKS5 request");
    SocksRequest r;
    r.command = in[1];
    std::size_t pos = 4;
    switch (in[3]) {
        case 0x01: {
            if (in.size() < pos + 4 + 2) return P::more();
            boost::asio::ip::address_v4::bytes_type b;
            std::copy_n(in.begin() + 4, 4, b.begin());
            r.target.host = boost::asio::ip::address_v4(b).to_string();
            pos += 4;
            break;
        }
        case 0x03: {
            if (in.size() < pos + 1) return P::more();
            const std::size_t len = in[pos];
            if (len == 0) return P::bad("reply:" + std::to_string(int(Socks5Reply::general_failure)));
            if (in.size() < pos + 1 + len + 2) return P::more();
            r.target.host.assign(in.begin() + static_cast<std::ptrdiff_t>(pos + 1),
                                 in.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
            pos += 1 + len;
            break;
        }
        case 0x04: {
            if (in.size() < pos + 16 + 2) return P::more();
            boost::asio::ip::address_v6::bytes_type b;
            std::copy_n(in.begin() + 4, 16, b.begin());
            r.target.host = boost::asio::ip::address_v6(b).to_string();
            pos += 16;
            break;
        }
        default: return P::bad("reply:" + std::to_string(int(Socks5Reply::address_type_not_supported)));
    }
    r.target.port = codec::load_be<std::uint16_t>(in.data() + pos);
    pos += 2;
    if (r.command != 0x01) return P::bad("reply:" + std::to_string(int(Socks5Reply::command_not_supported)));
    if (r.target.port == 0 || !net::valid_host(r.target.host))
        return P::bad("reply:" + std::to_string(int(Socks5Reply::general_failure)));
    return P::ok(std::move(r), pos);
}

Parsed<SocksRequest> parse_socks4_request(ByteView in) {
    using P = Parsed<SocksRequest>;
    if (in.size() < 8) return P::more();
    if (in[0] != socks4_version) return P::bad("not SOCKS4");
    SocksRequest r;
    r.command = in[1];
    r.target.port = codec::load_be<std::uint16_t>(in.data() + 2);
    const bool socks4a = in[4] == 0 && in[5] == 0 && in[6] == 0 && in[7] != 0;
    std::size_t pos = 8;
    auto read_cstring = [&](std::string& out) -> int {  // 1 ok, 0 more, -1 bad
        const auto begin = in.begin() + static_cast<std::ptrdiff_t>(pos);
        const auto nul = std::find(begin, in.end(), 0);
        if (nul == in.end()) return in.size() - pos > max_socks4_field_bytes ? -1 : 0;
        if (static_cast<std::size_t>(nul - begin) > max_socks4_field_bytes) return -1;
        out.assign(begin, nul);
        pos += static_cast<std::size_t>(nul - begin) + 1;
        return 1;
    };
    int s = read_cstring(r.user);
    if (s == 0) return P::more();
    if (s < 0) return P::bad("SOCKS4 user id too long");
    if (socks4a) {
        s = read_cstring(r.target.host);
        if (s == 0) return P::more();
        if (s < 0) return P::bad("SOCKS4a host name too long");
    } else {
        boost::asio::ip::address_v4::bytes_type b;
        std::copy_n(in.begin() + 4, 4, b.begin());
        r.target.host = boost::asio::ip::address_v4(b).to_string();
    }
    if (r.command != 0x01) return P::bad("SOCKS4 command not supported");
    if (r.target.port == 0 || !net::valid_host(r.target.host)) return P::bad("SOCKS4 bad destination");
    return P::ok(std::move(r), pos);
}

Bytes socks5_reply(Socks5Reply code) {
    return {socks5_version, static_cast<std::uint8_t>(code), 0x00, 0x01, 0, 0, 0, 0, 0, 0};
}

Bytes socks4_reply(bool granted) {
    return {0x00, static_cast<std::uint8_t>(granted ? 0x5a : 0x5b), 0, 0, 0, 0, 0, 0};
}

}  // namespace conet::proxy
