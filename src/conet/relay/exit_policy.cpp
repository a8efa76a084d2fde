#include "conet/relay/exit_policy.hpp"

#include <charconv>

namespace conet::relay {

namespace ip = boost::asio::ip;

std::string_view describe(Verdict v) {
    switch (v) {
        case Verdict::allow: return "allowed";
        case Verdict::deny_unspecified: return "unspecified address";
        case Verdict::deny_loopback: return "loopback address";
        case Verdict::deny_private: return "private address";
        case Verdict::deny_link_local: return "link-local address";
        case Verdict::deny_cgnat: return "carrier-grade NAT address";
        case Verdict::deny_multicast: return "multicast or broadcast address";
        case Verdict::deny_reserved: return "reserved address";
        case Verdict::deny_own_address: return "the exit's own address";
    }
    return "unknown verdict";
}

namespace {

template <std::size_t N>
bool prefix_match(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned bits) {
    for (std::size_t i = 0; i < N && bits > 0; ++i) {
        const unsigned take = std::min(bits, 8u);
        const unsigned char mask = static_cast<unsigned char>(0xff << (8 - take));
        if ((a[i] & mask) != (b[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

bool in_v4(const ip::address_v4& a, std::string_view cidr) {
    auto c = Cidr::parse(cidr);
    return c && c->contains(address(a));
}

bool in_v6(const ip::address_v6& a, std::string_view cidr) {
    auto c = Cidr::parse(cidr);
    return c && c->contains(address(a));
}

}  // namespace

std::string_view describe(CidrError e) {
    switch (e) {
        case CidrError::not_an_address: return "not an IP address";
        case CidrError::bad_prefix: return "bad prefix length";
    }
    return "bad CIDR";
}

util::Result<Cidr, CidrError> Cidr::parse(std::string_view text) {
    const auto slash = text.find('/');
    boost::system::error_code ec;
    const address base = ip::make_address(std::string(text.substr(0, slash)), ec);
    if (ec) return util::unexpected(CidrError::not_an_address);
    const unsigned max_bits = base.is_v4() ? 32 : 128;
    unsigned prefix = max_bits;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        const auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (err != std::errc() || ptr != digits.data() + digits.size() || prefix > max_bits)
            return util::unexpected(CidrError::bad_prefix);
    }
    return Cidr{base, prefix};
}

bool Cidr::contains(const address& raw) const {
    const address a = normalize(raw);
    if (a.is_v4() != base.is_v4()) return false;
    if (a.is_v4()) return prefix_match(a.to_v4().to_bytes(), base.to_v4().to_bytes(), prefix);
    return prefix_match(a.to_v6().to_bytes(), base.to_v6().to_bytes(), prefix);
}

std::string Cidr::to_string() const {
    return base.to_string() + "/" + std::to_string(prefix);
}

address normalize(const address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
    return a;
}

Verdict evaluate(const ExitPolicy& policy, const address& destination) {
    const address a = normalize(destination);
    for (const Cidr& c : policy.allow)
        if (c.contains(a)) return Verdict::allow;
    for (const address& own : policy.own_addresses)
        if (normalize(own) == a) return Verdict::deny_own_address;

    if (a.is_v4()) {
        const ip::address_v4 v4 = a.to_v4();
        if (in_v4(v4, "0.0.0.0/8")) return Verdict::deny_unspecified;
        if (in_v4(v4, "127.0.0.0/8")) return Verdict::deny_loopback;
        if (in_v4(v4, "10.0.0.0/8") || in_v4(v4, "172.16.0.0/12") || in_v4(v4, "192.168.0.0/16"))
            return Verdict::deny_private;
        if (in_v4(v4, "169.254.0.0/16")) return Verdict::deny_link_local;
        if (in_v4(v4, "100.64.0.0/10")) return Verdict::deny_cgnat;
        if (in_v4(v4, "224.0.0.0/4") || v4 == ip::address_v4::broadcast()) return Verdict::deny_multicast;
        if (in_v4(v4, "240.0.0.0/4") || in_v4(v4, "192.0.0.0/24") || in_v4(v4, "198.18.0.0/15"))
            return Verdict::deny_reserved;
        return Verdict::allow;
    }
    const ip::address_v6 v6 = a.to_v6();
    if (v6.is_unspecified()) return Verdict::deny_unspecified;
    if (v6.is_loopback()) return Verdict::deny_loopback;
    if (in_v6(v6, "fc00::/7") || in_v6(v6, "fec0::/10")) return Verdict::deny_private;
    if (in_v6(v6, "fe80::/10")) return Verdict::deny_link_local;
    if (in_v6(v6, "ff00::/8")) return Verdict::deny_multicast;
    // IPv4-compatible (deprecated) and NAT64 forms could smuggle an IPv4 target.
    if (in_v6(v6, "::/96") || in_v6(v6, "64:ff9b::/96") || in_v6(v6, "64:ff9b:1::/48")) return Verdict::deny_reserved;
    return Verdict::allow;
}

}  // namespace conet::relay
