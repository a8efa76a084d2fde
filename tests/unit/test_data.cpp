#include "test_data.hpp"

#include <gtest/gtest.h>

#include "conet/util/assert.hpp"
#include "conet/util/file.hpp"
#include "conet/util/hex.hpp"

namespace conet::test {

std::string read_data_file(const std::string& relative_path) {
    auto text = util::read_file(std::string(CONET_TEST_DATA_DIR) + "/" + relative_path, 64u << 20);
    CONET_ASSERT_MSG(text.has_value(), relative_path.c_str());
    return *text;
}

boost::json::value read_json(const std::string& relative_path) {
    return boost::json::parse(read_data_file(relative_path));
}

util::Bytes hex(std::string_view text) {
    auto b = util::from_hex(text);
    CONET_ASSERT(b.has_value());
    return *b;
}

}  // namespace conet::test
