// The proxy's Host check for its own pages (DNS rebinding defence).

#include <gtest/gtest.h>

#include "conet/proxy/http.hpp"

namespace conet::proxy {
namespace {

HttpRequest with_hosts(std::vector<std::string> hosts) {
    HttpRequest r{"GET", "/status", "HTTP/1.1", {}};
    for (auto& h : hosts) r.headers.emplace_back("Host", std::move(h));
    return r;
}

bool local(std::string host, std::string_view connected_to = "127.0.0.1", std::vector<std::string> names = {}) {
    return host_is_local(with_hosts({std::move(host)}), connected_to, names);
}

TEST(ProxyHostCheck, LoopbackNamesWithOrWithoutAPortAreLocal) {
    for (const char* h : {"127.0.0.1", "127.0.0.1:1080", "localhost", "LocalHost:65535", "[::1]", "[::1]:1080"})
        EXPECT_TRUE(local(h)) << h;
}

TEST(ProxyHostCheck, RebindingNamesAndMalformedHostsAreRefused) {
    for (const char* h : {"evil.example", "evil.example:1080", "localhost.evil.example", "127.0.0.1.evil.example",
                          "localhost.", "127.0.0.2", "::1", "[::1", "[::1]x", "127.0.0.1:", "127.0.0.1:10800x",
                          "127.0.0.1:123456", "", ":1080", "[]:1080"})
        EXPECT_FALSE(local(h)) << h;
}

TEST(ProxyHostCheck, TheAddressTheClientReachedAndConfiguredNamesAreLocal) {
    EXPECT_TRUE(local("192.168.1.5:1080", "192.168.1.5"));
    EXPECT_FALSE(local("192.168.1.5:1080", "127.0.0.1"));
    EXPECT_TRUE(local("[fd00::5]:1080", "fd00::5"));
    EXPECT_TRUE(local("Proxy.Lan:1080", "127.0.0.1", {"proxy.lan"}));
    EXPECT_FALSE(local("proxy.lan.evil.example", "127.0.0.1", {"proxy.lan"}));
}

TEST(ProxyHostCheck, MissingOrRepeatedHostHeaderIsRefused) {
    EXPECT_FALSE(host_is_local(with_hosts({}), "127.0.0.1"));
    EXPECT_FALSE(host_is_local(with_hosts({"127.0.0.1", "evil.example"}), "127.0.0.1"));
    EXPECT_FALSE(host_is_local(with_hosts({"127.0.0.1", "127.0.0.1"}), "127.0.0.1"));
    HttpRequest lower = with_hosts({});
    lower.headers.emplace_back("hOsT", "localhost");
    EXPECT_TRUE(host_is_local(lower, "127.0.0.1"));
}

}  // namespace
}  // namespace conet::proxy
