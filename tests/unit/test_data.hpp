#pragma once
// Access to the repository's test vectors (tests/data).

#include <string>

#include <boost/json.hpp>

#include "conet/util/bytes.hpp"

namespace conet::test {

std::string read_data_file(const std::string& relative_path);
boost::json::value read_json(const std::string& relative_path);
util::Bytes hex(std::string_view text);  ///< aborts the test binary on bad hex: test data is trusted

}  // namespace conet::test
