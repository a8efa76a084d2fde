#pragma once
/// Opening a keystore from the command line: read, parse, ask for the password, decrypt.

#include <optional>
#include <string>

#include "conet/crypto/keys.hpp"

namespace conet::app {

util::Result<crypto::PrivateKey, std::string> unlock_keystore(const std::string& keystore,
                                                              const std::optional<std::string>& password_file);

}  // namespace conet::app
