#include "conet/util/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace conet::util::detail {

void assertion_failed(const char* expr, const char* msg, const char* file, int line) {
    std::fprintf(stderr, "conet: assertion failed: %s%s%s at %s:%d\n", expr, msg ? ": " : "", msg ? msg : "", file,
                 line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace conet::util::detail
