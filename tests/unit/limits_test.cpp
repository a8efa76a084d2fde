#include "conet/util/limits.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "conet/node/config.hpp"
#include "conet/relay/relay.hpp"

namespace conet {
namespace {

TEST(Limits, DefaultsPassTheirOwnChecks) {
    EXPECT_EQ(util::Limits{}.check(), std::nullopt);
}

TEST(Limits, EveryFieldHasOneUniqueNameAndADefaultInRange) {
    std::set<std::string> names;
    std::vector<std::uint64_t util::Limits::*> members;
    const util::Limits defaults;
    for (const auto& f : util::limit_fields()) {
        EXPECT_TRUE(names.insert(f.name).second) << f.name;
        EXPECT_EQ(std::count(members.begin(), members.end(), f.member), 0) << f.name;
        members.push_back(f.member);
        EXPECT_GE(defaults.*f.member, f.min) << f.name;
        EXPECT_LE(defaults.*f.member, f.max) << f.name;
        EXPECT_GT(std::string(f.help).size(), 10u) << f.name;
    }
    EXPECT_EQ(names.size(), sizeof(util::Limits) / sizeof(std::uint64_t));
}

TEST(Limits, CheckNamesTheBrokenRelationOrRange) {
    util::Limits l;
    l.max_links_per_ip = l.max_links_per_prefix + 1;
    ASSERT_TRUE(l.check());
    EXPECT_NE(l.check()->find("max_links_per_ip <= max_links_per_prefix"), std::string::npos);
    util::Limits m;
    m.dns_workers = 0;
    ASSERT_TRUE(m.check());
    EXPECT_NE(m.check()->find("dns_workers"), std::string::npos);
    util::Limits s;
    s.max_exit_streams = s.max_open_sockets;
    ASSERT_TRUE(s.check());
    EXPECT_NE(s.check()->find("max_open_sockets"), std::string::npos);
}

class LimitsConfig : public ::testing::Test {
protected:
    std::filesystem::path write(const std::string& text) {
        const auto path = std::filesystem::temp_directory_path() /
                          ("conet-limits-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".toml");
        std::ofstream(path) << "wallet_keystore = \"w.json\"\n" << text;
        m_files.push_back(path);
        return path;
    }
    void TearDown() override {
        for (const auto& f : m_files) std::filesystem::remove(f);
    }
    std::vector<std::filesystem::path> m_files;
};

TEST_F(LimitsConfig, LimitsTableSetsValuesAndTheRestKeepDefaults) {
    auto c = node::load_config(write("[limits]\nmax_links_per_ip = 5\nmemory_budget_bytes = 536870912\n"));
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->limits.max_links_per_ip, 5u);
    EXPECT_EQ(c->limits.memory_budget_bytes, 512u << 20);
    EXPECT_EQ(c->limits.max_links, util::Limits{}.max_links);
}

TEST_F(LimitsConfig, UnknownNegativeOrInconsistentLimitsAreRefusedByName) {
    auto unknown = node::load_config(write("[limits]\nmax_lnks = 5\n"));
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().find("max_lnks"), std::string::npos);
    auto negative = node::load_config(write("[limits]\nmax_links = -1\n"));
    ASSERT_FALSE(negative);
    EXPECT_NE(negative.error().find("max_links"), std::string::npos);
    auto wrong = node::load_config(write("[limits]\nmax_handshakes_per_ip = 100\nmax_handshakes_per_prefix = 50\n"));
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().find("max_handshakes_per_ip <= max_handshakes_per_prefix"), std::string::npos);
}

TEST_F(LimitsConfig, AnnotatedConfigListsEveryLimitAndReadsBack) {
    node::NodeConfig c;
    c.wallet_keystore = "w.json";
    c.limits.dns_workers = 7;
    const std::string text = node::annotated_config(c);
    for (const auto& f : util::limit_fields()) EXPECT_NE(text.find(f.name), std::string::npos) << f.name;
    const auto path = write("");
    std::ofstream(path) << text;
    auto back = node::load_config(path);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->limits.dns_workers, 7u);
    EXPECT_EQ(back->limits.max_links, util::Limits{}.max_links);
}

TEST(SourcePrefix, IsTheSlash24OrSlash48AndMappedAddressesCountAsIPv4) {
    using boost::asio::ip::make_address;
    EXPECT_EQ(relay::source_prefix(make_address("203.0.113.7")), "203.0.113.0/24");
    EXPECT_EQ(relay::source_prefix(make_address("203.0.113.250")), relay::source_prefix(make_address("203.0.113.7")));
    EXPECT_NE(relay::source_prefix(make_address("203.0.114.7")), relay::source_prefix(make_address("203.0.113.7")));
    EXPECT_EQ(relay::source_prefix(make_address("::ffff:203.0.113.7")), "203.0.113.0/24");
    EXPECT_EQ(relay::source_prefix(make_address("2001:db8:1:2:3::4")), "2001:db8:1::/48");
    EXPECT_EQ(relay::source_prefix(make_address("2001:db8:1:ffff::1")),
              relay::source_prefix(make_address("2001:db8:1::9")));
}

}  // namespace
}  // namespace conet
