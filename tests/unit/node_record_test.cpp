#include "conet/ledger/node_record.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "conet/crypto/random.hpp"
#include "conet/node/config.hpp"

namespace conet::ledger {
namespace {

NodeRecord sample(crypto::SeededRng& rng, const crypto::PrivateKey& key) {
    NodeRecord r;
    r.noise_key = crypto::X25519KeyPair::generate(rng).public_key;
    r.endpoints = {{"127.0.0.1", 9001}, {"::1", 9002}};
    r.region = "DE";
    r.expires_at = 2000;
    r.sign(key, default_chain_id);
    return r;
}

TEST(NodeRecord, SignedRecordVerifiesAndRoundTripsThroughJsonAndCodec) {
    crypto::SeededRng rng(1);
    const auto key = crypto::PrivateKey::generate(rng);
    const NodeRecord r = sample(rng, key);
    EXPECT_TRUE(r.verify(default_chain_id, 1000));
    EXPECT_EQ(r.operator_address, key.address());

    auto back = NodeRecord::from_json(boost::json::parse(boost::json::serialize(r.to_json())));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->verify(default_chain_id, 1000));
    EXPECT_EQ(back->endpoints, r.endpoints);
    EXPECT_EQ(codec::encode(*back), codec::encode(r));
    auto decoded = codec::decode<NodeRecord>(codec::encode(r));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(codec::encode(*decoded), codec::encode(r));
}

TEST(NodeRecord, TamperingExpiryAndOtherChainsAreRefused) {
    crypto::SeededRng rng(2);
    const auto key = crypto::PrivateKey::generate(rng);
    NodeRecord r = sample(rng, key);
    EXPECT_EQ(r.verify(default_chain_id, 2000).error(), RecordError::expired);
    EXPECT_FALSE(r.verify(default_chain_id + 1, 1000));

    NodeRecord moved = r;
    moved.endpoints[0].port = 9999;  // an attacker redirecting users
    EXPECT_FALSE(moved.verify(default_chain_id, 1000));
    NodeRecord rekeyed = r;
    rekeyed.noise_key[0] ^= 1;
    EXPECT_FALSE(rekeyed.verify(default_chain_id, 1000));
    NodeRecord stolen = r;
    stolen.operator_address = crypto::PrivateKey::generate(rng).address();
    EXPECT_EQ(stolen.verify(default_chain_id, 1000).error(), RecordError::wrong_signer);
    NodeRecord bad_region = r;
    bad_region.region = "Germany";
    EXPECT_EQ(bad_region.verify(default_chain_id, 1000).error(), RecordError::bad_field);
}

TEST(NodeRecord, DirectoryKeepsOnlyVerifiedRecords) {
    crypto::SeededRng rng(3);
    const auto key = crypto::PrivateKey::generate(rng);
    const NodeRecord good = sample(rng, key);
    NodeRecord bad = sample(rng, key);
    bad.region = "US";  // changed after signing
    boost::json::array arr{good.to_json(), bad.to_json(), boost::json::value("junk")};
    std::vector<std::string> rejected;
    auto records = parse_directory(boost::json::serialize(arr), default_chain_id, 1000, rejected);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].noise_key, good.noise_key);
    EXPECT_EQ(rejected.size(), 2u);
    rejected.clear();
    EXPECT_TRUE(parse_directory("{", default_chain_id, 1000, rejected).empty());
    EXPECT_EQ(rejected.size(), 1u);
}

}  // namespace
}  // namespace conet::ledger

namespace conet::node {
namespace {

TEST(NodeConfig, AnnotatedConfigDocumentsAndRoundTripsEveryOption) {
    NodeConfig c;
    c.wallet_keystore = "/k.json";
    c.listen = {"127.0.0.1", 7000};
    c.region = "US";
    c.exit = false;
    c.exit_allow = {*relay::Cidr::parse("127.0.0.1/32")};
    c.metrics = "127.0.0.1:9100";
    const std::string text = annotated_config(c);
    for (const char* name : {"wallet_keystore", "listen", "advertise", "region", "exit", "exit_allow", "directory",
                             "metrics", "record_ttl_seconds", "chain_id"})
        EXPECT_NE(text.find(std::string("\n") + name + " = "), std::string::npos) << name;
    char path[] = "/tmp/conet-config-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    auto back = load_config(path);
    ::unlink(path);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->listen.port, 7000);
    EXPECT_EQ(back->region, "US");
    EXPECT_FALSE(back->exit);
    EXPECT_EQ(back->exit_allow.size(), 1u);
    EXPECT_EQ(back->metrics, "127.0.0.1:9100");
}

TEST(NodeConfig, ErrorsNameTheOption) {
    char path[] = "/tmp/conet-config-XXXXXX";
    const int fd = ::mkstemp(path);
    const std::string text = "wallet_keystore = \"/k\"\nregion = \"germany\"\n";
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    auto r = load_config(path);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("region"), std::string::npos);
    const std::string unknown = "wallet_keystore = \"/k\"\nbogus = 1\n";
    std::FILE* f = std::fopen(path, "w");
    std::fputs(unknown.c_str(), f);
    std::fclose(f);
    r = load_config(path);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("bogus"), std::string::npos);
    f = std::fopen(path, "w");
    std::fputs("listen = [", f);
    std::fclose(f);
    EXPECT_FALSE(load_config(path));
    ::unlink(path);
}

}  // namespace
}  // namespace conet::node
