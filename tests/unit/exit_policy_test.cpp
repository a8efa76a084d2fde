#include "conet/relay/exit_policy.hpp"

#include <gtest/gtest.h>

namespace conet::relay {
namespace {

namespace ip = boost::asio::ip;

Verdict check(const ExitPolicy& p, const char* a) {
    return evaluate(p, ip::make_address(a));
}

TEST(ExitPolicy, DefaultRefusesEveryInternalRange) {
    const ExitPolicy p;
    EXPECT_EQ(check(p, "127.0.0.1"), Verdict::deny_loopback);
    EXPECT_EQ(check(p, "127.255.0.9"), Verdict::deny_loopback);
    EXPECT_EQ(check(p, "::1"), Verdict::deny_loopback);
    EXPECT_EQ(check(p, "10.1.2.3"), Verdict::deny_private);
    EXPECT_EQ(check(p, "172.16.0.1"), Verdict::deny_private);
    EXPECT_EQ(check(p, "172.31.255.255"), Verdict::deny_private);
    EXPECT_EQ(check(p, "192.168.1.1"), Verdict::deny_private);
    EXPECT_EQ(check(p, "fd00::1"), Verdict::deny_private);
    EXPECT_EQ(check(p, "169.254.169.254"), Verdict::deny_link_local);  // cloud metadata
    EXPECT_EQ(check(p, "fe80::1"), Verdict::deny_link_local);
    EXPECT_EQ(check(p, "100.64.0.1"), Verdict::deny_cgnat);
    EXPECT_EQ(check(p, "100.127.255.254"), Verdict::deny_cgnat);
    EXPECT_EQ(check(p, "224.0.0.1"), Verdict::deny_multicast);
    EXPECT_EQ(check(p, "255.255.255.255"), Verdict::deny_multicast);
    EXPECT_EQ(check(p, "ff02::1"), Verdict::deny_multicast);
    EXPECT_EQ(check(p, "0.0.0.0"), Verdict::deny_unspecified);
    EXPECT_EQ(check(p, "::"), Verdict::deny_unspecified);
    EXPECT_EQ(check(p, "240.0.0.1"), Verdict::deny_reserved);
}

TEST(ExitPolicy, BoundariesOfRangesAreExact) {
    const ExitPolicy p;
    EXPECT_EQ(check(p, "172.15.255.255"), Verdict::allow);
    EXPECT_EQ(check(p, "172.32.0.0"), Verdict::allow);
    EXPECT_EQ(check(p, "100.63.255.255"), Verdict::allow);
    EXPECT_EQ(check(p, "100.128.0.0"), Verdict::allow);
    EXPECT_EQ(check(p, "11.0.0.0"), Verdict::allow);
    EXPECT_EQ(check(p, "93.184.216.34"), Verdict::allow);
    EXPECT_EQ(check(p, "2606:4700::1111"), Verdict::allow);
}

TEST(ExitPolicy, Ipv4MappedAndEmbeddedIpv6CannotSmuggleInternalTargets) {
    const ExitPolicy p;
    EXPECT_EQ(check(p, "::ffff:127.0.0.1"), Verdict::deny_loopback);
    EXPECT_EQ(check(p, "::ffff:10.0.0.1"), Verdict::deny_private);
    EXPECT_EQ(check(p, "::ffff:169.254.169.254"), Verdict::deny_link_local);
    EXPECT_EQ(check(p, "::ffff:8.8.8.8"), Verdict::allow);
    EXPECT_EQ(check(p, "::127.0.0.1"), Verdict::deny_reserved);     // IPv4-compatible
    EXPECT_EQ(check(p, "64:ff9b::a00:1"), Verdict::deny_reserved);  // NAT64 of 10.0.0.1
}

TEST(ExitPolicy, OwnAddressesAreRefused) {
    ExitPolicy p;
    p.own_addresses.push_back(ip::make_address("93.184.216.34"));
    EXPECT_EQ(check(p, "93.184.216.34"), Verdict::deny_own_address);
    EXPECT_EQ(check(p, "::ffff:93.184.216.34"), Verdict::deny_own_address);
}

TEST(ExitPolicy, AllowListOpensOnlyWhatItNames) {
    ExitPolicy p;
    p.allow.push_back(*Cidr::parse("127.0.0.1/32"));
    EXPECT_EQ(check(p, "127.0.0.1"), Verdict::allow);
    EXPECT_EQ(check(p, "::ffff:127.0.0.1"), Verdict::allow);
    EXPECT_EQ(check(p, "127.0.0.2"), Verdict::deny_loopback);
    EXPECT_EQ(check(p, "::1"), Verdict::deny_loopback);
    p.allow.push_back(*Cidr::parse("10.0.0.0/8"));
    EXPECT_EQ(check(p, "10.200.1.1"), Verdict::allow);
    EXPECT_EQ(check(p, "11.0.0.1"), Verdict::allow);
}

TEST(Cidr, ParsesAndRejects) {
    EXPECT_TRUE(Cidr::parse("10.0.0.0/8"));
    EXPECT_TRUE(Cidr::parse("::1/128"));
    EXPECT_EQ(Cidr::parse("127.0.0.1")->prefix, 32u);
    EXPECT_EQ(Cidr::parse("10.0.0.0/33").error(), CidrError::bad_prefix);
    EXPECT_FALSE(Cidr::parse("::/129"));
    EXPECT_EQ(Cidr::parse("nonsense/8").error(), CidrError::not_an_address);
    EXPECT_EQ(Cidr::parse("10.0.0.0/x").error(), CidrError::bad_prefix);
    EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(ip::make_address("1.2.3.4")));
    EXPECT_FALSE(Cidr::parse("0.0.0.0/0")->contains(ip::make_address("::1")));
}

}  // namespace
}  // namespace conet::relay
