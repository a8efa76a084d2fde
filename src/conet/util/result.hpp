#pragma once
/// Expected failures are values: `Result<T, E>` over tl::expected, with one
/// `enum class` of error codes per module and a `describe()` for humans.

#include <tl/expected.hpp>

namespace conet::util {

template <class T, class E>
using Result = tl::expected<T, E>;

using tl::unexpected;

}  // namespace conet::util
