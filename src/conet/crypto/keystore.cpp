#include "conet/crypto/keystore.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <boost/json.hpp>

#include "conet/util/assert.hpp"
#include "conet/util/hex.hpp"

namespace conet::crypto {

namespace json = boost::json;

namespace {

constexpr std::size_t derived_key_bytes = 32;
constexpr std::size_t salt_max_bytes = 1024;
constexpr std::size_t ciphertext_bytes = 32;

using util::unexpected;

template <class T>
using KsResult = util::Result<T, KeystoreError>;

KsResult<const json::object*> get_object(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_object()) return unexpected(KeystoreError::malformed_json);
    return &v->get_object();
}

KsResult<std::string_view> get_string(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_string()) return unexpected(KeystoreError::malformed_json);
    return std::string_view(v->get_string());
}

KsResult<std::uint64_t> get_uint(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (!v) return unexpected(KeystoreError::malformed_json);
    if (v->is_uint64()) return v->get_uint64();
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    return unexpected(KeystoreError::malformed_json);
}

KsResult<util::Bytes> get_hex(const json::object& o, std::string_view key, std::size_t max_bytes) {
    auto s = get_string(o, key);
    if (!s) return unexpected(s.error());
    if (s->size() > 2 * max_bytes + 2) return unexpected(KeystoreError::malformed_json);
    auto b = util::from_hex(*s);
    if (!b) return unexpected(KeystoreError::malformed_json);
    return std::move(*b);
}

template <std::size_t N>
KsResult<util::ByteArray<N>> get_hex_fixed(const json::object& o, std::string_view key) {
    auto b = get_hex(o, key, N);
    if (!b) return unexpected(b.error());
    if (b->size() != N) return unexpected(KeystoreError::malformed_json);
    util::ByteArray<N> out{};
    std::copy(b->begin(), b->end(), out.begin());
    return out;
}

bool valid_scrypt(const ScryptParams& s) {
    const bool power_of_two = s.n >= 2 && (s.n & (s.n - 1)) == 0;
    if (!power_of_two || s.r == 0 || s.p == 0 || s.p > scrypt_max_p) return false;
    if (s.n > scrypt_max_memory_bytes / 128 / s.r) return false;
    return true;
}

KsResult<std::variant<ScryptParams, Pbkdf2Params>> parse_kdf(const json::object& crypto, util::Bytes& salt) {
    auto kdf = get_string(crypto, "kdf");
    if (!kdf) return unexpected(kdf.error());
    auto params = get_object(crypto, "kdfparams");
    if (!params) return unexpected(params.error());
    const json::object& kp = **params;

    auto dklen = get_uint(kp, "dklen");
    if (!dklen) return unexpected(dklen.error());
    if (*dklen != derived_key_bytes) return unexpected(KeystoreError::bad_kdf_params);
    auto s = get_hex(kp, "salt", salt_max_bytes);
    if (!s) return unexpected(s.error());
    salt = std::move(*s);

    if (*kdf == "scrypt") {
        auto n = get_uint(kp, "n");
        auto r = get_uint(kp, "r");
        auto p = get_uint(kp, "p");
        if (!n || !r || !p) return unexpected(KeystoreError::malformed_json);
        if (*r > 0xffffffffu || *p > 0xffffffffu) return unexpected(KeystoreError::bad_kdf_params);
        ScryptParams sp{*n, static_cast<std::uint32_t>(*r), static_cast<std::uint32_t>(*p)};
        if (!valid_scrypt(sp)) return unexpected(KeystoreError::bad_kdf_params);
        return sp;
    }
    if (*kdf == "pbkdf2") {
        auto prf = get_string(kp, "prf");
        if (!prf) return unexpected(prf.error());
        if (*prf != "hmac-sha256") return unexpected(KeystoreError::unsupported_kdf);
        auto c = get_uint(kp, "c");
        if (!c) return unexpected(c.error());
        if (*c == 0 || *c > pbkdf2_max_iterations) return unexpected(KeystoreError::bad_kdf_params);
        return Pbkdf2Params{static_cast<std::uint32_t>(*c)};
    }
    return unexpected(KeystoreError::unsupported_kdf);
}

