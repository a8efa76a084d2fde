#pragma once
/// Ethereum keystore v3 (Web3 Secret Storage): the JSON file geth, MetaMask
/// and ethers use for an encrypted private key.
///   derived = scrypt(password, salt, n, r, p, 32)  or  pbkdf2-hmac-sha256(password, salt, c, 32)
///   mac     = keccak256(derived[16..32] || ciphertext)
///   key     = aes-128-ctr(derived[0..16], iv) ^ ciphertext
/// Reading accepts scrypt and pbkdf2; writing uses scrypt. Pure functions:
/// the caller does the file I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "conet/crypto/keys.hpp"

namespace conet::crypto {

enum class KeystoreError {
    malformed_json,       ///< not JSON, or a required field missing / of the wrong type
    too_large,            ///< the document exceeds keystore_max_bytes
    unsupported_version,  ///< "version" is not 3
    unsupported_cipher,   ///< cipher other than aes-128-ctr
    unsupported_kdf,      ///< kdf other than scrypt / pbkdf2 (hmac-sha256)
    bad_kdf_params,       ///< parameters outside the accepted limits
    mac_mismatch,         ///< wrong password, or the file was altered
    address_mismatch,     ///< the decrypted key does not match the "address" field
    bad_private_key,      ///< the decrypted bytes are not a valid secp256k1 key
    kdf_failed,           ///< the KDF itself failed (e.g. out of memory)
};
std::string_view describe(KeystoreError e);

/// Limits on what a keystore file may ask of us.
inline constexpr std::size_t keystore_max_bytes = 64 * 1024;
inline constexpr std::uint64_t scrypt_max_memory_bytes = 1ull << 30;  // 128 * n * r
inline constexpr std::uint32_t scrypt_max_p = 16;
inline constexpr std::uint32_t pbkdf2_max_iterations = 10'000'000;

struct ScryptParams {
    std::uint64_t n = 262144;  ///< geth's "standard" parameters
    std::uint32_t r = 8;
    std::uint32_t p = 1;

    static constexpr ScryptParams standard() { return {}; }
    /// geth's "light" parameters: fast, for tests and throwaway keys only.
    static constexpr ScryptParams light() { return {4096, 8, 1}; }
};

struct Pbkdf2Params {
    std::uint32_t c = 262144;  ///< iterations of HMAC-SHA256
};

/// A parsed, validated keystore document (still encrypted).
struct Keystore {
    std::optional<Address> address;
    std::string id;
    std::variant<ScryptParams, Pbkdf2Params> kdf;
    util::Bytes salt;
    util::ByteArray<16> iv{};
    util::Bytes ciphertext;
    util::ByteArray<32> mac{};
};

[[nodiscard]] util::Result<Keystore, KeystoreError> parse_keystore(std::string_view json);

[[nodiscard]] util::Result<PrivateKey, KeystoreError> decrypt_keystore(const Keystore& ks, std::string_view password);

/// Parse and decrypt in one step.
[[nodiscard]] util::Result<PrivateKey, KeystoreError> decrypt_keystore(std::string_view json,
                                                                       std::string_view password);

/// Encrypts `key` into a keystore v3 JSON document (scrypt, fresh salt, IV and id).
[[nodiscard]] util::Result<std::string, KeystoreError> encrypt_keystore(const PrivateKey& key,
                                                                        std::string_view password,
                                                                        const ScryptParams& params, util::Rng& rng);

}  // namespace conet::crypto
