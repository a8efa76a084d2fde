#include "conet/app/unlock.hpp"

#include "conet/app/password.hpp"
#include "conet/app/progress.hpp"
#include "conet/crypto/keystore.hpp"
#include "conet/util/file.hpp"

namespace conet::app {

util::Result<crypto::PrivateKey, std::string> unlock_keystore(const std::string& keystore,
                                                              const std::optional<std::string>& password_file) {
    auto text = util::read_file(keystore, crypto::keystore_max_bytes);
    if (!text) {
        if (text.error().code == util::FileErrorCode::too_large)
            return util::unexpected(std::string(describe(crypto::KeystoreError::too_large)));
        return util::unexpected("cannot read keystore: " + text.error().message() +
                                (text.error().code == util::FileErrorCode::not_found
                                     ? " (create a wallet with `conet wallet new --keystore FILE`)"
                                     : ""));
    }
    // Parse before asking for a password, so a broken file fails fast.
    auto ks = crypto::parse_keystore(*text);
    if (!ks) return util::unexpected(keystore + ": " + std::string(describe(ks.error())));
    auto password = obtain_password(password_file, "Keystore password: ", Confirm::no);
    if (!password) return util::unexpected(password.error());
    auto key = with_progress("unlocking the wallet (scrypt)", [&] { return crypto::decrypt_keystore(*ks, *password); });
    if (!key) return util::unexpected(keystore + ": " + std::string(describe(key.error())));
    return std::move(*key);
}

}  // namespace conet::app
