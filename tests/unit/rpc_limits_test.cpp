// Budgets of the RPC port and of discovery, on their I/O-free cores: the
// connection admission, the WebSocket outbox and the node-list walk.
#include <gtest/gtest.h>

#include "conet/node/discovery.hpp"
#include "conet/rpc/admission.hpp"
#include "conet/rpc/outbox.hpp"
#include "conet/util/hex.hpp"

namespace conet {
namespace {

namespace json = boost::json;
using boost::asio::ip::make_address;

util::Limits rpc_limits(std::uint64_t total, std::uint64_t per_ip, std::uint64_t per_prefix = 1000) {
    util::Limits l;
    l.rpc_max_connections = total;
    l.rpc_max_connections_per_ip = per_ip;
    l.rpc_max_connections_per_prefix = per_prefix;
    return l;
}

TEST(RpcAdmission, OneSourceGetsNoMoreThanItsShareAndOthersStillGetIn) {
    rpc::Admission a(rpc_limits(10, 3));
    const auto attacker = make_address("127.0.5.2"), honest = make_address("127.0.0.1");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(a.admit(attacker), rpc::Refusal::none);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(a.admit(attacker), rpc::Refusal::per_ip);
    EXPECT_EQ(a.admit(honest), rpc::Refusal::none);
    EXPECT_EQ(a.open(), 4u);
    EXPECT_EQ(a.open_from(attacker), 3u);
    EXPECT_EQ(a.stats().refused_per_ip, 100u);
    EXPECT_EQ(a.stats().admitted, 4u);
    a.release(attacker);  // a slot given back can be taken again
    EXPECT_EQ(a.admit(attacker), rpc::Refusal::none);
    EXPECT_EQ(a.admit(attacker), rpc::Refusal::per_ip);
}

TEST(RpcAdmission, TheTotalCapHoldsAcrossSources) {
    rpc::Admission a(rpc_limits(4, 2));
    EXPECT_EQ(a.admit(make_address("10.0.0.1")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("10.0.0.1")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("10.0.0.2")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("::1")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("10.0.0.3")), rpc::Refusal::total);
    EXPECT_EQ(a.stats().refused_total, 1u);
    a.release(make_address("10.0.0.2"));
    EXPECT_EQ(a.admit(make_address("10.0.0.3")), rpc::Refusal::none);
    EXPECT_EQ(a.open_from(make_address("10.0.0.2")), 0u);
}

TEST(RpcAdmission, AnIpv4MappedAddressCountsAsItsIpv4Address) {
    rpc::Admission a(rpc_limits(10, 2));
    EXPECT_EQ(a.admit(make_address("192.0.2.7")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("::ffff:192.0.2.7")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("::ffff:192.0.2.7")), rpc::Refusal::per_ip);
    EXPECT_EQ(a.open_from(make_address("192.0.2.7")), 2u);
}

TEST(RpcAdmission, ManyAddressesOfOneNetworkShareTheNetworksCap) {
    rpc::Admission a(rpc_limits(100, 2, 5));
    for (int host = 1; host <= 5; ++host)
        EXPECT_EQ(a.admit(make_address("10.1.2." + std::to_string(host))), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("10.1.2.200")), rpc::Refusal::per_prefix);  // same /24, a fresh address
    EXPECT_EQ(a.admit(make_address("10.1.3.1")), rpc::Refusal::none);          // the next /24
    EXPECT_EQ(a.open_from_prefix(make_address("10.1.2.99")), 5u);
    EXPECT_EQ(a.stats().refused_per_prefix, 1u);
    // IPv6: one /48 however the rest of the address varies.
    EXPECT_EQ(a.admit(make_address("2001:db8:1::1")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("2001:db8:1:ffff::2")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("2001:db8:1:1234::3")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("2001:db8:1:1::4")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("2001:db8:1:2::5")), rpc::Refusal::none);
    EXPECT_EQ(a.admit(make_address("2001:db8:1:3::6")), rpc::Refusal::per_prefix);
    EXPECT_EQ(a.admit(make_address("2001:db8:2::1")), rpc::Refusal::none);
    a.release(make_address("10.1.2.3"));
    EXPECT_EQ(a.admit(make_address("10.1.2.200")), rpc::Refusal::none);
}

TEST(RpcOutbox, ChargesWhatEachMessageHoldsAndRefusesPastTheBudget) {
    rpc::Outbox box(4000);
    const std::string kb(1000, 'x');
    const auto cost = rpc::Outbox::cost(kb);
    EXPECT_GE(cost, 1000u);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(box.push(kb));
    EXPECT_EQ(box.bytes(), 3 * cost);
    EXPECT_FALSE(box.push(kb));  // the fourth would pass 4000 bytes
    EXPECT_EQ(box.size(), 3u);
    box.pop();
    EXPECT_EQ(box.bytes(), 2 * cost);
    EXPECT_TRUE(box.push(kb));
}

TEST(RpcOutbox, OneMessageLargerThanTheBudgetIsRefusedEvenWhenEmpty) {
    rpc::Outbox box(4000);
    EXPECT_FALSE(box.push(std::string(5000, 'y')));
    EXPECT_TRUE(box.empty());
    EXPECT_EQ(box.bytes(), 0u);
    EXPECT_TRUE(box.push("{}"));  // small messages still cost their bookkeeping
    EXPECT_GE(box.bytes(), rpc::Outbox::per_message_overhead_bytes);
}

// ---- discovery's node-list walk ------------------------------------------------------

std::string key_hex(std::uint32_t n) {
    util::ByteArray<32> k{};
    for (int i = 0; i < 4; ++i) k[i] = static_cast<std::uint8_t>(n >> (8 * i));
    return util::to_hex(k);
}

json::value page_of(const std::vector<std::string>& noise_keys) {
    json::array nodes;
    for (const auto& k : noise_keys) nodes.push_back(json::object{{"record", json::object{{"noise_key", k}}}});
    return json::object{{"nodes", std::move(nodes)}, {"total", 1'000'000}};
}

TEST(DiscoveryListing, FullPagesWithoutValidKeysEndTheWalkAtOnce) {
    // The endpoint answers every offset with a full page of junk, for ever.
    std::size_t calls = 0;
    auto listing = node::list_node_keys([&](std::uint64_t, std::uint64_t limit) {
        ++calls;
        return util::Result<json::value, std::string>(page_of(std::vector<std::string>(limit, "not a key")));
    });
    ASSERT_TRUE(listing);
    EXPECT_EQ(calls, 1u);
    EXPECT_TRUE(listing->keys.empty());
    EXPECT_TRUE(listing->cut_short);
}

TEST(DiscoveryListing, PagesThatRepeatTheSameKeysEndTheWalk) {
    std::size_t calls = 0;
    auto listing = node::list_node_keys([&](std::uint64_t, std::uint64_t limit) {
        ++calls;
        std::vector<std::string> keys;
        for (std::uint32_t i = 0; i < limit; ++i) keys.push_back(key_hex(i));  // the same page every time
        return util::Result<json::value, std::string>(page_of(keys));
    });
    ASSERT_TRUE(listing);
    EXPECT_EQ(calls, 2u);
    EXPECT_EQ(listing->keys.size(), node::list_page_size);
    EXPECT_TRUE(listing->cut_short);
}

TEST(DiscoveryListing, AnEndlessListOfFreshKeysStopsAtTheRelayCap) {
    std::size_t calls = 0;
    auto listing = node::list_node_keys([&](std::uint64_t offset, std::uint64_t limit) {
        ++calls;
        std::vector<std::string> keys;
        for (std::uint64_t i = 0; i < limit; ++i) keys.push_back(key_hex(static_cast<std::uint32_t>(offset + i)));
        return util::Result<json::value, std::string>(page_of(keys));
    });
    ASSERT_TRUE(listing);
    EXPECT_LE(calls, node::max_list_pages);
    EXPECT_EQ(listing->keys.size(), node::max_relays_per_endpoint);
    EXPECT_TRUE(listing->cut_short);
}

TEST(DiscoveryListing, AnHonestListEndsAtItsShortPageAndSkipsOnlyBadEntries) {
    std::vector<std::string> all;
    for (std::uint32_t i = 0; i < node::list_page_size + 7; ++i) all.push_back(key_hex(i));
    all[3] = "zz";  // one malformed entry among good ones
    std::size_t calls = 0;
    auto listing = node::list_node_keys([&](std::uint64_t offset, std::uint64_t limit) {
        ++calls;
        std::vector<std::string> page;
        for (std::uint64_t i = offset; i < std::min<std::uint64_t>(all.size(), offset + limit); ++i)
            page.push_back(all[i]);
        return util::Result<json::value, std::string>(page_of(page));
    });
    ASSERT_TRUE(listing);
    EXPECT_EQ(calls, 2u);
    EXPECT_EQ(listing->keys.size(), all.size() - 1);
    EXPECT_FALSE(listing->cut_short);
}

TEST(DiscoveryListing, APageLargerThanAskedIsRefused) {
    auto listing = node::list_node_keys([&](std::uint64_t, std::uint64_t limit) {
        std::vector<std::string> keys;
        for (std::uint32_t i = 0; i < limit + 1; ++i) keys.push_back(key_hex(i));
        return util::Result<json::value, std::string>(page_of(keys));
    });
    EXPECT_FALSE(listing);
}

TEST(DiscoveryListing, AFailedPageFailsTheWalkWithItsReason) {
    auto listing = node::list_node_keys([&](std::uint64_t, std::uint64_t) {
        return util::Result<json::value, std::string>(util::unexpected(std::string("no answer within 10 ms")));
    });
    ASSERT_FALSE(listing);
    EXPECT_NE(listing.error().find("no answer within 10 ms"), std::string::npos);
}

}  // namespace
}  // namespace conet
