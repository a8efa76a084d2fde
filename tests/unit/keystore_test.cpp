#include "conet/crypto/keystore.hpp"

#include <gtest/gtest.h>

#include "conet/crypto/random.hpp"
#include "conet/util/hex.hpp"

#include "test_data.hpp"

namespace conet::crypto {
namespace {

namespace json = boost::json;

std::string str(const json::value& v) {
    return std::string(v.get_string());
}

const json::array& ethers_keystores() {
    static const json::value doc = test::read_json("ethereum/vectors.json");
    return doc.at("keystores").get_array();
}

std::string light_keystore(const PrivateKey& key, std::string_view password, std::uint64_t seed = 1) {
    SeededRng rng(seed);
    return *encrypt_keystore(key, password, ScryptParams::light(), rng);
}

TEST(Keystore, DecryptsEthersKeystores) {
    ASSERT_FALSE(ethers_keystores().empty());
    for (const auto& c : ethers_keystores()) {
        const std::string doc = json::serialize(c.at("keystore"));
        auto key = decrypt_keystore(doc, str(c.at("password")));
        ASSERT_TRUE(key) << describe(key.error());
        EXPECT_EQ(util::to_hex_prefixed(key->secret().view()), str(c.at("private_key")));
        EXPECT_EQ(key->address().to_string(), str(c.at("address")));
    }
}

TEST(Keystore, WrongPasswordIsAMacMismatch) {
    const auto& c = ethers_keystores().at(0);
    auto key = decrypt_keystore(json::serialize(c.at("keystore")), "not the password");
    EXPECT_EQ(key.error(), KeystoreError::mac_mismatch);
}

TEST(Keystore, EncryptDecryptRoundTripsWithFreshSaltAndIv) {
    SeededRng rng(3);
    const PrivateKey key = PrivateKey::generate(rng);
    const std::string a = light_keystore(key, "pw", 1);
    const std::string b = light_keystore(key, "pw", 2);
    EXPECT_NE(a, b);
    for (const auto& doc : {a, b}) {
        auto back = decrypt_keystore(doc, "pw");
        ASSERT_TRUE(back);
        EXPECT_EQ(back->address(), key.address());
        auto parsed = parse_keystore(doc);
        ASSERT_TRUE(parsed);
        EXPECT_EQ(std::get<ScryptParams>(parsed->kdf).n, 4096u);
        EXPECT_EQ(parsed->id.size(), 36u);
    }
}

TEST(Keystore, WritesGethLayout) {
    SeededRng rng(4);
    const PrivateKey key = PrivateKey::generate(rng);
    const json::value doc = json::parse(light_keystore(key, "pw"));
    EXPECT_EQ(doc.at("version").as_int64(), 3);
    EXPECT_EQ(str(doc.at("address")), util::to_hex(key.address().bytes));
    const auto& c = doc.at("crypto");
    EXPECT_EQ(str(c.at("cipher")), "aes-128-ctr");
    EXPECT_EQ(str(c.at("kdf")), "scrypt");
    EXPECT_EQ(c.at("kdfparams").at("dklen").as_int64(), 32);
    EXPECT_EQ(c.at("kdfparams").at("r").as_int64(), 8);
    EXPECT_EQ(c.at("kdfparams").at("p").as_int64(), 1);
}

TEST(Keystore, StandardParametersAreGeths) {
    constexpr ScryptParams p = ScryptParams::standard();
    EXPECT_EQ(p.n, 262144u);
    EXPECT_EQ(p.r, 8u);
    EXPECT_EQ(p.p, 1u);
}

json::value mutable_doc() {
    SeededRng rng(5);
    const PrivateKey key = PrivateKey::generate(rng);
    return json::parse(light_keystore(key, "pw"));
}

TEST(Keystore, TamperedMacOrCiphertextIsRejected) {
    json::value doc = mutable_doc();
    std::string mac = str(doc.at("crypto").at("mac"));
    mac[0] = mac[0] == '0' ? '1' : '0';
    doc.at("crypto").as_object()["mac"] = mac;
    EXPECT_EQ(decrypt_keystore(json::serialize(doc), "pw").error(), KeystoreError::mac_mismatch);

    doc = mutable_doc();
    std::string ct = str(doc.at("crypto").at("ciphertext"));
    ct[10] = ct[10] == '0' ? '1' : '0';
    doc.at("crypto").as_object()["ciphertext"] = ct;
    EXPECT_EQ(decrypt_keystore(json::serialize(doc), "pw").error(), KeystoreError::mac_mismatch);
}

TEST(Keystore, AddressFieldMustMatchTheKey) {
    json::value doc = mutable_doc();
    doc.as_object()["address"] = std::string(40, 'a');
    EXPECT_EQ(decrypt_keystore(json::serialize(doc), "pw").error(), KeystoreError::address_mismatch);
}

TEST(Keystore, MalformedDocumentsGiveClearErrors) {
    EXPECT_EQ(parse_keystore("").error(), KeystoreError::malformed_json);
    EXPECT_EQ(parse_keystore("{not json").error(), KeystoreError::malformed_json);
    EXPECT_EQ(parse_keystore("[]").error(), KeystoreError::malformed_json);
    EXPECT_EQ(parse_keystore(R"({"version": 3})").error(), KeystoreError::malformed_json);
    EXPECT_EQ(parse_keystore(std::string(keystore_max_bytes + 1, ' ')).error(), KeystoreError::too_large);

    json::value doc = mutable_doc();
    doc.as_object()["version"] = 4;
    EXPECT_EQ(parse_keystore(json::serialize(doc)).error(), KeystoreError::unsupported_version);

    doc = mutable_doc();
    doc.at("crypto").as_object()["cipher"] = "aes-256-gcm";
    EXPECT_EQ(parse_keystore(json::serialize(doc)).error(), KeystoreError::unsupported_cipher);

    doc = mutable_doc();
    doc.at("crypto").as_object()["kdf"] = "argon2";
    EXPECT_EQ(parse_keystore(json::serialize(doc)).error(), KeystoreError::unsupported_kdf);

    doc = mutable_doc();
    doc.at("crypto").as_object()["iv"] = 5;
    doc.at("crypto").at("cipherparams").as_object()["iv"] = "abc";
    EXPECT_EQ(parse_keystore(json::serialize(doc)).error(), KeystoreError::malformed_json);
}

TEST(Keystore, KdfParametersThatWouldExhaustMemoryOrTimeAreRefused) {
    for (std::uint64_t n : {0ull, 3ull, 1000ull, 1ull << 24}) {
        json::value doc = mutable_doc();
        doc.at("crypto").at("kdfparams").as_object()["n"] = n;
        EXPECT_EQ(parse_keystore(json::serialize(doc)).error(), KeystoreError::bad_kdf_params) << n;
    }
    json::value doc = mutable_doc();
    doc.at("crypto").at("kdfparams").as_object()["dklen"] = 16;
    EXPECT_EQ(parse_keystore(json::serialize(doc)).error(), KeystoreError::bad_kdf_params);

    json::value pb = mutable_doc();
    auto& crypto = pb.at("crypto").as_object();
    crypto["kdf"] = "pbkdf2";
    crypto["kdfparams"] = {{"c", 100000000}, {"dklen", 32}, {"prf", "hmac-sha256"}, {"salt", "00"}};
    EXPECT_EQ(parse_keystore(json::serialize(pb)).error(), KeystoreError::bad_kdf_params);
}

TEST(Keystore, ReadsPbkdf2Keystores) {
    // Build a pbkdf2 keystore by hand (ethers and geth can read these; conet writes scrypt).
    // Vector: the Web3 Secret Storage definition's PBKDF2-SHA-256 example.
    const std::string doc = R"({
      "crypto": {"cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                      "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},
      "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6", "version": 3})";
    auto key = decrypt_keystore(doc, "testpassword");
    ASSERT_TRUE(key) << describe(key.error());
    EXPECT_EQ(util::to_hex(key->secret().view()), "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d");
}

}  // namespace
}  // namespace conet::crypto