KsResult<Secret<derived_key_bytes>> derive(const std::variant<ScryptParams, Pbkdf2Params>& kdf,
                                           std::string_view password, util::ByteView salt) {
    Secret<derived_key_bytes> dk;
    if (const auto* s = std::get_if<ScryptParams>(&kdf)) {
        if (crypto_pwhash_scryptsalsa208sha256_ll(reinterpret_cast<const std::uint8_t*>(password.data()),
                                                  password.size(), salt.data(), salt.size(), s->n, s->r, s->p,
                                                  dk.data(), dk.size()) != 0)
            return unexpected(KeystoreError::kdf_failed);
        return dk;
    }
    const auto& pb = std::get<Pbkdf2Params>(kdf);
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(pb.c), EVP_sha256(),
                          static_cast<int>(dk.size()), dk.data()) != 1)
        return unexpected(KeystoreError::kdf_failed);
    return dk;
}

/// AES-128-CTR is its own inverse.
void aes128_ctr(util::ByteView key16, const util::ByteArray<16>& iv, util::ByteView in, std::uint8_t* out) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    CONET_ASSERT(ctx != nullptr);
    int len = 0;
    CONET_ASSERT(EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key16.data(), iv.data()) == 1);
    CONET_ASSERT(EVP_EncryptUpdate(ctx, out, &len, in.data(), static_cast<int>(in.size())) == 1);
    int tail = 0;
    CONET_ASSERT(EVP_EncryptFinal_ex(ctx, out + len, &tail) == 1);
    CONET_ASSERT(static_cast<std::size_t>(len + tail) == in.size());
    EVP_CIPHER_CTX_free(ctx);
}

util::ByteArray<32> compute_mac(const Secret<derived_key_bytes>& dk, util::ByteView ciphertext) {
    Keccak256 h;
    h.update(dk.view().subspan(16, 16)).update(ciphertext);
    return h.finish();
}

