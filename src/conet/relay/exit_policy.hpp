#pragma once
/// The exit policy (DESIGN §5): a pure function from a destination address to
/// a verdict. By default an exit refuses loopback, private, link-local, CGNAT,
/// multicast, unspecified and reserved addresses and its own addresses, so it
/// cannot be used to reach the operator's network (SSRF). IPv4-mapped IPv6
/// addresses are judged as the IPv4 address they carry. An explicit allow-list
/// (for tests and the devnet demo site) overrides every refusal.

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "conet/util/result.hpp"

namespace conet::relay {

using boost::asio::ip::address;

enum class CidrError { not_an_address, bad_prefix };
std::string_view describe(CidrError e);

struct Cidr {
    address base;
    unsigned prefix = 0;

    /// "10.0.0.0/8", "::1/128", or a bare address (full length).
    static util::Result<Cidr, CidrError> parse(std::string_view text);
    bool contains(const address& a) const;
    std::string to_string() const;
};

enum class Verdict {
    allow,
    deny_unspecified,
    deny_loopback,
    deny_private,
    deny_link_local,
    deny_cgnat,
    deny_multicast,
    deny_reserved,
    deny_own_address,
};
std::string_view describe(Verdict v);

struct ExitPolicy {
    std::vector<Cidr> allow;             ///< explicit exceptions, checked first
    std::vector<address> own_addresses;  ///< this host's addresses
};

/// IPv4-mapped IPv6 becomes IPv4; everything else is returned unchanged.
address normalize(const address& a);

Verdict evaluate(const ExitPolicy& policy, const address& destination);

}  // namespace conet::relay
