#pragma once
/// Where a command gets a password: the first line of --password-file, or a
/// prompt on the controlling terminal with echo off.

#include <optional>
#include <string>

#include "conet/util/result.hpp"

namespace conet::app {

enum class Confirm { no, yes };

/// Returns the password or a human-readable error.
util::Result<std::string, std::string> obtain_password(const std::optional<std::string>& password_file,
                                                       const std::string& prompt, Confirm confirm);

}  // namespace conet::app
