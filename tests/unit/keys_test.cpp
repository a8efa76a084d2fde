#include <gtest/gtest.h>

#include "conet/crypto/eip191.hpp"
#include "conet/crypto/random.hpp"
#include "conet/util/hex.hpp"

#include "test_data.hpp"

namespace conet::crypto {
namespace {

namespace json = boost::json;
using test::hex;

const json::object& ethereum_vectors() {
    static const json::value doc = test::read_json("ethereum/vectors.json");
    return doc.get_object();
}

std::string str(const json::value& v) {
    return std::string(v.get_string());
}

PrivateKey key_from_hex(const json::value& v) {
    return *PrivateKey::from_bytes(hex(str(v)));
}

TEST(Keccak, MatchesEthersVectors) {
    const auto& cases = ethereum_vectors().at("keccak256").get_array();
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
        EXPECT_EQ(util::to_hex_prefixed(keccak256(hex(str(c.at("input_hex"))))), str(c.at("hash")));
    }
}

TEST(Keccak, IncrementalEqualsOneShot) {
    const util::Bytes data = util::to_bytes("the quick brown fox");
    Keccak256 h;
    h.update(util::ByteView(data).first(5)).update(util::ByteView(data).subspan(5));
    EXPECT_EQ(h.finish(), keccak256(data));
}

TEST(Keys, PublicKeysAndAddressesMatchEthers) {
    const auto& cases = ethereum_vectors().at("keys").get_array();
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
        const PrivateKey k = key_from_hex(c.at("private_key"));
        EXPECT_EQ(util::to_hex_prefixed(k.public_key().uncompressed()), str(c.at("public_key_uncompressed")));
        EXPECT_EQ(k.address().to_string(), str(c.at("address_checksummed")));
    }
}

TEST(Keys, PrivateKeyRangeIsChecked) {
    EXPECT_FALSE(PrivateKey::from_bytes(util::ByteArray<32>{}));
    util::ByteArray<32> ff{};
    ff.fill(0xff);
    EXPECT_FALSE(PrivateKey::from_bytes(ff));
    EXPECT_FALSE(PrivateKey::from_bytes(util::Bytes(31, 1)));
}

TEST(Address, ParsesChecksummedLowerAndUpperButNotBadChecksums) {
    const std::string good = "0xec8F09D48104a80F7Fc0BbF9269e326d4a5c7Ce6";
    ASSERT_TRUE(Address::parse(good));
    EXPECT_EQ(Address::parse(good)->to_string(), good);
    std::string lower = good;
    std::transform(lower.begin() + 2, lower.end(), lower.begin() + 2, ::tolower);
    EXPECT_TRUE(Address::parse(lower));
    std::string upper = good;
    std::transform(upper.begin() + 2, upper.end(), upper.begin() + 2, ::toupper);
    EXPECT_TRUE(Address::parse(upper));
    std::string bad = good;
    bad[4] = 'f';  // 'F' -> 'f' breaks the checksum
    EXPECT_EQ(Address::parse(bad).error(), KeyError::bad_address);
    EXPECT_FALSE(Address::parse("0x1234"));
    EXPECT_FALSE(Address::parse(good.substr(2)));
}

TEST(PersonalSign, DigestsAndSignaturesAreByteIdenticalToEthers) {
    const auto& cases = ethereum_vectors().at("personal_sign").get_array();
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
        const PrivateKey k = key_from_hex(c.at("private_key"));
        const util::Bytes msg = hex(str(c.at("message_hex")));
        EXPECT_EQ(util::to_hex_prefixed(personal_message_digest(msg)), str(c.at("eip191_hash")));
        EXPECT_EQ(util::to_hex_prefixed(personal_sign(k, msg)), str(c.at("signature")));
        auto recovered = personal_recover(msg, hex(str(c.at("signature"))));
        ASSERT_TRUE(recovered);
        EXPECT_EQ(recovered->to_string(), str(c.at("address")));
    }
}

TEST(PersonalSign, TamperedMessageOrSignatureDoesNotRecoverTheSigner) {
    SeededRng rng(7);
    const PrivateKey k = PrivateKey::generate(rng);
    const util::Bytes msg = util::to_bytes("pay 5 CONET to relay 7");
    const auto sig = personal_sign(k, msg);
    ASSERT_EQ(*personal_recover(msg, sig), k.address());

    util::Bytes other = msg;
    other[4] ^= 1;
    auto r1 = personal_recover(other, sig);
    EXPECT_TRUE(!r1 || *r1 != k.address());

    for (std::size_t i : {0u, 31u, 32u, 63u}) {
        auto bad = sig;
        bad[i] ^= 0x01;
        auto r = personal_recover(msg, bad);
        EXPECT_TRUE(!r || *r != k.address()) << "byte " << i;
    }
    auto bad_v = sig;
    bad_v[64] = 29;
    EXPECT_EQ(personal_recover(msg, bad_v).error(), KeyError::bad_signature);
    EXPECT_EQ(personal_recover(msg, util::ByteView(sig).first(64)).error(), KeyError::bad_signature);
}

TEST(Signature, HighSIsRejected) {
    SeededRng rng(9);
    const PrivateKey k = PrivateKey::generate(rng);
    const Hash256 digest = keccak256(util::to_bytes("x"));
    Signature sig = sign_hash(k, digest);
    ASSERT_EQ(*recover(digest, sig), k.public_key());

    // s' = n - s is the malleated twin of a valid signature; it must be refused.
    const util::ByteArray<32> n =
        *util::from_hex_fixed<32>("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
    util::ByteArray<32> twin{};
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
        int d = n[i] - sig.s[i] - borrow;
        borrow = d < 0;
        twin[i] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
    }
    Signature malleated = sig;
    malleated.s = twin;
    malleated.recid ^= 1;
    EXPECT_EQ(recover(digest, malleated).error(), KeyError::high_s);
}

TEST(Signature, SigningIsDeterministic) {
    SeededRng rng(11);
    const PrivateKey k = PrivateKey::generate(rng);
    const Hash256 digest = keccak256(util::to_bytes("same input"));
    EXPECT_EQ(sign_hash(k, digest), sign_hash(k, digest));
}

TEST(Signature, WireFormIsRSV) {
    Signature s;
    s.r.fill(0x11);
    s.s.fill(0x22);
    s.recid = 1;
    const auto b = s.to_bytes(27);
    EXPECT_EQ(b[0], 0x11);
    EXPECT_EQ(b[32], 0x22);
    EXPECT_EQ(b[64], 28);
    EXPECT_EQ(*Signature::from_bytes(b), s);
    EXPECT_EQ(*Signature::from_bytes(s.to_bytes(0)), s);
}

}  // namespace
}  // namespace conet::crypto
