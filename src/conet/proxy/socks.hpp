#pragma once
/// SOCKS5 (RFC 1928, RFC 1929 user/password) and SOCKS4/4a parsers and reply
/// builders. I/O-free: they look at the bytes received so far.

#include <cstdint>
#include <vector>

#include "conet/net/cell.hpp"
#include "conet/proxy/parse.hpp"

namespace conet::proxy {

using util::Bytes;
using util::ByteView;

inline constexpr std::uint8_t socks5_version = 5;
inline constexpr std::uint8_t socks4_version = 4;

enum class Socks5Method : std::uint8_t { no_auth = 0x00, user_password = 0x02, none_acceptable = 0xff };

/// SOCKS5 reply codes (RFC 1928 §6).
enum class Socks5Reply : std::uint8_t {
    succeeded = 0x00,
    general_failure = 0x01,
    not_allowed = 0x02,
    network_unreachable = 0x03,
    host_unreachable = 0x04,
    connection_refused = 0x05,
    ttl_expired = 0x06,
    command_not_supported = 0x07,
    address_type_not_supported = 0x08,
};

struct Socks5Greeting {
    std::vector<std::uint8_t> methods;
    /// Prefers user/password (used only to isolate circuits), then no-auth.
    Socks5Method choose() const;
};
Parsed<Socks5Greeting> parse_socks5_greeting(ByteView in);

struct Socks5Credentials {
    std::string username;
    std::string password;
};
Parsed<Socks5Credentials> parse_socks5_credentials(ByteView in);

struct SocksRequest {
    std::uint8_t command = 0;  ///< 1 = CONNECT
    net::Target target;
    std::string user;  ///< SOCKS4 user id; isolation key
};
/// Invalid results for a well-formed request that we cannot serve carry the
/// reply code to send in `error` ("reply:NN").
Parsed<SocksRequest> parse_socks5_request(ByteView in);
Parsed<SocksRequest> parse_socks4_request(ByteView in);

Bytes socks5_reply(Socks5Reply code);
/// SOCKS4: 0x5a granted, 0x5b rejected.
Bytes socks4_reply(bool granted);

}  // namespace conet::proxy
