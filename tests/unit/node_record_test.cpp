#include "conet/ledger/node_record.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "conet/crypto/random.hpp"
#include "conet/node/config.hpp"
#include "conet/util/assert.hpp"

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

/// The `name = value` lines of the top-level table (the options, not [limits]),
/// each with whether a `# ` help comment precedes it.
struct OptionLine {
    std::string value;
    bool documented = false;
};
std::map<std::string, OptionLine> option_lines(const std::string& text) {
    std::map<std::string, OptionLine> out;
    std::istringstream in(text);
    std::string line, previous;
    while (std::getline(in, line)) {
        if (line.starts_with("[")) break;  // a table: the options are above it
        const auto eq = line.find(" = ");
        if (!line.starts_with("#") && eq != std::string::npos)
            out[line.substr(0, eq)] = {line.substr(eq + 3), previous.starts_with("# ")};
        previous = line;
    }
    return out;
}

std::string write_temp(const std::string& text) {
    char path[] = "/tmp/conet-config-XXXXXX";
    const int fd = ::mkstemp(path);
    CONET_ASSERT(fd >= 0);
    CONET_ASSERT(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    return path;
}

TEST(NodeConfig, AnnotatedConfigDocumentsAndRoundTripsEveryOption) {
    // Every field away from its default, so that an option whose value is not
    // written, or not read back, shows as a difference.
    NodeConfig c;
    c.wallet_keystore = "/k.json";
    c.listen = {"127.0.0.1", 7000};
    c.advertise = "198.51.100.7:443";
    c.region = "US";
    c.exit = false;
    c.exit_allow = {*relay::Cidr::parse("127.0.0.1/32")};
    c.directory = "/d.json";
    c.metrics = "127.0.0.1:9100";
    c.web_hosts = {"node.example", "dash.example"};
    c.record_ttl_seconds = 3600;
    c.chain_id = 7;
    c.validator = true;
    c.genesis = "/g.json";
    c.rpc = "127.0.0.1:8545";
    c.block_interval_ms = 250;
    c.ledger_rpc = "http://127.0.0.1:8545";
    c.ledger_refresh_seconds = 30;
    c.allow_private_relays = true;
    c.validator_peers = {"127.0.0.1:26601", "127.0.0.1:26602"};
    c.validator_listen = "127.0.0.1:26609";
    c.probe = true;
    c.probe_echo = "127.0.0.1:26650";
    c.usage_credit_mib = 16;
    c.free_tier_kbps = 512;
    c.follow = {"http://127.0.0.1:26700"};
    const std::string text = annotated_config(c);
    NodeConfig defaults;
    defaults.wallet_keystore = c.wallet_keystore;
    const auto lines = option_lines(text);
    const auto default_lines = option_lines(annotated_config(defaults));
    ASSERT_GE(lines.size(), 16u);  // the options set above, at least
    ASSERT_EQ(lines.size(), default_lines.size());
    for (const auto& [name, line] : lines) {
        EXPECT_TRUE(line.documented) << name << " has no help comment";
        if (name == "wallet_keystore") continue;  // required: no default
        ASSERT_TRUE(default_lines.count(name)) << name;
        EXPECT_NE(line.value, default_lines.at(name).value)
            << name << " has its default value here: set it above so that its round trip is checked";
    }

    const std::string path = write_temp(text);
    auto back = load_config(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(back) << back.error();
    // Every option (and every limit) read back as written.
    EXPECT_EQ(annotated_config(*back), text);
    EXPECT_EQ(back->listen.port, 7000);
    EXPECT_EQ(back->advertise, "198.51.100.7:443");
    EXPECT_TRUE(back->allow_private_relays);
    EXPECT_EQ(back->exit_allow.size(), 1u);
    EXPECT_EQ(back->validator_peers, c.validator_peers);
    EXPECT_EQ(back->validator_listen, c.validator_listen);
    EXPECT_EQ(back->follow, c.follow);
    EXPECT_TRUE(back->probe);
    EXPECT_EQ(back->probe_echo, c.probe_echo);
    EXPECT_EQ(back->usage_credit_mib, 16u);
    EXPECT_EQ(back->free_tier_kbps, 512u);
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
