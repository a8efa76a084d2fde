// The address rule for relay endpoints (ledger::endpoint_scope and friends):
// what a proxy or relay may dial outside a devnet.

#include <gtest/gtest.h>

#include "conet/ledger/node_record.hpp"

namespace conet::ledger {
namespace {

using S = EndpointScope;

TEST(EndpointScope, ClassifiesEveryNonPublicRangeAndKeepsPublicAddresses) {
    const std::vector<std::pair<std::string, S>> cases = {
        {"8.8.8.8", S::public_address},
        {"1.1.1.1", S::public_address},
        {"172.32.0.1", S::public_address},   // just past 172.16/12
        {"100.128.0.1", S::public_address},  // just past 100.64/10
        {"169.253.255.255", S::public_address},
        {"2a00:1450:4001:81b::200e", S::public_address},
        {"::ffff:8.8.8.8", S::public_address},
        {"relay.example.com", S::not_ip_literal},
        {"localhost", S::not_ip_literal},
        {"0x7f000001", S::not_ip_literal},  // inet_aton forms are not literals here
        {"2130706433", S::not_ip_literal},
        {"127.1", S::not_ip_literal},
        {"0.0.0.0", S::unspecified},
        {"0.1.2.3", S::unspecified},
        {"::", S::unspecified},
        {"127.0.0.1", S::loopback},
        {"127.255.0.9", S::loopback},
        {"::1", S::loopback},
        {"::ffff:127.0.0.1", S::loopback},
        {"10.0.0.1", S::private_network},
        {"172.16.0.1", S::private_network},
        {"172.31.255.255", S::private_network},
        {"192.168.1.1", S::private_network},
        {"fd00:ec2::254", S::private_network},  // the IPv6 cloud metadata service
        {"fc00::1", S::private_network},
        {"fec0::1", S::private_network},
        {"169.254.169.254", S::link_local},  // the IPv4 cloud metadata service
        {"::ffff:169.254.169.254", S::link_local},
        {"fe80::1", S::link_local},
        {"100.64.0.1", S::shared_cgnat},
        {"100.127.255.255", S::shared_cgnat},
        {"224.0.0.1", S::multicast},
        {"239.255.255.250", S::multicast},
        {"ff02::1", S::multicast},
        {"240.0.0.1", S::reserved},
        {"255.255.255.255", S::reserved},
        {"192.0.0.8", S::reserved},
        {"192.0.2.1", S::reserved},
        {"198.51.100.7", S::reserved},
        {"203.0.113.9", S::reserved},
        {"198.18.0.1", S::reserved},
        {"2001:db8::1", S::reserved},
        {"2002:a00:1::1", S::reserved},   // 6to4 wrapping 10.0.0.1
        {"2001:0:4136::1", S::reserved},  // Teredo
        {"64:ff9b::a00:1", S::reserved},  // NAT64 of 10.0.0.1: outside 2000::/3
    };
    for (const auto& [host, want] : cases) {
        EXPECT_EQ(endpoint_scope({host, 443}), want) << host;
        EXPECT_EQ(endpoint_is_public({host, 443}), want == S::public_address) << host;
        EXPECT_FALSE(describe(want).empty());
    }
}

TEST(EndpointScope, ScopedIpv6LiteralIsNeverPublic) {
    EXPECT_FALSE(endpoint_is_public({"fe80::1%1", 443}));
    EXPECT_FALSE(endpoint_is_public({"2a00:1450:4001:81b::200e%1", 443}));
}

TEST(EndpointScope, DevnetFlagAdmitsPrivateAddressesButNeverNames) {
    EXPECT_TRUE(endpoint_allowed({"8.8.8.8", 1}, false));
    EXPECT_TRUE(endpoint_allowed({"8.8.8.8", 1}, true));
    for (const char* internal : {"127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.1.1", "::1", "fd00::1"}) {
        EXPECT_FALSE(endpoint_allowed({internal, 1}, false)) << internal;
        EXPECT_TRUE(endpoint_allowed({internal, 1}, true)) << internal;
    }
    EXPECT_FALSE(endpoint_allowed({"relay.example.com", 1}, false));
    EXPECT_FALSE(endpoint_allowed({"relay.example.com", 1}, true));
}

TEST(EndpointScope, ARecordIsJudgedByItsWorstEndpoint) {
    const std::vector<Endpoint> good = {{"8.8.8.8", 1}, {"2a00:1450::1", 2}};
    EXPECT_EQ(first_disallowed_endpoint(good, false), nullptr);
    const std::vector<Endpoint> mixed = {{"8.8.8.8", 1}, {"169.254.169.254", 80}};
    const Endpoint* bad = first_disallowed_endpoint(mixed, false);
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(bad->host, "169.254.169.254");
    EXPECT_EQ(first_disallowed_endpoint(mixed, true), nullptr);
    const std::vector<Endpoint> named = {{"127.0.0.1", 1}, {"relay.example.com", 1}};
    ASSERT_NE(first_disallowed_endpoint(named, true), nullptr);
    EXPECT_EQ(first_disallowed_endpoint(named, true)->host, "relay.example.com");
}

}  // namespace
}  // namespace conet::ledger