std::string make_uuid_v4(util::Rng& rng) {
    util::ByteArray<16> b{};
    rng.fill(b);
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
    const std::string h = util::to_hex(b);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace

std::string_view describe(KeystoreError e) {
    switch (e) {
        case KeystoreError::malformed_json: return "malformed keystore: not valid keystore v3 JSON";
        case KeystoreError::too_large: return "keystore file is too large";
        case KeystoreError::unsupported_version: return "unsupported keystore version (only version 3 is supported)";
        case KeystoreError::unsupported_cipher: return "unsupported keystore cipher (only aes-128-ctr is supported)";
        case KeystoreError::unsupported_kdf: return "unsupported keystore kdf (scrypt or pbkdf2 with hmac-sha256)";
        case KeystoreError::bad_kdf_params: return "keystore kdf parameters are out of the accepted range";
        case KeystoreError::mac_mismatch: return "MAC mismatch: wrong password, or the keystore file was altered";
        case KeystoreError::address_mismatch: return "keystore address does not match the decrypted key";
        case KeystoreError::bad_private_key: return "keystore holds an invalid private key";
        case KeystoreError::kdf_failed: return "key derivation failed (out of memory?)";
    }
    return "unknown keystore error";
}

util::Result<Keystore, KeystoreError> parse_keystore(std::string_view text) {
    if (text.size() > keystore_max_bytes) return unexpected(KeystoreError::too_large);
    boost::system::error_code ec;
    json::parse_options opts;
    opts.max_depth = 16;
    const json::value doc = json::parse(text, ec, {}, opts);
    if (ec || !doc.is_object()) return unexpected(KeystoreError::malformed_json);
    const json::object& root = doc.get_object();

    auto version = get_uint(root, "version");
    if (!version) return unexpected(version.error());
    if (*version != 3) return unexpected(KeystoreError::unsupported_version);

    // geth writes "crypto"; some older tools wrote "Crypto".
    auto crypto_obj = get_object(root, "crypto");
    if (!crypto_obj) crypto_obj = get_object(root, "Crypto");
    if (!crypto_obj) return unexpected(KeystoreError::malformed_json);
    const json::object& crypto = **crypto_obj;

    Keystore ks;
    if (const json::value* a = root.if_contains("address")) {
        if (!a->is_string()) return unexpected(KeystoreError::malformed_json);
        std::string_view s = a->get_string();
        if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
        auto raw = util::from_hex_fixed<20>(s);
        if (!raw) return unexpected(KeystoreError::malformed_json);
        ks.address = Address{*raw};
    }
    if (const json::value* id = root.if_contains("id"); id && id->is_string()) ks.id = std::string(id->get_string());

    auto cipher = get_string(crypto, "cipher");
    if (!cipher) return unexpected(cipher.error());
    if (*cipher != "aes-128-ctr") return unexpected(KeystoreError::unsupported_cipher);
    auto cparams = get_object(crypto, "cipherparams");
    if (!cparams) return unexpected(cparams.error());
    auto iv = get_hex_fixed<16>(**cparams, "iv");
    if (!iv) return unexpected(iv.error());
    ks.iv = *iv;

    auto ct = get_hex(crypto, "ciphertext", ciphertext_bytes);
    if (!ct) return unexpected(ct.error());
    if (ct->size() != ciphertext_bytes) return unexpected(KeystoreError::malformed_json);
    ks.ciphertext = std::move(*ct);

    auto mac = get_hex_fixed<32>(crypto, "mac");
    if (!mac) return unexpected(mac.error());
    ks.mac = *mac;

    auto kdf = parse_kdf(crypto, ks.salt);
    if (!kdf) return unexpected(kdf.error());
    ks.kdf = *kdf;
    return ks;
}

util::Result<PrivateKey, KeystoreError> decrypt_keystore(const Keystore& ks, std::string_view password) {
    auto dk = derive(ks.kdf, password, ks.salt);
    if (!dk) return unexpected(dk.error());
    const util::ByteArray<32> mac = compute_mac(*dk, ks.ciphertext);
    if (sodium_memcmp(mac.data(), ks.mac.data(), mac.size()) != 0) return unexpected(KeystoreError::mac_mismatch);

    Secret<32> plain;
    aes128_ctr(dk->view().first(16), ks.iv, ks.ciphertext, plain.data());
    auto key = PrivateKey::from_bytes(plain.view());
    if (!key) return unexpected(KeystoreError::bad_private_key);
    if (ks.address && key->address() != *ks.address) return unexpected(KeystoreError::address_mismatch);
    return std::move(*key);
}

util::Result<PrivateKey, KeystoreError> decrypt_keystore(std::string_view json_text, std::string_view password) {
    auto ks = parse_keystore(json_text);
    if (!ks) return unexpected(ks.error());
    return decrypt_keystore(*ks, password);
}

util::Result<std::string, KeystoreError> encrypt_keystore(const PrivateKey& key, std::string_view password,
                                                          const ScryptParams& params, util::Rng& rng) {
    if (!valid_scrypt(params)) return unexpected(KeystoreError::bad_kdf_params);
    util::ByteArray<32> salt{};
    util::ByteArray<16> iv{};
    rng.fill(salt);
    rng.fill(iv);
    auto dk = derive(params, password, salt);
    if (!dk) return unexpected(dk.error());

    util::Bytes ciphertext(ciphertext_bytes);
    aes128_ctr(dk->view().first(16), iv, key.secret().view(), ciphertext.data());
    const util::ByteArray<32> mac = compute_mac(*dk, ciphertext);

    json::object kdfparams;
    kdfparams["dklen"] = derived_key_bytes;
    kdfparams["n"] = params.n;
    kdfparams["p"] = params.p;
    kdfparams["r"] = params.r;
    kdfparams["salt"] = util::to_hex(salt);

    json::object crypto;
    crypto["cipher"] = "aes-128-ctr";
    crypto["cipherparams"] = json::object{{"iv", util::to_hex(iv)}};
    crypto["ciphertext"] = util::to_hex(ciphertext);
    crypto["kdf"] = "scrypt";
    crypto["kdfparams"] = std::move(kdfparams);
    crypto["mac"] = util::to_hex(mac);

    json::object root;
    root["address"] = util::to_hex(key.address().bytes);
    root["crypto"] = std::move(crypto);
    root["id"] = make_uuid_v4(rng);
    root["version"] = 3;
    return json::serialize(root) + "\n";
}

}  // namespace conet::crypto
