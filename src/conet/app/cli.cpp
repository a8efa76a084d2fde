#include "conet/app/cli.hpp"

#include <iostream>

namespace conet::app {

int fail(std::string_view message, int code) {
    std::cerr << "conet: error: " << message << "\n";
    return code;
}

void print_json(const boost::json::value& v) {
    std::cout << boost::json::serialize(v) << "\n";
}

}  // namespace conet::app
